-- +goose Up
-- wechat_bindings links a WeChat person to a directory user. identity_key is
-- 'u:<unionid>' when the unionid is known, else 'o:<appid>:<openid>'. Both
-- columns are unique: one user per person and one person per user, enforced by
-- the database so concurrent binds cannot both succeed.
CREATE TABLE wechat_bindings (
  identity_key VARCHAR(200) NOT NULL PRIMARY KEY,
  user_id      VARCHAR(191) NOT NULL,
  created_at   DATETIME(6)  NOT NULL,
  UNIQUE KEY wechat_bindings_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE wechat_bindings;
