package challenge

import (
	"context"
	"fmt"
	"time"

	"wxcas/store"
)

// SQLStore is the Store on the pow_challenges table (migration 00055).
type SQLStore struct{ DB *store.DB }

// Spend implements Store: one INSERT that does nothing when the id is
// there (the primary key decides between concurrent callers); its
// affected-row count says which happened.
func (s SQLStore) Spend(ctx context.Context, r Record) (bool, error) {
	q := `INSERT INTO pow_challenges (id, holder, expires_at, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	if s.DB.Dialect == store.MySQL {
		// Without CLIENT_FOUND_ROWS (the driver's default) an unchanged
		// row counts 0: the duplicate is told apart without IGNORE, which
		// would hide other errors too.
		q = `INSERT INTO pow_challenges (id, holder, expires_at, created_at) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE id = id`
	}
	res, err := s.DB.Q(ctx).ExecContext(ctx, q, r.ID, r.Holder, store.Time(r.ExpiresAt), store.Time(r.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("challenge: record redemption: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("challenge: record redemption: %w", err)
	}
	return n == 1, nil
}

// DeleteExpired implements Store, through the pow_challenges_expires index
// (store.DeleteBatched: one short transaction per batch).
func (s SQLStore) DeleteExpired(ctx context.Context, before time.Time, batch int) (int64, error) {
	return s.DB.DeleteBatched(ctx, "pow_challenges", "expires_at <= ?", batch, store.Time(before))
}
