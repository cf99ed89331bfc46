-- +goose Up
-- A service or proxy ticket carries what validating it answers from the SSO
-- session (principal, attributes, authentication time), copied from the TGT
-- at issue, so that validation is one DELETE ... RETURNING (see the MySQL
-- migration of the same number). NULL in rows written before this migration:
-- the validator reads the TGT for those.
ALTER TABLE cas_tickets ADD COLUMN principal_id TEXT NULL;
ALTER TABLE cas_tickets ADD COLUMN attributes TEXT NULL;
ALTER TABLE cas_tickets ADD COLUMN authenticated_at DATETIME NULL;

-- +goose Down
ALTER TABLE cas_tickets DROP COLUMN authenticated_at;
ALTER TABLE cas_tickets DROP COLUMN attributes;
ALTER TABLE cas_tickets DROP COLUMN principal_id;
