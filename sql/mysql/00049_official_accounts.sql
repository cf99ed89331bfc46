-- +goose Up
-- Several Official Accounts and WeChat third-party platforms.
--
-- login_journeys gains the Official Account a login inside WeChat starts
-- from (entry_appid: chosen by the entry link, the service or the default),
-- the openid that account gave when the chain stepped up to the unionid
-- account (entry_openid: recorded under the unionid once WeChat reveals it),
-- and the app the current WeChat state was issued for (wechat_appid: the
-- callback exchanges its code with that app and no other).
ALTER TABLE login_journeys
  ADD COLUMN entry_appid  VARCHAR(64)  NOT NULL DEFAULT '',
  ADD COLUMN entry_openid VARCHAR(128) NOT NULL DEFAULT '',
  ADD COLUMN wechat_appid VARCHAR(64)  NOT NULL DEFAULT '';

-- oidc_auth_requests gains the entry Official Account an authorization
-- request named (appid=, checked against the configured accounts), carried
-- to the CAS login that logs the person in.
ALTER TABLE oidc_auth_requests ADD COLUMN entry_appid VARCHAR(64) NOT NULL DEFAULT '';

-- wechat_platform_tickets keeps each third-party platform's newest
-- component_verify_ticket, which WeChat pushes every 10 minutes to the
-- platform's authorization event URL: sealed (AES-GCM under a key derived
-- from the master secret, bound to the component appid), with the message's
-- CreateTime so that an older or replayed push never replaces a newer one.
CREATE TABLE wechat_platform_tickets (
  component_appid VARCHAR(64)   NOT NULL PRIMARY KEY,
  verify_ticket   VARCHAR(1024) NOT NULL,
  created_at      DATETIME(6)   NOT NULL,
  received_at     DATETIME(6)   NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- wechat_platform_authorizers records, per platform and Official Account,
-- the newest authorized / updateauthorized / unauthorized event: an account
-- that withdrew its authorization gets a clear page instead of a trip to
-- WeChat that cannot succeed. created_at is the event's CreateTime (an older
-- event never replaces a newer one).
CREATE TABLE wechat_platform_authorizers (
  component_appid  VARCHAR(64) NOT NULL,
  authorizer_appid VARCHAR(64) NOT NULL,
  authorized       TINYINT(1)  NOT NULL,
  info_type        VARCHAR(32) NOT NULL,
  created_at       DATETIME(6) NOT NULL,
  received_at      DATETIME(6) NOT NULL,
  PRIMARY KEY (component_appid, authorizer_appid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE wechat_platform_authorizers;
DROP TABLE wechat_platform_tickets;
ALTER TABLE oidc_auth_requests DROP COLUMN entry_appid;
ALTER TABLE login_journeys DROP COLUMN entry_appid, DROP COLUMN entry_openid, DROP COLUMN wechat_appid;
