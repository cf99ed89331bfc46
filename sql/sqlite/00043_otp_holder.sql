-- +goose Up
-- A code belongs to the login that asked for it, not just to the phone
-- (issue 11): holder, a keyed hash of the login flow's or API bind chain's id
-- (never the raw id), joins the row key. Each login then has its own code and
-- its own attempt counter for a phone, so one login can neither use nor burn
-- a code sent for another. Codes live minutes, so the table is simply
-- recreated: pending codes are dropped and those logins send a new code.
DROP TABLE otp_codes;
CREATE TABLE otp_codes (
  holder       TEXT     NOT NULL,
  phone        TEXT     NOT NULL,
  purpose      TEXT     NOT NULL,
  issue_id     INTEGER  NOT NULL,
  code_hash    TEXT     NOT NULL,
  attempts     INTEGER  NOT NULL DEFAULT 0,
  max_attempts INTEGER  NOT NULL,
  created_at   DATETIME NOT NULL,
  expires_at   DATETIME NOT NULL,
  verified_at  DATETIME NULL,
  PRIMARY KEY (holder, phone, purpose)
);
CREATE INDEX otp_codes_expires_at ON otp_codes (expires_at);

-- +goose Down
DROP TABLE otp_codes;
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
