-- +goose Up
-- A change to a person's account (unbind, new phone, new WeChat) ends their
-- other SSO sessions: they are found by principal.
CREATE INDEX cas_tgt_principal ON cas_tgt (principal_id);

-- account_replacements are the WeChat authorizations started from the
-- account page to replace the bound WeChat account, after the person proved
-- the phone. state_hash is the SHA-256 (hex) of the random state sent to
-- WeChat; a row is used once (deleted) and only by the session that made it.
CREATE TABLE account_replacements (
  state_hash  TEXT     NOT NULL PRIMARY KEY,
  session_key TEXT     NOT NULL,
  user_id     TEXT     NOT NULL,
  appid       TEXT     NOT NULL,
  created_at  DATETIME NOT NULL,
  expires_at  DATETIME NOT NULL
);
CREATE INDEX account_replacements_expires ON account_replacements (expires_at);

-- +goose Down
DROP TABLE account_replacements;
DROP INDEX cas_tgt_principal;
