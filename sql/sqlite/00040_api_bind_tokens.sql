-- +goose Up
-- api_bind_tokens holds the bind tokens of the JSON API: a mini program or
-- mobile app login that WeChat identified but that still needs a phone
-- binding. The token is a bearer credential, so only its SHA-256 (hex) is
-- stored. Tokens form a single-use chain: each successful step marks its
-- token used and issues the next one with the same chain_id (which the
-- per-token rate limit counts by). The WeChat identity comes from WeChat's
-- answer to the code exchange, never from the client.
CREATE TABLE api_bind_tokens (
  token_hash       TEXT     NOT NULL PRIMARY KEY,
  chain_id         TEXT     NOT NULL,
  appid            TEXT     NOT NULL,
  app_kind         TEXT     NOT NULL,
  openid           TEXT     NOT NULL,
  unionid          TEXT     NOT NULL DEFAULT '',
  nickname         TEXT     NOT NULL DEFAULT '',
  avatar_url       TEXT     NOT NULL DEFAULT '',
  phone            TEXT     NOT NULL DEFAULT '',
  created_at       DATETIME NOT NULL,
  expires_at       DATETIME NOT NULL,
  chain_expires_at DATETIME NOT NULL,
  used_at          DATETIME NULL
);
CREATE INDEX api_bind_tokens_chain ON api_bind_tokens (chain_id);
CREATE INDEX api_bind_tokens_expires ON api_bind_tokens (expires_at);

-- +goose Down
DROP TABLE api_bind_tokens;
