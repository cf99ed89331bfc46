package journey_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/journey"
	"wxcas/journey/journeytest"
	"wxcas/store"
	"wxcas/store/storetest"
)

func TestMemStoreConformance(t *testing.T) {
	journeytest.Run(t, func(*testing.T) journey.Store { return journey.NewMemStore() })
}

func TestSQLStoreConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		journeytest.Run(t, func(t *testing.T) journey.Store { return journey.NewSQLStore(storetest.SQLite(t)) })
	})
	t.Run("mysql", func(t *testing.T) {
		journeytest.Run(t, func(t *testing.T) journey.Store { return journey.NewSQLStore(storetest.MySQL(t)) })
	})
}

// An Update inside store.Atomic is one step of the caller's transaction:
// when a later step fails, the journey keeps its state (the binding relies
// on this: a journey must never say Bound for a binding that was rolled
// back).
func TestSQLStoreUpdateJoinsAtomic(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := journey.NewSQLStore(db)
		require.NoError(t, s.Create(ctx, journeytest.Sample("j-atomic", 1)))
		before, err := s.Get(ctx, "j-atomic")
		require.NoError(t, err)

		errLater := errors.New("a later step failed")
		err = db.Atomic(ctx, func(ctx context.Context) error {
			saved, err := s.Update(ctx, "j-atomic", func(j *journey.Journey) error {
				j.State, j.UserID = journey.Bound, "u-rolled-back"
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, before.Version+1, saved.Version)
			// Read through the transaction: the update is there...
			inside, err := s.Get(ctx, "j-atomic")
			require.NoError(t, err)
			require.Equal(t, journey.Bound, inside.State)
			return errLater
		})
		require.ErrorIs(t, err, errLater)

		// ...and rolled back with it.
		got, err := s.Get(ctx, "j-atomic")
		require.NoError(t, err)
		require.Equal(t, before.State, got.State)
		require.Equal(t, before.UserID, got.UserID)
		require.Equal(t, before.Version, got.Version)

		// The same update commits when the transaction does.
		require.NoError(t, db.Atomic(ctx, func(ctx context.Context) error {
			_, err := s.Update(ctx, "j-atomic", func(j *journey.Journey) error { j.State = journey.Bound; return nil })
			return err
		}))
		got, err = s.Get(ctx, "j-atomic")
		require.NoError(t, err)
		require.Equal(t, journey.Bound, got.State)
		require.Equal(t, before.Version+1, got.Version)
	})
}
