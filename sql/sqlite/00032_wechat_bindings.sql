-- +goose Up
-- wechat_bindings links a WeChat person to a directory user. identity_key is
-- 'u:<unionid>' when the unionid is known, else 'o:<appid>:<openid>'. Both
-- columns are unique: one user per person and one person per user, enforced by
-- the database so concurrent binds cannot both succeed.
CREATE TABLE wechat_bindings (
  identity_key TEXT     NOT NULL PRIMARY KEY,
  user_id      TEXT     NOT NULL UNIQUE,
  created_at   DATETIME NOT NULL
);

-- +goose Down
DROP TABLE wechat_bindings;
