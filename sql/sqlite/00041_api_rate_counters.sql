-- +goose Up
-- api_rate_counters are the JSON API's fixed-window rate limits, e.g.
-- "login_ip:192.0.2.1" or "bind_token:<chain id>": used counts the calls in
-- the window that ends at window_ends_at (a call after it opens a new
-- window). Every instance counts here, so limits hold across instances.
CREATE TABLE api_rate_counters (
  counter_key    TEXT     NOT NULL PRIMARY KEY,
  used           INTEGER  NOT NULL,
  window_ends_at DATETIME NOT NULL
);
CREATE INDEX api_rate_counters_window_ends_at ON api_rate_counters (window_ends_at);

-- +goose Down
DROP TABLE api_rate_counters;
