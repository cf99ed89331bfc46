-- +goose Up
-- The clean-up forgets WeChat accounts that never bound, by last sighting,
-- and deletes built-in users left without a binding, by age: both walk these
-- indexes in small batches instead of scanning the tables.
CREATE INDEX wechat_accounts_last_seen ON wechat_accounts (last_seen_at);
CREATE INDEX users_created_at ON users (created_at);

-- +goose Down
DROP INDEX users_created_at;
DROP INDEX wechat_accounts_last_seen;
