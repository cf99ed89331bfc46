package api

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"wxcas/ratelimit"
	"wxcas/store"
)

// limiter counts calls in fixed windows in the database, so limits hold
// across instances. Refused calls count too: hammering does not help.
type limiter struct{ db *store.DB }

// hit counts a call against key and returns how long to wait when the call
// is over the limit (0 when it is allowed).
func (l limiter) hit(ctx context.Context, key string, lim Limit, now time.Time) (time.Duration, error) {
	if lim.Max <= 0 {
		return 0, nil
	}
	var (
		used int
		ends time.Time
	)
	err := l.db.InTx(ctx, func(tx *sqlx.Tx) (err error) {
		used, ends, err = ratelimit.Bump(ctx, tx, l.db.Dialect, "api_rate_counters", key, now, lim.Window)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("api: %w", err)
	}
	if used <= lim.Max {
		return 0, nil
	}
	return max(ends.Sub(store.Time(now)), time.Second), nil
}

// ipSubject is the per-IP counter subject (see ratelimit.IPSubject); an
// address that does not parse is counted as one "invalid" client.
func ipSubject(raw string) string {
	s, err := ratelimit.IPSubject(raw)
	if err != nil {
		return "invalid"
	}
	return s
}
