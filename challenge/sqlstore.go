package challenge

import (
	"context"
	"fmt"
	"time"

	"wxcas/store"
)

// SQLStore is the Store on the pow_challenges table (migration 00055).
type SQLStore struct{ DB *store.DB }

// Put implements Store.
func (s SQLStore) Put(ctx context.Context, r Record) error {
	_, err := s.DB.Q(ctx).ExecContext(ctx, s.DB.Rebind(`INSERT INTO pow_challenges (id, holder, expires_at, created_at) VALUES (?, ?, ?, ?)`),
		r.ID, r.Holder, store.Time(r.ExpiresAt), store.Time(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("challenge: store challenge: %w", err)
	}
	return nil
}

// Take implements Store: one DELETE, whose affected-row count decides
// which of concurrent callers wins.
func (s SQLStore) Take(ctx context.Context, id, holder string, now time.Time) (bool, error) {
	res, err := s.DB.Q(ctx).ExecContext(ctx, s.DB.Rebind(`DELETE FROM pow_challenges WHERE id = ? AND holder = ? AND expires_at > ?`),
		id, holder, store.Time(now))
	if err != nil {
		return false, fmt.Errorf("challenge: take challenge: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("challenge: take challenge: %w", err)
	}
	return n == 1, nil
}

// DeleteExpired implements Store, through the pow_challenges_expires index
// (store.DeleteBatched: one short transaction per batch).
func (s SQLStore) DeleteExpired(ctx context.Context, before time.Time, batch int) (int64, error) {
	return s.DB.DeleteBatched(ctx, "pow_challenges", "expires_at <= ?", batch, store.Time(before))
}
