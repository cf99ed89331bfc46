package flow_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/flow"
	"wxcas/store"
	"wxcas/store/storetest"
)

func TestStoreConformance(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := flow.NewStore(db)
		clock := storetest.NewClock()
		key := []byte("k")
		newFlow := func() *flow.Flow {
			return &flow.Flow{
				ID: flow.RandomToken(), BrowserHash: flow.Hash(key, "browser", "nonce"), Step: flow.StepWeChat,
				Request: `{"service":"https://app.example/"}`, StateHash: flow.Hash(key, "state", "st"),
				CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(10 * time.Minute),
			}
		}

		t.Run("create, get, expire", func(t *testing.T) {
			f := newFlow()
			require.NoError(t, s.Create(ctx, f))
			got, err := s.Get(ctx, f.ID, clock.Now())
			require.NoError(t, err)
			require.Equal(t, f.Request, got.Request)
			require.Equal(t, flow.StepWeChat, got.Step)
			require.True(t, got.ExpiresAt.Equal(f.ExpiresAt))
			_, err = s.Get(ctx, f.ID, clock.Now().Add(10*time.Minute))
			require.ErrorIs(t, err, flow.ErrNotFound, "expired flows are gone")
			_, err = s.Get(ctx, "nope", clock.Now())
			require.ErrorIs(t, err, flow.ErrNotFound)
		})

		t.Run("finish deletes the flow once", func(t *testing.T) {
			f := newFlow()
			require.NoError(t, s.Create(ctx, f))
			a, _ := s.Get(ctx, f.ID, clock.Now())
			b, _ := s.Get(ctx, f.ID, clock.Now())
			require.NoError(t, s.Finish(ctx, a))
			require.ErrorIs(t, s.Finish(ctx, b), flow.ErrConflict, "a second completion loses")
			_, err := s.Get(ctx, f.ID, clock.Now())
			require.ErrorIs(t, err, flow.ErrNotFound, "a finished flow is gone at once")
		})

		t.Run("cleanup removes expired flows only", func(t *testing.T) {
			expired, live := newFlow(), newFlow()
			expired.ExpiresAt = clock.Now().Add(-time.Second)
			require.NoError(t, s.Create(ctx, expired))
			require.NoError(t, s.Create(ctx, live))
			_, err := s.Cleanup(ctx, clock.Now())
			require.NoError(t, err)
			var n int
			require.NoError(t, db.Get(&n, db.Rebind(`SELECT COUNT(*) FROM login_flows WHERE id = ?`), expired.ID))
			require.Zero(t, n)
			_, err = s.Get(ctx, live.ID, clock.Now())
			require.NoError(t, err)
		})

		t.Run("update is compare-and-swap", func(t *testing.T) {
			f := newFlow()
			require.NoError(t, s.Create(ctx, f))
			a, _ := s.Get(ctx, f.ID, clock.Now())
			b, _ := s.Get(ctx, f.ID, clock.Now())
			a.Step, a.OpenID = flow.StepBindPhone, "o1"
			require.NoError(t, s.Update(ctx, a))
			b.Step = flow.StepDone
			require.ErrorIs(t, s.Update(ctx, b), flow.ErrConflict, "a stale copy cannot overwrite")
			got, _ := s.Get(ctx, f.ID, clock.Now())
			require.Equal(t, flow.StepBindPhone, got.Step)
			require.Equal(t, "o1", got.OpenID)
			got.Phone = "+8613800138000"
			require.NoError(t, s.Update(ctx, got), "the fresh copy updates")
		})

		t.Run("state is single use under concurrency", func(t *testing.T) {
			f := newFlow()
			require.NoError(t, s.Create(ctx, f))
			require.ErrorIs(t, s.UseState(ctx, f.ID, flow.Hash(key, "state", "wrong"), clock.Now()), flow.ErrStateUsed)
			var wg sync.WaitGroup
			errs := make([]error, 10)
			for i := range errs {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = s.UseState(ctx, f.ID, f.StateHash, clock.Now()) }()
			}
			wg.Wait()
			wins := 0
			for _, err := range errs {
				if err == nil {
					wins++
				} else {
					require.True(t, errors.Is(err, flow.ErrStateUsed), "%v", err)
				}
			}
			require.Equal(t, 1, wins)
		})

		t.Run("expired state refused", func(t *testing.T) {
			f := newFlow()
			require.NoError(t, s.Create(ctx, f))
			require.ErrorIs(t, s.UseState(ctx, f.ID, f.StateHash, clock.Now().Add(11*time.Minute)), flow.ErrStateUsed)
		})

		t.Run("cleanup", func(t *testing.T) {
			f := newFlow()
			require.NoError(t, s.Create(ctx, f))
			n, err := s.Cleanup(ctx, clock.Now().Add(time.Hour))
			require.NoError(t, err)
			require.GreaterOrEqual(t, n, int64(1))
			_, err = s.Get(ctx, f.ID, clock.Now())
			require.ErrorIs(t, err, flow.ErrNotFound)
		})
	})
}

func TestHashAndTokens(t *testing.T) {
	a, b := flow.RandomToken(), flow.RandomToken()
	require.NotEqual(t, a, b)
	require.Len(t, a, 43)
	k := []byte("key")
	require.True(t, flow.HashEqual(flow.Hash(k, "p", "v"), flow.Hash(k, "p", "v")))
	require.False(t, flow.HashEqual(flow.Hash(k, "p", "v"), flow.Hash(k, "q", "v")), "purposes separate")
	require.False(t, flow.HashEqual(flow.Hash(k, "p", "v"), flow.Hash([]byte("other"), "p", "v")))
}
