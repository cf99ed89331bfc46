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
  id         TEXT     NOT NULL PRIMARY KEY,
  holder     TEXT     NOT NULL,
  expires_at DATETIME NOT NULL,
  created_at DATETIME NOT NULL
);
CREATE INDEX pow_challenges_expires ON pow_challenges (expires_at);

-- +goose Down
DROP TABLE pow_challenges;
