-- +goose Up
-- cas_tgt holds CAS SSO sessions (ticket-granting tickets). The TGT id is a
-- bearer credential living for hours, so only its SHA-256 (hex) is stored:
-- a copy of the database cannot be replayed as a session cookie.
-- expires_at is the hard expiry, idle_expires_at = last_used_at + idle timeout.
CREATE TABLE cas_tgt (
  id_hash          TEXT     NOT NULL PRIMARY KEY,
  principal_id     TEXT     NOT NULL,
  attributes       TEXT     NOT NULL,
  authenticated_at DATETIME NOT NULL,
  created_at       DATETIME NOT NULL,
  last_used_at     DATETIME NOT NULL,
  expires_at       DATETIME NOT NULL,
  idle_expires_at  DATETIME NOT NULL
);
CREATE INDEX cas_tgt_expires_at ON cas_tgt (expires_at);
CREATE INDEX cas_tgt_idle_expires_at ON cas_tgt (idle_expires_at);

-- +goose Down
DROP TABLE cas_tgt;
