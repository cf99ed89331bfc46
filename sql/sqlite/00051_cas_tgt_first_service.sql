-- +goose Up
-- A session's first service, the one of the login that started the session,
-- is recorded for single logout in the session's own row, by the INSERT that
-- creates the session, so that a new login writes two rows instead of three;
-- later services still get a cas_tgt_services row each (see the MySQL
-- migration of the same number). NULL when the session started without a
-- service to log out and in rows written before this migration, whose
-- services are all in cas_tgt_services.
ALTER TABLE cas_tgt ADD COLUMN first_st_id TEXT NULL;
ALTER TABLE cas_tgt ADD COLUMN first_service_id TEXT NULL;
ALTER TABLE cas_tgt ADD COLUMN first_service_url TEXT NULL;
ALTER TABLE cas_tgt ADD COLUMN first_logout_url TEXT NULL;

-- +goose Down
-- Live sessions lose their first service: it is not logged out when they end.
ALTER TABLE cas_tgt DROP COLUMN first_logout_url;
ALTER TABLE cas_tgt DROP COLUMN first_service_url;
ALTER TABLE cas_tgt DROP COLUMN first_service_id;
ALTER TABLE cas_tgt DROP COLUMN first_st_id;
