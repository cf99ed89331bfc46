-- +goose Up
-- otp_send_counters counts SMS sends per limit and subject (for example
-- "phone_hour:+8613800138000", "ip_hour:192.0.2.1", "global_day") in a window
-- that opens with the first send and ends at window_ends_at. Every instance
-- counts here, so limits hold across instances.
CREATE TABLE otp_send_counters (
  counter_key    VARCHAR(191) NOT NULL PRIMARY KEY,
  used           INT          NOT NULL,
  window_ends_at DATETIME(6)  NOT NULL,
  KEY otp_send_counters_window_ends_at (window_ends_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE otp_send_counters;
