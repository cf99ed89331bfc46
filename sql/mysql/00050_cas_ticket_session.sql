-- +goose Up
-- A service or proxy ticket carries what validating it answers from the SSO
-- session: the principal, its attributes and when it authenticated, copied
-- from the TGT when the ticket is issued. Validation then reads and uses up
-- the ticket row in one statement (DELETE ... RETURNING on MariaDB) instead
-- of also reading the TGT. That the session is still alive follows from the
-- ticket row itself: ending a session deletes its tickets (by tgt_hash, index
-- cas_tickets_tgt), and a ticket's expires_at is never later than its
-- session's hard and idle expiry.
--
-- The columns are NULL in rows written before this migration (and by an
-- instance of the previous release during a rolling upgrade, whose INSERT
-- names only the old columns): the validator reads the TGT for those, as it
-- always did. Tickets live seconds, so the table is small and the ALTER is
-- quick.
ALTER TABLE cas_tickets
  ADD COLUMN principal_id     VARCHAR(255) NULL,
  ADD COLUMN attributes       MEDIUMTEXT   NULL,
  ADD COLUMN authenticated_at DATETIME(6)  NULL;

-- +goose Down
ALTER TABLE cas_tickets DROP COLUMN principal_id, DROP COLUMN attributes, DROP COLUMN authenticated_at;
