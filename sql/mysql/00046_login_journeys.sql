-- +goose Up
-- login_journeys is one login in progress, whatever drives it (a browser, the
-- JSON API, next OpenID Connect): its state in the journey state machine, the
-- WeChat person once WeChat named them, the phone being proven and the user
-- once bound. secret_hash binds the journey to its holder (the HMAC of the
-- browser's cookie nonce, or the SHA-256 of the API client's current step
-- secret); the WeChat state is stored only as a hash. A finished journey
-- stays a short while so that a repeated submission lands on the service.
-- (login_flows and api_bind_tokens, which it replaces, are dropped by a later
-- migration, once no instance of the previous release can be running.)
CREATE TABLE login_journeys (
  id                VARCHAR(64)   NOT NULL PRIMARY KEY,
  state             VARCHAR(32)   NOT NULL,
  transport         VARCHAR(16)   NOT NULL,
  channel           VARCHAR(32)   NOT NULL DEFAULT '',
  service           VARCHAR(255)  NOT NULL DEFAULT '',
  return_to         TEXT          NOT NULL,
  secret_hash       VARCHAR(64)   NOT NULL,
  wechat_state_hash VARCHAR(64)   NOT NULL DEFAULT '',
  wechat_state_used TINYINT(1)    NOT NULL DEFAULT 0,
  appid             VARCHAR(64)   NOT NULL DEFAULT '',
  openid            VARCHAR(128)  NOT NULL DEFAULT '',
  unionid           VARCHAR(128)  NOT NULL DEFAULT '',
  nickname          VARCHAR(255)  NOT NULL DEFAULT '',
  avatar_url        VARCHAR(1024) NOT NULL DEFAULT '',
  phone             VARCHAR(32)   NOT NULL DEFAULT '',
  user_id           VARCHAR(255)  NOT NULL DEFAULT '',
  version           INT           NOT NULL DEFAULT 0,
  created_at        DATETIME(6)   NOT NULL,
  step_expires_at   DATETIME(6)   NULL,
  expires_at        DATETIME(6)   NOT NULL,
  KEY login_journeys_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE login_journeys;
