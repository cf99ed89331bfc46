-- +goose Up
-- was_bound: the user has had a WeChat binding. An unbind (the account page,
-- an operator) leaves a person without one; the orphan clean-up must delete
-- only the users a failed first login left behind, never a person.
ALTER TABLE users ADD COLUMN was_bound INTEGER NOT NULL DEFAULT 0;
UPDATE users SET was_bound = 1 WHERE EXISTS (SELECT 1 FROM wechat_bindings b WHERE b.user_id = users.id);

-- +goose Down
ALTER TABLE users DROP COLUMN was_bound;
