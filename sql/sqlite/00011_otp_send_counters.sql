-- +goose Up
-- otp_send_counters counts SMS sends per limit and subject (for example
-- "phone_hour:+8613800138000", "ip_hour:192.0.2.1", "global_day") in a window
-- that opens with the first send and ends at window_ends_at. Every instance
-- counts here, so limits hold across instances.
CREATE TABLE otp_send_counters (
  counter_key    TEXT     NOT NULL PRIMARY KEY,
  used           INTEGER  NOT NULL,
  window_ends_at DATETIME NOT NULL
);
CREATE INDEX otp_send_counters_window_ends_at ON otp_send_counters (window_ends_at);

-- +goose Down
DROP TABLE otp_send_counters;
