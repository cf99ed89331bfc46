-- +goose Up
-- wechat_app_tokens caches each app's app-level access token (stable_token)
-- for every instance: one fetch serves all until the token nears expiry.
-- The instance that refreshes holds a short lease (lease_owner until
-- lease_until) so the others wait for its result instead of fetching too.
-- forced_at records the last force_refresh (WeChat allows one per 30 s).
-- WeChat asks to reserve at least 512 characters for the token.
CREATE TABLE wechat_app_tokens (
  appid        TEXT     NOT NULL PRIMARY KEY,
  access_token TEXT     NOT NULL DEFAULT '',
  expires_at   DATETIME NULL,
  lease_owner  TEXT     NOT NULL DEFAULT '',
  lease_until  DATETIME NULL,
  forced_at    DATETIME NULL,
  updated_at   DATETIME NOT NULL
);

-- +goose Down
DROP TABLE wechat_app_tokens;
