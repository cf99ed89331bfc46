package binding

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"wxcas/store"
)

// cleanupBatch bounds the rows one clean-up statement looks at and deletes.
const cleanupBatch = 500

// concat is the dialect's string concatenation of SQL expressions.
func (s *SQLStore) concat(parts ...string) string {
	if s.db.Dialect == store.MySQL {
		return "CONCAT(" + strings.Join(parts, ", ") + ")"
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

// unboundAccount is the condition "no binding reaches this account": neither
// under its unionid nor under (appid, openid), the two identity keys.
func (s *SQLStore) unboundAccount() string {
	return `NOT EXISTS (SELECT 1 FROM wechat_bindings b WHERE b.identity_key = ` + s.concat(`'u:'`, `wechat_accounts.unionid`) + `)
AND NOT EXISTS (SELECT 1 FROM wechat_bindings b WHERE b.identity_key = ` + s.concat(`'o:'`, `wechat_accounts.appid`, `':'`, `wechat_accounts.openid`) + `)`
}

// CleanupAccounts forgets WeChat accounts that no binding reaches and that
// were last seen before before: sightings of people who never finished
// binding. It walks the last_seen_at index with a cursor, so accounts kept
// because they are bound are read once per run, not once per batch, and
// deletes by primary key, cleanupBatch at a time. The DELETE checks again:
// an account seen or bound meanwhile stays (Seen and Bind update
// last_seen_at under the row lock, in the transaction that binds).
func (s *SQLStore) CleanupAccounts(ctx context.Context, before time.Time) (int64, error) {
	before = store.Time(before)
	cursor := time.Unix(0, 0).UTC()
	var total int64
	for {
		var rows []struct {
			AppID    string    `db:"appid"`
			OpenID   string    `db:"openid"`
			LastSeen time.Time `db:"last_seen_at"`
		}
		err := s.db.SelectContext(ctx, &rows, `SELECT appid, openid, last_seen_at FROM wechat_accounts
WHERE last_seen_at < ? AND last_seen_at >= ? AND `+s.unboundAccount()+`
ORDER BY last_seen_at LIMIT ?`, before, cursor, cleanupBatch)
		if err != nil {
			return total, fmt.Errorf("binding: find unbound accounts: %w", err)
		}
		if len(rows) == 0 {
			return total, nil
		}
		keys := make([]string, len(rows))
		args := make([]any, 0, 2*len(rows)+1)
		for i, r := range rows {
			keys[i] = "(appid = ? AND openid = ?)"
			args = append(args, r.AppID, r.OpenID)
		}
		args = append(args, before)
		res, err := s.db.ExecContext(ctx, `DELETE FROM wechat_accounts WHERE (`+strings.Join(keys, " OR ")+`)
AND last_seen_at < ? AND `+s.unboundAccount(), args...)
		if err != nil {
			return total, fmt.Errorf("binding: delete unbound accounts: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if len(rows) < cleanupBatch || n == 0 {
			return total, nil
		}
		cursor = rows[len(rows)-1].LastSeen
	}
}

// CleanupOrphanUsers deletes users of the built-in directory (the users
// table; an organisation's SQL directory is never touched) that no binding
// refers to and that were created before before, so no code path leaves a
// users row without a binding for good: a first login creates the user and
// then binds it, and a login that loses the race to bind (or fails between
// the two steps) leaves the user behind. before must leave time for a login
// in progress to bind (config cleanup.orphan_user_grace).
//
// Candidates come from the created_at index (with a cursor, as in
// CleanupAccounts); each batch is then locked, checked and deleted in one
// transaction. With UseAsDirectory, Bind holds a shared lock on the user's
// row until its binding commits, so a user is either seen bound here or
// refused by Bind: a bound user is never deleted.
func (s *SQLStore) CleanupOrphanUsers(ctx context.Context, before time.Time) (int64, error) {
	before = store.Time(before)
	cursor := time.Unix(0, 0).UTC()
	var total int64
	for {
		var rows []struct {
			ID        string    `db:"id"`
			CreatedAt time.Time `db:"created_at"`
		}
		err := s.db.SelectContext(ctx, &rows, `SELECT id, created_at FROM users
WHERE created_at < ? AND created_at >= ? AND was_bound = 0 AND NOT EXISTS (SELECT 1 FROM wechat_bindings b WHERE b.user_id = users.id)
ORDER BY created_at LIMIT ?`, before, cursor, cleanupBatch)
		if err != nil {
			return total, fmt.Errorf("binding: find orphan users: %w", err)
		}
		if len(rows) == 0 {
			return total, nil
		}
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		n, err := s.deleteOrphans(ctx, ids, before)
		total += n
		if err != nil {
			return total, err
		}
		if len(rows) < cleanupBatch || n == 0 {
			return total, nil
		}
		cursor = rows[len(rows)-1].CreatedAt
	}
}

// deleteOrphans deletes those of ids that are still unbound, in one
// transaction: the users rows are locked first (MySQL: FOR UPDATE, READ
// COMMITTED so later reads see the latest commits and no gap locks are
// taken), then their bindings read with a locking read, which waits for any
// Bind holding the user's row. SQLite's IMMEDIATE transaction excludes
// every other writer.
func (s *SQLStore) deleteOrphans(ctx context.Context, ids []string, before time.Time) (int64, error) {
	var (
		opts              *sql.TxOptions
		forUpdate, shared string
	)
	if s.db.Dialect == store.MySQL {
		opts, forUpdate, shared = &sql.TxOptions{Isolation: sql.LevelReadCommitted}, " FOR UPDATE", " LOCK IN SHARE MODE"
	}
	tx, err := s.db.BeginTxx(ctx, opts)
	if err != nil {
		return 0, fmt.Errorf("binding: delete orphan users: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var locked, bound []string
	q, args, err := sqlx.In(`SELECT id FROM users WHERE id IN (?) AND created_at < ? AND was_bound = 0 ORDER BY id`+forUpdate, ids, before)
	if err != nil {
		return 0, err
	}
	if err := tx.SelectContext(ctx, &locked, tx.Rebind(q), args...); err != nil {
		return 0, fmt.Errorf("binding: lock orphan users: %w", err)
	}
	if len(locked) == 0 {
		return 0, nil
	}
	q, args, err = sqlx.In(`SELECT user_id FROM wechat_bindings WHERE user_id IN (?)`+shared, locked)
	if err != nil {
		return 0, err
	}
	if err := tx.SelectContext(ctx, &bound, tx.Rebind(q), args...); err != nil {
		return 0, fmt.Errorf("binding: check orphan users: %w", err)
	}
	isBound := map[string]bool{}
	for _, id := range bound {
		isBound[id] = true
	}
	var orphans []string
	for _, id := range locked {
		if !isBound[id] {
			orphans = append(orphans, id)
		}
	}
	if len(orphans) == 0 {
		return 0, nil
	}
	q, args, err = sqlx.In(`DELETE FROM users WHERE id IN (?)`, orphans)
	if err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, tx.Rebind(q), args...)
	if err != nil {
		return 0, fmt.Errorf("binding: delete orphan users: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("binding: delete orphan users: %w", err)
	}
	return res.RowsAffected()
}
