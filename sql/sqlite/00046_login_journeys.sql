-- +goose Up
-- login_journeys: see the MySQL migration of the same number.
CREATE TABLE login_journeys (
  id                TEXT     NOT NULL PRIMARY KEY,
  state             TEXT     NOT NULL,
  transport         TEXT     NOT NULL,
  channel           TEXT     NOT NULL DEFAULT '',
  service           TEXT     NOT NULL DEFAULT '',
  return_to         TEXT     NOT NULL,
  secret_hash       TEXT     NOT NULL,
  wechat_state_hash TEXT     NOT NULL DEFAULT '',
  wechat_state_used INTEGER  NOT NULL DEFAULT 0,
  appid             TEXT     NOT NULL DEFAULT '',
  openid            TEXT     NOT NULL DEFAULT '',
  unionid           TEXT     NOT NULL DEFAULT '',
  nickname          TEXT     NOT NULL DEFAULT '',
  avatar_url        TEXT     NOT NULL DEFAULT '',
  phone             TEXT     NOT NULL DEFAULT '',
  user_id           TEXT     NOT NULL DEFAULT '',
  version           INTEGER  NOT NULL DEFAULT 0,
  created_at        DATETIME NOT NULL,
  step_expires_at   DATETIME NULL,
  expires_at        DATETIME NOT NULL
);
CREATE INDEX login_journeys_expires ON login_journeys (expires_at);

-- +goose Down
DROP TABLE login_journeys;
