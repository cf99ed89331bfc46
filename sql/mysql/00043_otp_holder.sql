-- +goose Up
-- A code belongs to the login that asked for it, not just to the phone
-- (issue 11): holder, a keyed hash of the login flow's or API bind chain's id
-- (never the raw id), joins the row key. Each login then has its own code and
-- its own attempt counter for a phone, so one login can neither use nor burn
-- a code sent for another. Codes live minutes, so the table is simply
-- recreated: pending codes are dropped and those logins send a new code.
DROP TABLE otp_codes;
CREATE TABLE otp_codes (
  holder       CHAR(64)    NOT NULL,
  phone        VARCHAR(20) NOT NULL,
  purpose      VARCHAR(32) NOT NULL,
  issue_id     BIGINT      NOT NULL,
  code_hash    CHAR(64)    NOT NULL,
  attempts     INT         NOT NULL DEFAULT 0,
  max_attempts INT         NOT NULL,
  created_at   DATETIME(6) NOT NULL,
  expires_at   DATETIME(6) NOT NULL,
  verified_at  DATETIME(6) NULL,
  PRIMARY KEY (holder, phone, purpose),
  KEY otp_codes_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE otp_codes;
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
