-- +goose Up
-- pow_challenges are the redeemed proof-of-work challenges (ALTCHA) of the
-- SMS step, kept until they expire so that none is redeemed twice (issuing
-- stores nothing: a challenge is self-verifying). id is the SHA-256
-- (hex) of the challenge string, never the secret number; holder is a keyed
-- hash (HMAC, hex) of the login that asked, so that a challenge solved for
-- one login cannot be redeemed for another. The primary key refuses a
-- second redemption; the clean-up deletes expired rows in batches through the
-- expiry index.
CREATE TABLE pow_challenges (
  id         CHAR(64)    NOT NULL PRIMARY KEY,
  holder     CHAR(64)    NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  KEY pow_challenges_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE pow_challenges;
