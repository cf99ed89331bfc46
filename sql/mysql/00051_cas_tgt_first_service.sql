-- +goose Up
-- A session's first service, the one of the login that started the session,
-- is recorded for single logout in the session's own row, by the INSERT that
-- creates the session, rather than in a cas_tgt_services row of its own: a
-- new login writes two rows (the TGT and its ST) instead of three. Each later
-- service of the session (single sign-on) still gets a cas_tgt_services row.
-- The columns mean what the cas_tgt_services columns of the same names mean;
-- the row's first service was recorded before any of those rows, so it is
-- logged out first.
--
-- They are NULL when the session started without a service to log out (a
-- login without a service or for a service with logout_type none, an API
-- client's session), and in rows written before this migration (or by an
-- instance of the previous release during a rolling upgrade, whose INSERT
-- names only the old columns): all of such a session's services are in
-- cas_tgt_services, as before. The other way round, an instance of the
-- previous release does not read these columns: a session started by this
-- release and ended by an old instance does not log its first service out.
--
-- Nullable columns added at the end: an instant ALTER on MariaDB 10.3+ and
-- MySQL 8.0.12+, however many sessions the table holds.
ALTER TABLE cas_tgt
  ADD COLUMN first_st_id       VARCHAR(64) NULL,
  ADD COLUMN first_service_id  VARCHAR(64) NULL,
  ADD COLUMN first_service_url TEXT        NULL,
  ADD COLUMN first_logout_url  TEXT        NULL;

-- +goose Down
-- Live sessions lose their first service: it is not logged out when they end.
ALTER TABLE cas_tgt
  DROP COLUMN first_st_id,
  DROP COLUMN first_service_id,
  DROP COLUMN first_service_url,
  DROP COLUMN first_logout_url;
