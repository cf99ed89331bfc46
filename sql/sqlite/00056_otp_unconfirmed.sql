-- +goose Up
-- A code remembers the counter window of its send in the address's count of
-- unconfirmed codes (otp limit ip_unconfirmed), so entering it gives that
-- send back: people behind one NAT confirm their codes, an SMS pump cannot.
-- confirm_sends counts the login's sends to this number in that window (a
-- resend replaces the row, not the count).
ALTER TABLE otp_codes ADD COLUMN confirm_key TEXT NULL;
ALTER TABLE otp_codes ADD COLUMN confirm_ends DATETIME NULL;
ALTER TABLE otp_codes ADD COLUMN confirm_sends INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE otp_codes DROP COLUMN confirm_sends;
ALTER TABLE otp_codes DROP COLUMN confirm_ends;
ALTER TABLE otp_codes DROP COLUMN confirm_key;
