// Package ratelimit is the fixed-window counter every wxcas limit is built
// on (SMS sends, API calls, browser logins): counted in the database so that
// all instances share one count, one atomic upsert per call.
//
// A counter table has the columns counter_key (primary key), used (int) and
// window_ends_at (datetime, indexed for the clean-up); each feature keeps
// its own table. Bump is the counter; Limiter is a limit of calls on it.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"wxcas/store"
)

// Bump adds one call to the counter key in table, restarting the window when
// it has ended, and returns the count and the end of the window. It is one
// atomic upsert that answers the count itself where the server can (SQLite,
// MariaDB: INSERT ... RETURNING), so no transaction is needed for the count
// to be this call's; on MySQL the count comes back through LAST_INSERT_ID
// and the window's end is read after it (under q's transaction, when the
// caller needs the pair consistent, as the OTP send limits do).
func Bump(ctx context.Context, q sqlx.ExtContext, db *store.DB, table, key string, now time.Time, window time.Duration) (used int, ends time.Time, err error) {
	used, ends, err = count(ctx, q, db, table, key, 1, now, window)
	if err != nil || !ends.IsZero() {
		return used, ends, err
	}
	ends, err = windowEnd(ctx, q, table, key)
	return used, ends, err
}

// count is Bump of n calls in one statement; ends is zero when the server
// could not return it with the count (MySQL).
func count(ctx context.Context, q sqlx.ExtContext, db *store.DB, table, key string, n int, now time.Time, window time.Duration) (used int, ends time.Time, err error) {
	now = store.Time(now)
	newEnd := now.Add(window)
	if db.Dialect == store.MySQL {
		// MySQL assigns left to right, later expressions seeing earlier
		// assignments: used (which reads the old window) goes first.
		// LAST_INSERT_ID(expr) hands the new count back in the statement's
		// own reply; a fresh row (one row affected) counts 1.
		upsert := `INSERT INTO ` + table + ` (counter_key, used, window_ends_at) VALUES (?, ?, ?)
			ON DUPLICATE KEY UPDATE
			  used = LAST_INSERT_ID(IF(window_ends_at <= ?, ?, used + ?)),
			  window_ends_at = IF(window_ends_at <= ?, ?, window_ends_at)`
		args := []any{key, n, newEnd, now, n, n, now, newEnd}
		if db.Returning {
			// MariaDB returns the row as the upsert left it.
			var r struct {
				Used int       `db:"used"`
				Ends time.Time `db:"window_ends_at"`
			}
			err := sqlx.GetContext(ctx, q, &r, upsert+` RETURNING used, window_ends_at`, args...)
			if err != nil {
				return 0, time.Time{}, fmt.Errorf("count %s: %w", table, err)
			}
			return r.Used, r.Ends.UTC(), nil
		}
		res, err := q.ExecContext(ctx, upsert, args...)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("count %s: %w", table, err)
		}
		affected, err := res.RowsAffected()
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("count %s: %w", table, err)
		}
		if affected == 1 {
			return n, newEnd, nil
		}
		n, err := res.LastInsertId()
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("count %s: %w", table, err)
		}
		return int(n), time.Time{}, nil
	}
	var r struct {
		Used int       `db:"used"`
		Ends time.Time `db:"window_ends_at"`
	}
	err = sqlx.GetContext(ctx, q, &r, `INSERT INTO `+table+` (counter_key, used, window_ends_at) VALUES (?, ?, ?)
		ON CONFLICT (counter_key) DO UPDATE SET
		  used = CASE WHEN window_ends_at <= ? THEN excluded.used ELSE used + excluded.used END,
		  window_ends_at = CASE WHEN window_ends_at <= ? THEN excluded.window_ends_at ELSE window_ends_at END
		RETURNING used, window_ends_at`, key, n, newEnd, now, now)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count %s: %w", table, err)
	}
	return r.Used, r.Ends.UTC(), nil
}

func windowEnd(ctx context.Context, q sqlx.QueryerContext, table, key string) (time.Time, error) {
	var ends time.Time
	if err := sqlx.GetContext(ctx, q, &ends, `SELECT window_ends_at FROM `+table+` WHERE counter_key = ?`, key); err != nil {
		return time.Time{}, fmt.Errorf("count %s: %w", table, err)
	}
	return ends.UTC(), nil
}

// Limit is a fixed-window rate limit: at most Max calls per Window. Max 0
// turns the limit off. It is written in config.yaml as {max: 60, window: 1m}.
type Limit struct {
	Max    int           `yaml:"max"`
	Window time.Duration `yaml:"window"`
}

// Problems lists what is wrong with the limit, under its key path (such as
// "api.login_per_ip"), in check-config's form.
func (l Limit) Problems(path string) []string {
	var p []string
	if l.Max < 0 {
		p = append(p, fmt.Sprintf("%s.max: %d must not be negative (0 turns the limit off)", path, l.Max))
	}
	if l.Max > 0 && (l.Window < time.Second || l.Window > 24*time.Hour) {
		p = append(p, fmt.Sprintf("%s.window: %v must be between 1s and 24h", path, l.Window))
	}
	return p
}

// Limiter counts calls against limits in Table, a counter table of its
// own. Refused calls count too: hammering does not shorten the wait.
type Limiter struct {
	DB    *store.DB
	Table string
}

// Hit counts one call against key and returns how long to wait when the
// call is over lim (0 when it is allowed; at least a second otherwise, so a
// Retry-After never says 0). A limit with Max 0 counts nothing.
func (l Limiter) Hit(ctx context.Context, key string, lim Limit, now time.Time) (wait time.Duration, err error) {
	return l.HitN(ctx, key, 1, lim, now)
}

// HitN is Hit for n calls at once (a call that stands for the next ones it
// will surely lead to, counted in the same statement).
func (l Limiter) HitN(ctx context.Context, key string, n int, lim Limit, now time.Time) (wait time.Duration, err error) {
	if lim.Max <= 0 {
		return 0, nil
	}
	// One statement, no transaction: the upsert is atomic on its own.
	used, ends, err := count(ctx, l.DB.P(ctx), l.DB, l.Table, key, n, now, lim.Window)
	if err != nil {
		return 0, err
	}
	if used <= lim.Max {
		return 0, nil
	}
	if ends.IsZero() {
		// Over the limit on MySQL: the wait needs the window's end.
		if ends, err = windowEnd(ctx, l.DB.Q(ctx), l.Table, key); err != nil {
			return 0, err
		}
	}
	return max(ends.Sub(store.Time(now)), time.Second), nil
}

// Cleanup deletes the counters whose window ended before now, in batches
// through the window_ends_at index (store.DeleteBatched), so that counting
// never waits on it.
func (l Limiter) Cleanup(ctx context.Context, now time.Time) (int64, error) {
	return l.DB.DeleteBatched(ctx, l.Table, "window_ends_at < ?", store.CleanupBatch, store.Time(now))
}

// Key is "name:subject" (just name without a subject), long subjects hashed
// so the key fits the key column.
func Key(name, subject string) string {
	if subject == "" {
		return name
	}
	if len(name)+1+len(subject) > 150 {
		sum := sha256.Sum256([]byte(subject))
		subject = "sha256:" + hex.EncodeToString(sum[:])
	}
	return name + ":" + subject
}

// IPSubject is the per-IP counter subject: the IPv4 address, or the /64 of an
// IPv6 address, since one IPv6 client typically controls a whole /64.
func IPSubject(raw string) (string, error) {
	addr, err := netip.ParseAddr(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("client IP %q is not an IP address", raw)
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String(), nil
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return "", fmt.Errorf("client IP %q: %w", raw, err)
	}
	return p.String(), nil
}

// ClientSubject is IPSubject for a limit on clients: an address that does
// not parse (a misconfigured proxy) is counted as the one client "invalid"
// rather than escaping the limit.
func ClientSubject(raw string) string {
	s, err := IPSubject(raw)
	if err != nil {
		return "invalid"
	}
	return s
}
