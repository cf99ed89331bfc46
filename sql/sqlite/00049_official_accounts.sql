-- +goose Up
-- Several Official Accounts and WeChat third-party platforms (see the MySQL
-- migration of the same number for what each column is for).
ALTER TABLE login_journeys ADD COLUMN entry_appid TEXT NOT NULL DEFAULT '';
ALTER TABLE login_journeys ADD COLUMN entry_openid TEXT NOT NULL DEFAULT '';
ALTER TABLE login_journeys ADD COLUMN wechat_appid TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_auth_requests ADD COLUMN entry_appid TEXT NOT NULL DEFAULT '';

CREATE TABLE wechat_platform_tickets (
  component_appid TEXT     NOT NULL PRIMARY KEY,
  verify_ticket   TEXT     NOT NULL,
  created_at      DATETIME NOT NULL,
  received_at     DATETIME NOT NULL
);

CREATE TABLE wechat_platform_authorizers (
  component_appid  TEXT     NOT NULL,
  authorizer_appid TEXT     NOT NULL,
  authorized       INTEGER  NOT NULL,
  info_type        TEXT     NOT NULL,
  created_at       DATETIME NOT NULL,
  received_at      DATETIME NOT NULL,
  PRIMARY KEY (component_appid, authorizer_appid)
);

-- +goose Down
DROP TABLE wechat_platform_authorizers;
DROP TABLE wechat_platform_tickets;
ALTER TABLE oidc_auth_requests DROP COLUMN entry_appid;
ALTER TABLE login_journeys DROP COLUMN wechat_appid;
ALTER TABLE login_journeys DROP COLUMN entry_openid;
ALTER TABLE login_journeys DROP COLUMN entry_appid;
