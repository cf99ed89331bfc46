-- +goose Up
-- otp_codes holds at most one pending SMS code per phone and purpose: issuing a
-- new code replaces the row, which is how a new code supersedes the old one.
-- The code itself is never stored, only HMAC-SHA256(key, purpose|phone|code).
-- issue_id tells one issuance from the next, so an attempt or a verification
-- aimed at a replaced code cannot touch its successor.
CREATE TABLE otp_codes (
  phone        TEXT     NOT NULL,
  purpose      TEXT     NOT NULL,
  issue_id     INTEGER  NOT NULL,
  code_hash    TEXT     NOT NULL,
  attempts     INTEGER  NOT NULL DEFAULT 0,
  max_attempts INTEGER  NOT NULL,
  created_at   DATETIME NOT NULL,
  expires_at   DATETIME NOT NULL,
  verified_at  DATETIME NULL,
  PRIMARY KEY (phone, purpose)
);
CREATE INDEX otp_codes_expires_at ON otp_codes (expires_at);

-- +goose Down
DROP TABLE otp_codes;
