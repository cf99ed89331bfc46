-- +goose Up
-- wechat_accounts keeps one row per WeChat app account (appid, openid) ever
-- seen, with the unionid once WeChat reveals it; a person is the set of rows
-- sharing a unionid.
CREATE TABLE wechat_accounts (
  appid         VARCHAR(64)   NOT NULL,
  openid        VARCHAR(128)  NOT NULL,
  unionid       VARCHAR(128)  NULL,
  nickname      VARCHAR(255)  NOT NULL DEFAULT '',
  avatar_url    VARCHAR(1024) NOT NULL DEFAULT '',
  first_seen_at DATETIME(6)   NOT NULL,
  last_seen_at  DATETIME(6)   NOT NULL,
  PRIMARY KEY (appid, openid),
  KEY wechat_accounts_unionid (unionid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE wechat_accounts;
