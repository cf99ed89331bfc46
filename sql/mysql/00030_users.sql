-- +goose Up
-- users is the built-in user directory: one person, one phone number.
-- id is the CAS principal id released to services by default.
CREATE TABLE users (
  id         VARCHAR(64) NOT NULL PRIMARY KEY,
  phone      VARCHAR(32) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  UNIQUE KEY users_phone (phone)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE users;
