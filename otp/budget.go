package otp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"wxcas/ratelimit"
	"wxcas/store"
)

// Budget is the global daily SMS budget (Config.GlobalDay) as every
// instance sees it: its counter lives in the database, in a window that
// opens at the first send and lasts a day.
type Budget struct {
	// Max is Config.GlobalDay; 0: the budget is off.
	Max int
	// Used is the sends counted in the window open now (0 when none is).
	Used int
	// WindowEndsAt is when that window ends (zero when none is open).
	WindowEndsAt time.Time
}

// counterReader is a Store that can read a send counter without counting
// (SQLStore).
type counterReader interface {
	Counter(ctx context.Context, key string, now time.Time) (used int, ends time.Time, err error)
}

// ErrNoCounterRead: the Store cannot read its counters.
var ErrNoCounterRead = errors.New("otp: the store cannot read its counters")

// Budget reads the global budget's counter. It counts nothing: metrics
// read it at every scrape.
func (s *Service) Budget(ctx context.Context) (Budget, error) {
	b := Budget{Max: s.cfg.GlobalDay}
	if b.Max <= 0 {
		return b, nil
	}
	r, ok := s.store.(counterReader)
	if !ok {
		return b, ErrNoCounterRead
	}
	used, ends, err := r.Counter(ctx, ratelimit.Key(LimitGlobalDay, ""), s.now())
	if err != nil {
		return b, err
	}
	b.Used, b.WindowEndsAt = used, ends
	return b, nil
}

// Counter returns a send counter's count in the window open at now: 0 and
// a zero time when its window has ended or it never counted.
func (s *SQLStore) Counter(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	var r struct {
		Used int       `db:"used"`
		Ends time.Time `db:"window_ends_at"`
	}
	err := s.db.GetContext(ctx, &r, s.db.Rebind(`SELECT used, window_ends_at FROM otp_send_counters WHERE counter_key = ?`), key)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("otp: read counter: %w", err)
	}
	if !r.Ends.After(store.Time(now)) {
		return 0, time.Time{}, nil
	}
	return r.Used, r.Ends.UTC(), nil
}
