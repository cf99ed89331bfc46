package otp_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/store/storetest"
)

// twoInstances returns two services, each with its own store handle (its own
// connection pool) over one MySQL database, sharing a clock: two wxcas
// instances behind a load balancer.
func twoInstances(t *testing.T, tune func(*otp.Config)) (a, b *otptest.Env) {
	t.Helper()
	dsn := storetest.NewMySQLDatabase(t)
	clock := storetest.NewClock()
	a = otptest.NewEnvWithClock(t, otp.NewSQLStore(storetest.OpenMySQL(t, dsn)), clock, tune)
	b = otptest.NewEnvWithClock(t, otp.NewSQLStore(storetest.OpenMySQL(t, dsn)), clock, tune)
	return a, b
}

func TestTwoInstancesShareLimits(t *testing.T) {
	ctx := context.Background()
	p := otptest.Phone(1)

	t.Run("cooldown and hourly limit across instances", func(t *testing.T) {
		a, b := twoInstances(t, nil)
		_, err := a.Svc.Send(ctx, otptest.SendReq(p))
		require.NoError(t, err)
		_, err = b.Svc.Send(ctx, otptest.SendReq(p))
		requireLimit(t, err, otp.LimitCooldown, time.Minute)

		// Alternate instances a minute apart: 5 sends in all, then refused.
		sent := 1
		for i := range 9 {
			a.Clock.Advance(time.Minute)
			env := []*otptest.Env{b, a}[i%2]
			if _, err := env.Svc.Send(ctx, otptest.SendReq(p)); err == nil {
				sent++
			} else {
				requireLimit(t, err, otp.LimitPhoneHour, time.Hour-time.Duration(i+1)*time.Minute)
			}
		}
		require.Equal(t, 5, sent)
		require.Equal(t, 5, a.Outbox.Count(p)+b.Outbox.Count(p))
	})

	t.Run("parallel sends split over instances", func(t *testing.T) {
		a, b := twoInstances(t, func(c *otp.Config) { c.Cooldown = 0 })
		var ok atomic.Int32
		parallelN(20, func(i int) {
			env := []*otptest.Env{a, b}[i%2]
			if _, err := env.Svc.Send(ctx, otptest.SendReq(p)); err == nil {
				ok.Add(1)
			}
		})
		require.EqualValues(t, 5, ok.Load())
	})

	t.Run("global budget across instances", func(t *testing.T) {
		a, b := twoInstances(t, func(c *otp.Config) { c.GlobalDay = 4 })
		var ok, exhausted atomic.Int32
		parallelN(20, func(i int) {
			env := []*otptest.Env{a, b}[i%2]
			_, err := env.Svc.Send(ctx, otp.SendRequest{Phone: otptest.Phone(i), IP: "192.0.2.9", Purpose: otptest.Purpose, Holder: otptest.Holder})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, otp.ErrBudgetExhausted):
				exhausted.Add(1)
			}
		})
		require.EqualValues(t, 4, ok.Load())
		require.EqualValues(t, 16, exhausted.Load())
	})

	t.Run("a code sent by one instance verifies once on the other", func(t *testing.T) {
		a, b := twoInstances(t, nil)
		code := a.Send(t, otptest.SendReq(p))
		require.ErrorIs(t, b.Verify(p, otptest.Wrong(code)), otp.ErrMismatch)
		require.NoError(t, b.Verify(p, code))
		require.ErrorIs(t, a.Verify(p, code), otp.ErrNoCode)
	})

	t.Run("parallel verifications over both instances: exactly one wins", func(t *testing.T) {
		a, b := twoInstances(t, func(c *otp.Config) { c.MaxAttempts = 20 })
		code := a.Send(t, otptest.SendReq(p))
		var wins atomic.Int32
		parallelN(20, func(i int) {
			if []*otptest.Env{a, b}[i%2].Verify(p, code) == nil {
				wins.Add(1)
			}
		})
		require.EqualValues(t, 1, wins.Load())
	})
}

func requireLimit(t testing.TB, err error, limit string, retryAfter time.Duration) {
	t.Helper()
	var le *otp.LimitError
	require.True(t, errors.As(err, &le), "want a *LimitError for %s, got %v", limit, err)
	require.Equal(t, limit, le.Limit)
	require.Equal(t, retryAfter, le.RetryAfter)
}

func parallelN(n int, fn func(i int)) {
	start := make(chan struct{})
	done := make(chan struct{}, n)
	for i := range n {
		go func() {
			<-start
			fn(i)
			done <- struct{}{}
		}()
	}
	close(start)
	for range n {
		<-done
	}
}
