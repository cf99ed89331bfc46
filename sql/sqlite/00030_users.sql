-- +goose Up
-- users is the built-in user directory: one person, one phone number.
-- id is the CAS principal id released to services by default.
CREATE TABLE users (
  id         TEXT     NOT NULL PRIMARY KEY,
  phone      TEXT     NOT NULL UNIQUE,
  created_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE users;
