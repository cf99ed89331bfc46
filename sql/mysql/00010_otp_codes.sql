-- +goose Up
-- otp_codes holds at most one pending SMS code per phone and purpose: issuing a
-- new code replaces the row, which is how a new code supersedes the old one.
-- The code itself is never stored, only HMAC-SHA256(key, purpose|phone|code).
-- issue_id tells one issuance from the next, so an attempt or a verification
-- aimed at a replaced code cannot touch its successor.
CREATE TABLE otp_codes (
  phone        VARCHAR(20) NOT NULL,
  purpose      VARCHAR(32) NOT NULL,
  issue_id     BIGINT      NOT NULL,
  code_hash    CHAR(64)    NOT NULL,
  attempts     INT         NOT NULL DEFAULT 0,
  max_attempts INT         NOT NULL,
  created_at   DATETIME(6) NOT NULL,
  expires_at   DATETIME(6) NOT NULL,
  verified_at  DATETIME(6) NULL,
  PRIMARY KEY (phone, purpose),
  KEY otp_codes_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE otp_codes;
