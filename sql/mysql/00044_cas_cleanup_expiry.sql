-- +goose Up
-- The clean-up removes every CAS row through an index on its own expiry, in
-- small batches, instead of looking for rows whose session is gone (a
-- NOT IN over the whole table that held locks for tens of seconds once the
-- tables were large). PGTs and service records live as long as their
-- session: expires_at is the session's hard expiry, copied in when the row
-- is written. Existing rows take their session's expiry; rows whose session
-- is already gone keep 1970 and go at the first clean-up.
ALTER TABLE cas_pgt
  ADD COLUMN expires_at DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:00',
  ADD KEY cas_pgt_expires_at (expires_at);
ALTER TABLE cas_tgt_services
  ADD COLUMN expires_at DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:00',
  ADD KEY cas_tgt_services_expires_at (expires_at);
UPDATE cas_pgt p JOIN cas_tgt t ON t.id_hash = p.tgt_hash SET p.expires_at = t.expires_at;
UPDATE cas_tgt_services s JOIN cas_tgt t ON t.id_hash = s.tgt_hash SET s.expires_at = t.expires_at;
-- The default only served the rows above: new rows must say when they end.
ALTER TABLE cas_pgt ALTER COLUMN expires_at DROP DEFAULT;
ALTER TABLE cas_tgt_services ALTER COLUMN expires_at DROP DEFAULT;

-- +goose Down
ALTER TABLE cas_tgt_services DROP KEY cas_tgt_services_expires_at, DROP COLUMN expires_at;
ALTER TABLE cas_pgt DROP KEY cas_pgt_expires_at, DROP COLUMN expires_at;
