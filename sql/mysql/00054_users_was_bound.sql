-- +goose Up
-- was_bound: the user has had a WeChat binding. An unbind (the account page,
-- an operator) leaves a person without one; the orphan clean-up must delete
-- only the users a failed first login left behind, never a person.
ALTER TABLE users ADD COLUMN was_bound BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE users SET was_bound = TRUE WHERE EXISTS (SELECT 1 FROM wechat_bindings b WHERE b.user_id = users.id);

-- +goose Down
ALTER TABLE users DROP COLUMN was_bound;
