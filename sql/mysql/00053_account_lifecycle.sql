-- +goose Up
-- A change to a person's account (unbind, new phone, new WeChat) ends their
-- other SSO sessions: they are found by principal.
CREATE INDEX cas_tgt_principal ON cas_tgt (principal_id);

-- account_replacements are the WeChat authorizations started from the
-- account page to replace the bound WeChat account, after the person proved
-- the phone. state_hash is the SHA-256 (hex) of the random state sent to
-- WeChat; a row is used once (deleted) and only by the session that made it.
CREATE TABLE account_replacements (
  state_hash  CHAR(64)     NOT NULL PRIMARY KEY,
  session_key CHAR(64)     NOT NULL,
  user_id     VARCHAR(128) NOT NULL,
  appid       VARCHAR(64)  NOT NULL,
  created_at  DATETIME(6)  NOT NULL,
  expires_at  DATETIME(6)  NOT NULL,
  KEY account_replacements_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE account_replacements;
DROP INDEX cas_tgt_principal ON cas_tgt;
