-- +goose Up
-- The OpenID Provider's state (package openid, openid.SQLStore). Codes and
-- refresh tokens are bearer credentials, so only their SHA-256 (hex) is
-- stored. Lists (scopes, prompt, amr) are stored space-joined, attributes as
-- a JSON object. Every row has an expires_at, indexed for the batched
-- clean-up (store.DeleteBatched); the store never judges expiry itself.

-- oidc_auth_requests is one authorization request (from /authorize or the
-- challenge endpoint) while the person logs in, then its code until the code
-- is exchanged or expires. done, subject, session_key (the CAS SSO session,
-- the SHA-256 of its TGT id), auth_time (NULL until done), amr and
-- attributes are written once, when the login completes; code_hash (NULL
-- until a code is issued, so that the unique index admits any number of
-- requests without one) when the code is issued, which also shortens
-- expires_at to the code's; grant_id ('' until then) when the code is
-- exchanged, by a compare-and-set on grant_id = '' so that a code is
-- exchanged once. browser_hash ('' until then) binds a browser authorization
-- to the browser that continued it first (the hash of its cookie nonce).
-- max_age is -1 when the client did not ask for one.
CREATE TABLE oidc_auth_requests (
  id             VARCHAR(64)  NOT NULL PRIMARY KEY,
  client_id      VARCHAR(255) NOT NULL,
  redirect_uri   TEXT         NOT NULL,
  scopes         TEXT         NOT NULL,
  state          TEXT         NOT NULL,
  nonce          TEXT         NOT NULL,
  response_mode  VARCHAR(32)  NOT NULL DEFAULT '',
  code_challenge VARCHAR(128) NOT NULL DEFAULT '',
  prompt         VARCHAR(255) NOT NULL DEFAULT '',
  max_age        INT          NOT NULL DEFAULT -1,
  ui_locales     TEXT         NOT NULL,
  login_hint     TEXT         NOT NULL,
  hint_subject   VARCHAR(255) NOT NULL DEFAULT '',
  done           TINYINT(1)   NOT NULL DEFAULT 0,
  subject        VARCHAR(255) NOT NULL DEFAULT '',
  session_key    VARCHAR(128) NOT NULL DEFAULT '',
  auth_time      DATETIME(6)  NULL,
  amr            VARCHAR(255) NOT NULL DEFAULT '',
  attributes     MEDIUMTEXT   NOT NULL,
  code_hash      VARCHAR(64)  NULL,
  grant_id       VARCHAR(64)  NOT NULL DEFAULT '',
  browser_hash   VARCHAR(64)  NOT NULL DEFAULT '',
  created_at     DATETIME(6)  NOT NULL,
  expires_at     DATETIME(6)  NOT NULL,
  UNIQUE KEY oidc_auth_requests_code_hash (code_hash),
  KEY oidc_auth_requests_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- oidc_grants is what one code exchange granted: the family of every access
-- and refresh token issued from that code, with the login they carry.
-- Revoking it (revoked = 1) revokes them all; session_key is indexed so
-- that the end of an SSO session revokes its grants (back-channel logout).
-- No token of the grant lives beyond expires_at.
CREATE TABLE oidc_grants (
  id          VARCHAR(64)  NOT NULL PRIMARY KEY,
  client_id   VARCHAR(255) NOT NULL,
  subject     VARCHAR(255) NOT NULL,
  session_key VARCHAR(128) NOT NULL DEFAULT '',
  scopes      TEXT         NOT NULL,
  auth_time   DATETIME(6)  NULL,
  amr         VARCHAR(255) NOT NULL DEFAULT '',
  attributes  MEDIUMTEXT   NOT NULL,
  revoked     TINYINT(1)   NOT NULL DEFAULT 0,
  created_at  DATETIME(6)  NOT NULL,
  expires_at  DATETIME(6)  NOT NULL,
  KEY oidc_grants_session_key (session_key),
  KEY oidc_grants_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- oidc_refresh_tokens are the refresh tokens of the grants, by hash. A
-- rotation sets used = 1 (compare-and-set on used = 0, so that of two
-- concurrent rotations one wins) and inserts the next token in the same
-- transaction; presenting a used token again is reuse.
CREATE TABLE oidc_refresh_tokens (
  hash       VARCHAR(64) NOT NULL PRIMARY KEY,
  grant_id   VARCHAR(64) NOT NULL,
  used       TINYINT(1)  NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  KEY oidc_refresh_tokens_grant_id (grant_id),
  KEY oidc_refresh_tokens_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- oidc_signing_keys are the provider's signing keys; id is the JWK kid.
-- generation (1, 2, ...) is unique, so that two instances rotating at once
-- make one key. sealed is the PKCS #8 private key sealed with a key derived
-- from the master secret. A key is published in JWKS from created_at,
-- signs from active_from and leaves JWKS at expires_at.
CREATE TABLE oidc_signing_keys (
  id          VARCHAR(64) NOT NULL PRIMARY KEY,
  generation  INT         NOT NULL,
  algorithm   VARCHAR(16) NOT NULL,
  sealed      BLOB        NOT NULL,
  created_at  DATETIME(6) NOT NULL,
  active_from DATETIME(6) NOT NULL,
  expires_at  DATETIME(6) NOT NULL,
  UNIQUE KEY oidc_signing_keys_generation (generation),
  KEY oidc_signing_keys_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- oidc_rate_counters are the OpenID endpoints' fixed-window rate limits
-- (ratelimit.Limiter{Table: "oidc_rate_counters"}), like
-- login_rate_counters: used counts the calls in the window that ends at
-- window_ends_at (a call after it opens a new window). Every instance
-- counts here, so the limit holds across instances.
CREATE TABLE oidc_rate_counters (
  counter_key    VARCHAR(191) NOT NULL PRIMARY KEY,
  used           INT          NOT NULL,
  window_ends_at DATETIME(6)  NOT NULL,
  KEY oidc_rate_counters_window_ends_at (window_ends_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE oidc_rate_counters;
DROP TABLE oidc_signing_keys;
DROP TABLE oidc_refresh_tokens;
DROP TABLE oidc_grants;
DROP TABLE oidc_auth_requests;
