-- +goose Up
-- The operator's tools (wxcas users, wxcas audit, the admin console and the
-- account page) find people and read the audit log in ways logins never do.
--
-- wechat_accounts by openid alone: `wxcas users find --openid` does not know
-- the app.
CREATE INDEX wechat_accounts_openid ON wechat_accounts (openid);

-- Who acted when it was not the person themself ("admin:<principal>",
-- "cli:<os user>"; empty for the person), and the reason they gave (free
-- text, at most 256 characters). Columns with a default added at the end:
-- an instant ALTER on MariaDB 10.3+ and MySQL 8.0.12+.
ALTER TABLE audit_events
  ADD COLUMN actor  VARCHAR(160) NOT NULL DEFAULT '',
  ADD COLUMN detail VARCHAR(256) NOT NULL DEFAULT '';

-- List is newest first (at, then id) and bounded by time; these indexes
-- serve its selective filters in that order, so that a rare kind (unbind,
-- admin) or one person's masked phone is found without walking every login
-- of the period. (The other filters, outcome, channel, service and actor,
-- ride audit_events_at: bound them by time.) Built online (InnoDB adds a
-- secondary index without blocking inserts).
CREATE INDEX audit_events_kind ON audit_events (kind, at);
CREATE INDEX audit_events_phone ON audit_events (phone, at);

-- +goose Down
DROP INDEX audit_events_phone ON audit_events;
DROP INDEX audit_events_kind ON audit_events;
ALTER TABLE audit_events DROP COLUMN detail, DROP COLUMN actor;
DROP INDEX wechat_accounts_openid ON wechat_accounts;
