package account

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/store"
	"wxcas/store/storetest"
)

// The replacements' store on every backend: a state is taken once, by one
// of racing callers, and the clean-up removes only expired rows.
func TestSQLReplacements(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := SQLReplacements{DB: db}
		now := storetest.T0
		row := func(state string, expires time.Time) PendingReplacement {
			return PendingReplacement{StateHash: stateHash(state), SessionKey: "session", UserID: "u1", AppID: "wxapp",
				CreatedAt: now, ExpiresAt: expires}
		}
		require.NoError(t, s.Create(ctx, row("live", now.Add(time.Minute))))
		require.NoError(t, s.Create(ctx, row("old", now.Add(-time.Second))))

		errs := storetest.Race(8, func(int) error { _, err := s.Take(ctx, stateHash("live")); return err })
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				require.ErrorIs(t, err, store.ErrNotFound)
			}
		}
		require.Equal(t, 1, won, "one caller takes the state")

		n, err := s.Cleanup(ctx, now)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		_, err = s.Take(ctx, stateHash("old"))
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}
