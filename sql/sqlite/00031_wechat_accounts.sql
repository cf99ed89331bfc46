-- +goose Up
-- wechat_accounts keeps one row per WeChat app account (appid, openid) ever
-- seen, with the unionid once WeChat reveals it; a person is the set of rows
-- sharing a unionid.
CREATE TABLE wechat_accounts (
  appid         TEXT     NOT NULL,
  openid        TEXT     NOT NULL,
  unionid       TEXT     NULL,
  nickname      TEXT     NOT NULL DEFAULT '',
  avatar_url    TEXT     NOT NULL DEFAULT '',
  first_seen_at DATETIME NOT NULL,
  last_seen_at  DATETIME NOT NULL,
  PRIMARY KEY (appid, openid)
);
CREATE INDEX wechat_accounts_unionid ON wechat_accounts (unionid);

-- +goose Down
DROP TABLE wechat_accounts;
