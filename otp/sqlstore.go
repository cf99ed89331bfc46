package otp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"wxcas/ratelimit"
	"wxcas/store"
)

// SQLStore is the Store on wxcas's database, SQLite or MySQL (tables from
// migrations 00011 and 00043).
type SQLStore struct {
	db *store.DB
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns a Store on db.
func NewSQLStore(db *store.DB) *SQLStore { return &SQLStore{db: db} }

const codeColumns = `holder, phone, purpose, issue_id, code_hash, attempts, max_attempts, created_at, expires_at, verified_at, confirm_key, confirm_ends, confirm_sends`

// PutCode replaces the row for (holder, phone, purpose) in one statement;
// both dialects understand REPLACE on the primary key.
func (s *SQLStore) PutCode(ctx context.Context, c Code) error {
	var verified, confirmKey, confirmEnds any
	if !c.VerifiedAt.IsZero() {
		verified = store.Time(c.VerifiedAt)
	}
	if c.ConfirmKey != "" {
		confirmKey, confirmEnds = c.ConfirmKey, store.Time(c.ConfirmEnds)
	}
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`REPLACE INTO otp_codes (`+codeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		c.Holder, string(c.Phone), c.Purpose, c.IssueID, c.Hash, c.Attempts, c.MaxAttempts,
		store.Time(c.CreatedAt), store.Time(c.ExpiresAt), verified, confirmKey, confirmEnds, c.ConfirmSends)
	if err != nil {
		return fmt.Errorf("otp: store code: %w", err)
	}
	return nil
}

func (s *SQLStore) GetCode(ctx context.Context, holder string, phone Phone, purpose string) (Code, error) {
	row := s.db.QueryRowxContext(ctx, s.db.Rebind(`SELECT `+codeColumns+` FROM otp_codes WHERE holder = ? AND phone = ? AND purpose = ?`), holder, string(phone), purpose)
	var (
		c        Code
		p        string
		verified sql.NullTime
		confirm  sql.NullString
		ends     sql.NullTime
	)
	err := row.Scan(&c.Holder, &p, &c.Purpose, &c.IssueID, &c.Hash, &c.Attempts, &c.MaxAttempts, &c.CreatedAt, &c.ExpiresAt, &verified, &confirm, &ends, &c.ConfirmSends)
	if errors.Is(err, sql.ErrNoRows) {
		return Code{}, store.ErrNotFound
	}
	if err != nil {
		return Code{}, fmt.Errorf("otp: read code: %w", err)
	}
	c.Phone = Phone(p)
	c.CreatedAt, c.ExpiresAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	if verified.Valid {
		c.VerifiedAt = verified.Time.UTC()
	}
	if confirm.Valid && ends.Valid {
		c.ConfirmKey, c.ConfirmEnds = confirm.String, ends.Time.UTC()
	}
	return c, nil
}

func (s *SQLStore) PendingTo(ctx context.Context, holder, purpose string, now time.Time) (Phone, error) {
	var p string
	err := s.db.GetContext(ctx, &p, s.db.Rebind(`SELECT phone FROM otp_codes
		WHERE holder = ? AND purpose = ? AND verified_at IS NULL AND expires_at > ? AND attempts < max_attempts
		ORDER BY created_at DESC LIMIT 1`), holder, purpose, store.Time(now))
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("otp: read pending code: %w", err)
	}
	return Phone(p), nil
}

func (s *SQLStore) DeleteCode(ctx context.Context, ref CodeRef) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM otp_codes WHERE holder = ? AND phone = ? AND purpose = ? AND issue_id = ?`),
		ref.Holder, string(ref.Phone), ref.Purpose, ref.IssueID)
	if err != nil {
		return fmt.Errorf("otp: delete code: %w", err)
	}
	return nil
}

// liveCode is the condition under which a code may still take an attempt.
const liveCode = `holder = ? AND phone = ? AND purpose = ? AND issue_id = ? AND verified_at IS NULL AND expires_at > ?`

// CountAttempt is one UPDATE guarded by attempts < max_attempts, so
// concurrent attempts can never push a code past its limit. The new count
// comes back from the same statement: RETURNING on SQLite; on MySQL, which
// has no RETURNING, LAST_INSERT_ID(expr) puts it into the statement's OK
// packet, which the driver exposes as LastInsertId.
func (s *SQLStore) CountAttempt(ctx context.Context, ref CodeRef, now time.Time) (int, bool, error) {
	args := []any{ref.Holder, string(ref.Phone), ref.Purpose, ref.IssueID, store.Time(now)}
	if s.db.Dialect == store.SQLite {
		var n int
		err := s.db.QueryRowxContext(ctx, `UPDATE otp_codes SET attempts = attempts + 1 WHERE `+liveCode+` AND attempts < max_attempts RETURNING attempts`, args...).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("otp: count attempt: %w", err)
		}
		return n, true, nil
	}
	res, err := s.db.ExecContext(ctx, `UPDATE otp_codes SET attempts = LAST_INSERT_ID(attempts + 1) WHERE `+liveCode+` AND attempts < max_attempts`, args...)
	if err != nil {
		return 0, false, fmt.Errorf("otp: count attempt: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return 0, false, err
	}
	n, err := res.LastInsertId()
	if err != nil {
		return 0, false, fmt.Errorf("otp: count attempt: %w", err)
	}
	return int(n), true, nil
}

// MarkVerified: the winner among concurrent verifiers is the one whose
// UPDATE changed the row.
func (s *SQLStore) MarkVerified(ctx context.Context, ref CodeRef, now time.Time) (bool, error) {
	now = store.Time(now)
	// Through the context's transaction, if any: spending a code commits
	// with what it authorises (see Service.Spend).
	res, err := s.db.Q(ctx).ExecContext(ctx, s.db.Rebind(`UPDATE otp_codes SET verified_at = ? WHERE `+liveCode),
		now, ref.Holder, string(ref.Phone), ref.Purpose, ref.IssueID, now)
	if err != nil {
		return false, fmt.Errorf("otp: mark verified: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Confirm reads the login's codes that still hold sends, then for each
// takes its confirm window off the row first, so that only one caller gives
// those sends back, and decrements that window's counter. None of it joins
// the caller's transaction: a binding that rolls back still had its code
// entered, and the shared counter row must not stay locked until a binding
// commits.
func (s *SQLStore) Confirm(ctx context.Context, holder, purpose string, phone Phone, max int) (int, error) {
	var rows []struct {
		Phone   string    `db:"phone"`
		IssueID int64     `db:"issue_id"`
		Key     string    `db:"confirm_key"`
		Ends    time.Time `db:"confirm_ends"`
		Sends   int       `db:"confirm_sends"`
	}
	query, args := `SELECT phone, issue_id, confirm_key, confirm_ends, confirm_sends FROM otp_codes
		WHERE holder = ? AND purpose = ? AND confirm_key IS NOT NULL`, []any{holder, purpose}
	if phone != "" {
		query, args = query+` AND phone = ?`, append(args, phone.String())
	}
	err := s.db.SelectContext(ctx, &rows, s.db.Rebind(query), args...)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	// One short transaction for the updates (on SQLite one commit, not
	// one per statement); it holds the counter row only for themselves.
	given := 0
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		given = 0
		for _, r := range rows {
			n := min(r.Sends, max-given)
			if n <= 0 {
				break
			}
			res, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE otp_codes SET confirm_key = NULL, confirm_ends = NULL, confirm_sends = 0
				WHERE holder = ? AND phone = ? AND purpose = ? AND issue_id = ? AND confirm_key IS NOT NULL`),
				holder, r.Phone, purpose, r.IssueID)
			if err != nil {
				return err
			}
			if taken, err := res.RowsAffected(); err != nil || taken != 1 {
				continue // another caller took it
			}
			_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE otp_send_counters SET used = CASE WHEN used > ? THEN used - ? ELSE 0 END
				WHERE counter_key = ? AND window_ends_at = ?`), n, n, r.Key, store.Time(r.Ends))
			if err != nil {
				return err
			}
			given += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("otp: confirm sends: %w", err)
	}
	return given, nil
}

// Reserve upserts each counter and reads it back inside one transaction. The
// upsert restarts a counter whose window has ended and otherwise adds one;
// the row lock it takes is held until commit, so the read-back is exact and
// concurrent reservations of one counter queue instead of racing. A refusal
// rolls the whole transaction back, so counters never go past their Max.
func (s *SQLStore) Reserve(ctx context.Context, now time.Time, limits []Limit) ([]Hold, error) {
	now = store.Time(now)
	var holds []Hold
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		holds = holds[:0]
		var refused *LimitError
		for _, l := range limits {
			if l.Budget && refused != nil {
				continue
			}
			used, ends, err := s.bump(ctx, tx, l.Key, now, now.Add(l.Window))
			if err != nil {
				return err
			}
			if used > l.Max {
				wait := ends.Sub(now)
				var gap time.Duration
				if refused != nil {
					gap = refused.Gap
				}
				if l.Name == LimitLoginGap {
					gap = wait
				}
				if refused == nil || wait > refused.RetryAfter {
					refused = &LimitError{Limit: l.Name, RetryAfter: wait}
				}
				refused.Gap = gap
				continue
			}
			holds = append(holds, Hold{Limit: l, Used: used, WindowEndsAt: ends})
		}
		if refused != nil {
			return refused
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return holds, nil
}

// bump adds one send to a counter (restarting it if its window has ended)
// and returns the new count and the window's end.
func (s *SQLStore) bump(ctx context.Context, tx *sqlx.Tx, key string, now, newEnd time.Time) (int, time.Time, error) {
	used, ends, err := ratelimit.Bump(ctx, tx, s.db, "otp_send_counters", key, now, newEnd.Sub(now))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("otp: %w", err)
	}
	return used, ends, nil
}

// Release matches the window the hold was counted in, so giving back a send
// never lowers the count of a later window.
func (s *SQLStore) Release(ctx context.Context, holds []Hold) error {
	var errs []error
	for _, h := range holds {
		_, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE otp_send_counters SET used = used - 1 WHERE counter_key = ? AND window_ends_at = ? AND used > 0`),
			h.Key, store.Time(h.WindowEndsAt))
		if err != nil {
			errs = append(errs, fmt.Errorf("otp: release %s: %w", h.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *SQLStore) Counts(ctx context.Context, now time.Time, keys []string) (map[string]Count, error) {
	out := make(map[string]Count, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In(`SELECT counter_key, used, window_ends_at FROM otp_send_counters WHERE counter_key IN (?) AND window_ends_at > ?`,
		keys, store.Time(now))
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("otp: read counters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key string
			c   Count
		)
		if err := rows.Scan(&key, &c.Used, &c.WindowEndsAt); err != nil {
			return nil, fmt.Errorf("otp: read counters: %w", err)
		}
		c.WindowEndsAt = c.WindowEndsAt.UTC()
		out[key] = c
	}
	return out, rows.Err()
}

func (s *SQLStore) Cleanup(ctx context.Context, before time.Time) (int64, error) {
	before = store.Time(before)
	var total int64
	// Batched deletes through each table's expiry index
	// (store.DeleteBatched): sends and verifications never wait on them.
	for _, q := range []struct{ table, where string }{
		{"otp_codes", "expires_at < ?"},
		{"otp_send_counters", "window_ends_at < ?"},
	} {
		n, err := s.db.DeleteBatched(ctx, q.table, q.where, store.CleanupBatch, before)
		total += n
		if err != nil {
			return total, fmt.Errorf("otp: %w", err)
		}
	}
	return total, nil
}

// inTx runs fn in a transaction. On MySQL it uses READ COMMITTED (no gap
// locks, so inserting new counters does not block neighbours) and retries a
// transaction InnoDB chose as a deadlock victim; on SQLite the store's
// IMMEDIATE transactions already serialise writers.
func (s *SQLStore) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	var opts *sql.TxOptions
	if s.db.Dialect == store.MySQL {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	for attempt := 1; ; attempt++ {
		tx, err := s.db.BeginTxx(ctx, opts)
		if err != nil {
			return fmt.Errorf("otp: begin: %w", err)
		}
		err = fn(tx)
		if err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
		if attempt < 4 && isDeadlock(err) {
			continue
		}
		return err
	}
}

func isDeadlock(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1213
}
