-- +goose Up
-- login_flows is one browser login in progress: from /cas/login to the
-- redirect back to the service. Bound to the browser by a signed cookie
-- holding id and a nonce (browser_hash = HMAC of the nonce); the WeChat state
-- is stored only as a hash and can be used once.
CREATE TABLE login_flows (
  id           VARCHAR(64)   NOT NULL PRIMARY KEY,
  browser_hash VARCHAR(64)   NOT NULL,
  step         VARCHAR(32)   NOT NULL,
  channel      VARCHAR(32)   NOT NULL DEFAULT '',
  request      TEXT          NOT NULL,
  state_hash   VARCHAR(64)   NOT NULL DEFAULT '',
  state_used   TINYINT(1)    NOT NULL DEFAULT 0,
  appid        VARCHAR(64)   NOT NULL DEFAULT '',
  openid       VARCHAR(128)  NOT NULL DEFAULT '',
  unionid      VARCHAR(128)  NOT NULL DEFAULT '',
  nickname     VARCHAR(255)  NOT NULL DEFAULT '',
  avatar_url   VARCHAR(1024) NOT NULL DEFAULT '',
  phone        VARCHAR(32)   NOT NULL DEFAULT '',
  version      INT           NOT NULL DEFAULT 0,
  created_at   DATETIME(6)   NOT NULL,
  expires_at   DATETIME(6)   NOT NULL,
  KEY login_flows_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE login_flows;
