package otp_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/store"
)

// TestLoginGap: one login's sends are at least Config.LoginGap apart, so
// requests of one login racing with different numbers send one SMS (an
// outside probe: the journey's loser sent a second, which nobody could
// enter).
func TestLoginGap(t *testing.T) {
	ctx := context.Background()
	backends(t, func(t *testing.T, fresh func(t testing.TB) *store.DB) {
		gap := func(c *otp.Config) { c.LoginGap = 5 * time.Second }
		req := func(i int) otp.SendRequest {
			r := person(i, "192.0.2.100")
			r.Holder, r.Identity = "flow:one", "wx:o-one"
			return r
		}

		t.Run("racing sends of one login send one code", func(t *testing.T) {
			e := otptest.NewEnv(t, otp.NewSQLStore(fresh(t)), gap)
			errs := make([]error, 10)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() { _, errs[i] = e.Svc.Send(ctx, req(i)) })
			}
			wg.Wait()
			sent := 0
			for _, err := range errs {
				if err == nil {
					sent++
					continue
				}
				var le *otp.LimitError
				require.ErrorAs(t, err, &le)
				require.Equal(t, otp.LimitLoginGap, le.Limit)
				require.LessOrEqual(t, le.RetryAfter, 5*time.Second)
			}
			require.Equal(t, 1, sent)
			require.Equal(t, 1, e.Outbox.Total())
		})

		t.Run("another number after the gap; another login at once", func(t *testing.T) {
			e := otptest.NewEnv(t, otp.NewSQLStore(fresh(t)), gap)
			_, err := e.Svc.Send(ctx, req(1))
			require.NoError(t, err)
			_, err = e.Svc.Send(ctx, req(2))
			require.ErrorIs(t, err, otp.ErrRateLimited)
			_, err = e.Svc.Send(ctx, req(1))
			var le *otp.LimitError
			require.ErrorAs(t, err, &le)
			require.Equal(t, otp.LimitCooldown, le.Limit, "the longest wait is named")
			require.Equal(t, 5*time.Second, le.Gap, "and the gap's, a double submission's sign")
			_, err = e.Svc.Send(ctx, person(3, "192.0.2.100"))
			require.NoError(t, err, "the gap is the login's, not the address's")
			e.Clock.Advance(5 * time.Second)
			_, err = e.Svc.Send(ctx, req(2))
			require.NoError(t, err, "a corrected number after the gap")
		})

		t.Run("a number refused as not eligible does not hold the gap", func(t *testing.T) {
			e := otptest.NewEnv(t, otp.NewSQLStore(fresh(t)), gap)
			refused := req(1)
			refused.Eligible = func(context.Context) error { return errors.New("bound elsewhere") }
			_, err := e.Svc.Send(ctx, refused)
			require.Error(t, err)
			_, err = e.Svc.Send(ctx, req(2))
			require.NoError(t, err, "the person types another number at once")
		})

		t.Run("no challenge is asked for a send the gap refuses", func(t *testing.T) {
			// Solving only to be told to wait (and the solution used up):
			// an outside probe.
			e := challengeEnv(t, fresh(t), func(c *otp.Config, cc *otp.ChallengeConfig) { gap(c); cheapWork(c, cc) })
			for i := range 2 { // the address's unconfirmed codes reach the threshold
				_, err := e.Svc.Send(ctx, person(10+i, "192.0.2.100"))
				require.NoError(t, err)
			}
			asked, err := sendSolving(ctx, e.Svc, req(1))
			require.NoError(t, err)
			require.True(t, asked)
			_, err = e.Svc.Send(ctx, req(2))
			var le *otp.LimitError
			require.ErrorAs(t, err, &le, "refused by the gap, not asked for a challenge")
			require.Equal(t, otp.LimitLoginGap, le.Limit)
			c, err := e.Svc.ChallengeFor(ctx, req(2))
			require.NoError(t, err)
			require.NotNil(t, c, "the page still offers the challenge for the send after the gap")
			w, err := e.Svc.WaitFor(ctx, req(2).Phone, req(2).IP, req(2).Identity)
			require.NoError(t, err)
			require.Zero(t, w, "no wait shown for the gap")
		})

		t.Run("no gap without a cooldown", func(t *testing.T) {
			e := otptest.NewEnv(t, otp.NewSQLStore(fresh(t)), func(c *otp.Config) { gap(c); c.Cooldown = 0 })
			for i := range 3 {
				_, err := e.Svc.Send(ctx, req(i))
				require.NoError(t, err)
			}
		})
	})
}
