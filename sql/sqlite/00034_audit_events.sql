-- +goose Up
-- audit_events records every bind, unbind, login and refusal: when, who,
-- which WeChat identity, through which channel, from where, and the outcome
-- (ok or a stable reason). Phone numbers are stored masked only. Rows are
-- append-only; old ones are removed by the retention cleanup.
CREATE TABLE audit_events (
  id         INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
  at         DATETIME NOT NULL,
  kind       TEXT     NOT NULL,
  outcome    TEXT     NOT NULL,
  user_id    TEXT     NOT NULL DEFAULT '',
  appid      TEXT     NOT NULL DEFAULT '',
  openid     TEXT     NOT NULL DEFAULT '',
  unionid    TEXT     NOT NULL DEFAULT '',
  channel    TEXT     NOT NULL DEFAULT '',
  client_ip  TEXT     NOT NULL DEFAULT '',
  service    TEXT     NOT NULL DEFAULT '',
  request_id TEXT     NOT NULL DEFAULT '',
  phone      TEXT     NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user ON audit_events (user_id, at);

-- +goose Down
DROP TABLE audit_events;
