-- +goose Up
-- cas_tgt holds CAS SSO sessions (ticket-granting tickets). The TGT id is a
-- bearer credential living for hours, so only its SHA-256 (hex) is stored:
-- a copy of the database cannot be replayed as a session cookie.
-- expires_at is the hard expiry, idle_expires_at = last_used_at + idle timeout.
CREATE TABLE cas_tgt (
  id_hash          CHAR(64)     NOT NULL PRIMARY KEY,
  principal_id     VARCHAR(255) NOT NULL,
  attributes       MEDIUMTEXT   NOT NULL,
  authenticated_at DATETIME(6)  NOT NULL,
  created_at       DATETIME(6)  NOT NULL,
  last_used_at     DATETIME(6)  NOT NULL,
  expires_at       DATETIME(6)  NOT NULL,
  idle_expires_at  DATETIME(6)  NOT NULL,
  KEY cas_tgt_expires_at (expires_at),
  KEY cas_tgt_idle_expires_at (idle_expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE cas_tgt;
