-- +goose Up
-- login_rate_counters are the browser login's fixed-window rate limits,
-- e.g. "browser_ip:192.0.2.1" (login.per_ip: journeys started and WeChat
-- callbacks per client address): used counts the calls in the window that
-- ends at window_ends_at (a call after it opens a new window). Every
-- instance counts here, so the limit holds across instances.
CREATE TABLE login_rate_counters (
  counter_key    TEXT     NOT NULL PRIMARY KEY,
  used           INTEGER  NOT NULL,
  window_ends_at DATETIME NOT NULL
);
CREATE INDEX login_rate_counters_window_ends_at ON login_rate_counters (window_ends_at);

-- +goose Down
DROP TABLE login_rate_counters;
