-- +goose Up
-- The operator's tools (wxcas users, wxcas audit, the admin console and the
-- account page) find people and read the audit log in ways logins never do;
-- see the MySQL migration of the same number.
CREATE INDEX wechat_accounts_openid ON wechat_accounts (openid);

-- Who acted when it was not the person themself ("admin:<principal>",
-- "cli:<os user>"; empty for the person), and the reason they gave.
ALTER TABLE audit_events ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN detail TEXT NOT NULL DEFAULT '';

-- List's selective filters, in its order (newest first by time).
CREATE INDEX audit_events_kind ON audit_events (kind, at);
CREATE INDEX audit_events_phone ON audit_events (phone, at);

-- +goose Down
DROP INDEX audit_events_phone;
DROP INDEX audit_events_kind;
ALTER TABLE audit_events DROP COLUMN detail;
ALTER TABLE audit_events DROP COLUMN actor;
DROP INDEX wechat_accounts_openid;
