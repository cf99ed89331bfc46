-- +goose Up
-- wechat_app_tokens caches each app's app-level access token (stable_token)
-- for every instance: one fetch serves all until the token nears expiry.
-- The instance that refreshes holds a short lease (lease_owner until
-- lease_until) so the others wait for its result instead of fetching too.
-- forced_at records the last force_refresh (WeChat allows one per 30 s).
-- WeChat asks to reserve at least 512 characters for the token.
CREATE TABLE wechat_app_tokens (
  appid        VARCHAR(64)   NOT NULL PRIMARY KEY,
  access_token VARCHAR(2048) NOT NULL DEFAULT '',
  expires_at   DATETIME(6)   NULL,
  lease_owner  VARCHAR(64)   NOT NULL DEFAULT '',
  lease_until  DATETIME(6)   NULL,
  forced_at    DATETIME(6)   NULL,
  updated_at   DATETIME(6)   NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE wechat_app_tokens;
