// Package ratelimit is the fixed-window counter every wxcas limit is built
// on (SMS sends, API calls): counted in the database so that all instances
// share one count, one atomic upsert per call.
//
// A counter table has the columns counter_key (primary key), used (int) and
// window_ends_at (datetime); each feature keeps its own table.
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
// it has ended, and returns the count and the end of the window. Call it in a
// transaction: the upsert's row lock, held until commit, makes the count read
// back this call's, across instances.
func Bump(ctx context.Context, tx *sqlx.Tx, dialect store.Dialect, table, key string, now time.Time, window time.Duration) (used int, ends time.Time, err error) {
	now = store.Time(now)
	newEnd := now.Add(window)
	upsert := `INSERT INTO ` + table + ` (counter_key, used, window_ends_at) VALUES (?, 1, ?)
		ON CONFLICT (counter_key) DO UPDATE SET
		  used = CASE WHEN window_ends_at <= ? THEN 1 ELSE used + 1 END,
		  window_ends_at = CASE WHEN window_ends_at <= ? THEN excluded.window_ends_at ELSE window_ends_at END`
	args := []any{key, newEnd, now, now}
	if dialect == store.MySQL {
		// MySQL assigns left to right, later expressions seeing earlier
		// assignments: used (which reads the old window) goes first.
		upsert = `INSERT INTO ` + table + ` (counter_key, used, window_ends_at) VALUES (?, 1, ?)
			ON DUPLICATE KEY UPDATE
			  used = IF(window_ends_at <= ?, 1, used + 1),
			  window_ends_at = IF(window_ends_at <= ?, ?, window_ends_at)`
		args = append(args, newEnd)
	}
	if _, err := tx.ExecContext(ctx, upsert, args...); err != nil {
		return 0, time.Time{}, fmt.Errorf("count %s: %w", table, err)
	}
	err = tx.QueryRowxContext(ctx, `SELECT used, window_ends_at FROM `+table+` WHERE counter_key = ?`, key).Scan(&used, &ends)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count %s: %w", table, err)
	}
	return used, ends.UTC(), nil
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
