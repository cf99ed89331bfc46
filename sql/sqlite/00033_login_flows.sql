-- +goose Up
-- login_flows is one browser login in progress: from /cas/login to the
-- redirect back to the service. Bound to the browser by a signed cookie
-- holding id and a nonce (browser_hash = HMAC of the nonce); the WeChat state
-- is stored only as a hash and can be used once.
CREATE TABLE login_flows (
  id           TEXT     NOT NULL PRIMARY KEY,
  browser_hash TEXT     NOT NULL,
  step         TEXT     NOT NULL,
  channel      TEXT     NOT NULL DEFAULT '',
  request      TEXT     NOT NULL,
  state_hash   TEXT     NOT NULL DEFAULT '',
  state_used   INTEGER  NOT NULL DEFAULT 0,
  appid        TEXT     NOT NULL DEFAULT '',
  openid       TEXT     NOT NULL DEFAULT '',
  unionid      TEXT     NOT NULL DEFAULT '',
  nickname     TEXT     NOT NULL DEFAULT '',
  avatar_url   TEXT     NOT NULL DEFAULT '',
  phone        TEXT     NOT NULL DEFAULT '',
  version      INTEGER  NOT NULL DEFAULT 0,
  created_at   DATETIME NOT NULL,
  expires_at   DATETIME NOT NULL
);
CREATE INDEX login_flows_expires ON login_flows (expires_at);

-- +goose Down
DROP TABLE login_flows;
