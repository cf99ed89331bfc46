-- +goose Up
-- The clean-up removes every CAS row through an index on its own expiry, in
-- small batches, instead of looking for rows whose session is gone (a
-- NOT IN over the whole table). PGTs and service records live as long as
-- their session: expires_at is the session's hard expiry, copied in when the
-- row is written. Existing rows take their session's expiry; rows whose
-- session is already gone keep 1970 and go at the first clean-up. (SQLite
-- cannot drop a column default; the store always writes expires_at.)
ALTER TABLE cas_pgt ADD COLUMN expires_at DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00';
ALTER TABLE cas_tgt_services ADD COLUMN expires_at DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE cas_pgt SET expires_at = (SELECT t.expires_at FROM cas_tgt t WHERE t.id_hash = cas_pgt.tgt_hash)
  WHERE tgt_hash IN (SELECT id_hash FROM cas_tgt);
UPDATE cas_tgt_services SET expires_at = (SELECT t.expires_at FROM cas_tgt t WHERE t.id_hash = cas_tgt_services.tgt_hash)
  WHERE tgt_hash IN (SELECT id_hash FROM cas_tgt);
CREATE INDEX cas_pgt_expires_at ON cas_pgt (expires_at);
CREATE INDEX cas_tgt_services_expires_at ON cas_tgt_services (expires_at);

-- +goose Down
DROP INDEX cas_tgt_services_expires_at;
DROP INDEX cas_pgt_expires_at;
ALTER TABLE cas_tgt_services DROP COLUMN expires_at;
ALTER TABLE cas_pgt DROP COLUMN expires_at;
