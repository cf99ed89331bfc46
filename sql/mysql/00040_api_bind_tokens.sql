-- +goose Up
-- api_bind_tokens holds the bind tokens of the JSON API: a mini program or
-- mobile app login that WeChat identified but that still needs a phone
-- binding. The token is a bearer credential, so only its SHA-256 (hex) is
-- stored. Tokens form a single-use chain: each successful step marks its
-- token used and issues the next one with the same chain_id (which the
-- per-token rate limit counts by). The WeChat identity comes from WeChat's
-- answer to the code exchange, never from the client.
CREATE TABLE api_bind_tokens (
  token_hash       CHAR(64)      NOT NULL PRIMARY KEY,
  chain_id         VARCHAR(64)   NOT NULL,
  appid            VARCHAR(64)   NOT NULL,
  app_kind         VARCHAR(32)   NOT NULL,
  openid           VARCHAR(128)  NOT NULL,
  unionid          VARCHAR(128)  NOT NULL DEFAULT '',
  nickname         VARCHAR(255)  NOT NULL DEFAULT '',
  avatar_url       VARCHAR(1024) NOT NULL DEFAULT '',
  phone            VARCHAR(32)   NOT NULL DEFAULT '',
  created_at       DATETIME(6)   NOT NULL,
  expires_at       DATETIME(6)   NOT NULL,
  chain_expires_at DATETIME(6)   NOT NULL,
  used_at          DATETIME(6)   NULL,
  KEY api_bind_tokens_chain (chain_id),
  KEY api_bind_tokens_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE api_bind_tokens;
