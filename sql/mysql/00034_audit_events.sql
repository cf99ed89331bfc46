-- +goose Up
-- audit_events records every bind, unbind, login and refusal: when, who,
-- which WeChat identity, through which channel, from where, and the outcome
-- (ok or a stable reason). Phone numbers are stored masked only. Rows are
-- append-only; old ones are removed by the retention cleanup.
CREATE TABLE audit_events (
  id         BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at         DATETIME(6)   NOT NULL,
  kind       VARCHAR(16)   NOT NULL,
  outcome    VARCHAR(32)   NOT NULL,
  user_id    VARCHAR(128)  NOT NULL DEFAULT '',
  appid      VARCHAR(64)   NOT NULL DEFAULT '',
  openid     VARCHAR(128)  NOT NULL DEFAULT '',
  unionid    VARCHAR(128)  NOT NULL DEFAULT '',
  channel    VARCHAR(32)   NOT NULL DEFAULT '',
  client_ip  VARCHAR(64)   NOT NULL DEFAULT '',
  service    VARCHAR(1024) NOT NULL DEFAULT '',
  request_id VARCHAR(64)   NOT NULL DEFAULT '',
  phone      VARCHAR(32)   NOT NULL DEFAULT '',
  KEY audit_events_at (at),
  KEY audit_events_user (user_id, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE audit_events;
