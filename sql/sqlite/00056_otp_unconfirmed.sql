-- +goose Up
-- A code remembers the counter window of its send in the address's count of
-- unconfirmed codes (otp limit ip_unconfirmed), so entering it gives that
-- send back: people behind one NAT confirm their codes, an SMS pump cannot.
ALTER TABLE otp_codes ADD COLUMN confirm_key TEXT NULL;
ALTER TABLE otp_codes ADD COLUMN confirm_ends DATETIME NULL;

-- +goose Down
ALTER TABLE otp_codes DROP COLUMN confirm_ends;
ALTER TABLE otp_codes DROP COLUMN confirm_key;
