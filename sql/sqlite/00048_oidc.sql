-- +goose Up
-- The OpenID Provider's tables: see the MySQL migration of the same number
-- for what each holds. Codes and refresh tokens are stored only as SHA-256
-- hashes; code_hash is NULL until a code is issued (the unique index admits
-- any number of NULLs) and auth_time NULL until the login completes.
CREATE TABLE oidc_auth_requests (
  id             TEXT     NOT NULL PRIMARY KEY,
  client_id      TEXT     NOT NULL,
  redirect_uri   TEXT     NOT NULL,
  scopes         TEXT     NOT NULL,
  state          TEXT     NOT NULL,
  nonce          TEXT     NOT NULL,
  response_mode  TEXT     NOT NULL DEFAULT '',
  code_challenge TEXT     NOT NULL DEFAULT '',
  prompt         TEXT     NOT NULL DEFAULT '',
  max_age        INTEGER  NOT NULL DEFAULT -1,
  ui_locales     TEXT     NOT NULL,
  login_hint     TEXT     NOT NULL,
  hint_subject   TEXT     NOT NULL DEFAULT '',
  done           INTEGER  NOT NULL DEFAULT 0,
  subject        TEXT     NOT NULL DEFAULT '',
  session_key    TEXT     NOT NULL DEFAULT '',
  auth_time      DATETIME NULL,
  amr            TEXT     NOT NULL DEFAULT '',
  attributes     TEXT     NOT NULL,
  code_hash      TEXT     NULL,
  grant_id       TEXT     NOT NULL DEFAULT '',
  browser_hash   TEXT     NOT NULL DEFAULT '',
  created_at     DATETIME NOT NULL,
  expires_at     DATETIME NOT NULL
);
CREATE UNIQUE INDEX oidc_auth_requests_code_hash ON oidc_auth_requests (code_hash);
CREATE INDEX oidc_auth_requests_expires_at ON oidc_auth_requests (expires_at);

-- oidc_grants: one per code exchange, the family of its tokens.
CREATE TABLE oidc_grants (
  id          TEXT     NOT NULL PRIMARY KEY,
  client_id   TEXT     NOT NULL,
  subject     TEXT     NOT NULL,
  session_key TEXT     NOT NULL DEFAULT '',
  scopes      TEXT     NOT NULL,
  auth_time   DATETIME NULL,
  amr         TEXT     NOT NULL DEFAULT '',
  attributes  TEXT     NOT NULL,
  revoked     INTEGER  NOT NULL DEFAULT 0,
  created_at  DATETIME NOT NULL,
  expires_at  DATETIME NOT NULL
);
CREATE INDEX oidc_grants_session_key ON oidc_grants (session_key);
CREATE INDEX oidc_grants_expires_at ON oidc_grants (expires_at);

-- oidc_refresh_tokens: the grants' refresh tokens, by hash; used once rotated.
CREATE TABLE oidc_refresh_tokens (
  hash       TEXT     NOT NULL PRIMARY KEY,
  grant_id   TEXT     NOT NULL,
  used       INTEGER  NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL,
  expires_at DATETIME NOT NULL
);
CREATE INDEX oidc_refresh_tokens_grant_id ON oidc_refresh_tokens (grant_id);
CREATE INDEX oidc_refresh_tokens_expires_at ON oidc_refresh_tokens (expires_at);

-- oidc_signing_keys: the signing keys (id is the kid), one per generation,
-- the private key sealed.
CREATE TABLE oidc_signing_keys (
  id          TEXT     NOT NULL PRIMARY KEY,
  generation  INTEGER  NOT NULL,
  algorithm   TEXT     NOT NULL,
  sealed      BLOB     NOT NULL,
  created_at  DATETIME NOT NULL,
  active_from DATETIME NOT NULL,
  expires_at  DATETIME NOT NULL
);
CREATE UNIQUE INDEX oidc_signing_keys_generation ON oidc_signing_keys (generation);
CREATE INDEX oidc_signing_keys_expires_at ON oidc_signing_keys (expires_at);

-- oidc_rate_counters: the OpenID endpoints' fixed-window rate limits
-- (ratelimit.Limiter), like login_rate_counters.
CREATE TABLE oidc_rate_counters (
  counter_key    TEXT     NOT NULL PRIMARY KEY,
  used           INTEGER  NOT NULL,
  window_ends_at DATETIME NOT NULL
);
CREATE INDEX oidc_rate_counters_window_ends_at ON oidc_rate_counters (window_ends_at);

-- +goose Down
DROP TABLE oidc_rate_counters;
DROP TABLE oidc_signing_keys;
DROP TABLE oidc_refresh_tokens;
DROP TABLE oidc_grants;
DROP TABLE oidc_auth_requests;
