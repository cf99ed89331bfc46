package otptest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/otp"
)

// runConcurrency checks that concurrent requests cannot beat the limits.
func runConcurrency(t *testing.T, newStore func(t *testing.T) otp.Store) {
	ctx := context.Background()
	const n = 20

	for _, maxAttempts := range []int{5, 20} {
		t.Run(fmt.Sprintf("parallel verifications of one code: exactly one wins (max attempts %d)", maxAttempts), func(t *testing.T) {
			e := NewEnv(t, newStore(t), func(c *otp.Config) { c.MaxAttempts = maxAttempts })
			code := e.Send(t, SendReq(Phone(1)))
			var wins, used, burned atomic.Int32
			parallel(n, func(int) {
				err := e.Verify(Phone(1), code)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, otp.ErrNoCode):
					used.Add(1)
				case errors.Is(err, otp.ErrTooManyAttempts):
					burned.Add(1)
				default:
					t.Errorf("unexpected error: %v", err)
				}
			})
			require.EqualValues(t, 1, wins.Load(), "used=%d burned=%d", used.Load(), burned.Load())
			require.EqualValues(t, n-1, used.Load()+burned.Load())
			c, err := e.StoredCode(Phone(1))
			require.NoError(t, err)
			require.LessOrEqual(t, c.Attempts, maxAttempts)
		})
	}

	t.Run("parallel wrong guesses never exceed the attempt limit", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		code := e.Send(t, SendReq(Phone(1)))
		var mismatches atomic.Int32
		parallel(n, func(int) {
			if errors.Is(e.Verify(Phone(1), Wrong(code)), otp.ErrMismatch) {
				mismatches.Add(1)
			}
		})
		require.EqualValues(t, 5, mismatches.Load(), "exactly MaxAttempts guesses are compared")
		require.ErrorIs(t, e.Verify(Phone(1), code), otp.ErrTooManyAttempts)
	})

	t.Run("parallel sends to one phone: the hourly limit holds", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.Cooldown = 0 })
		var ok, limited atomic.Int32
		parallel(n, func(int) {
			_, err := e.Svc.Send(ctx, SendReq(Phone(1)))
			switch le := (*otp.LimitError)(nil); {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &le) && le.Limit == otp.LimitPhoneHour:
				limited.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		})
		require.EqualValues(t, 5, ok.Load())
		require.EqualValues(t, n-5, limited.Load())
		require.Equal(t, 5, e.Outbox.Count(Phone(1)))
	})

	t.Run("parallel sends to one phone: the cooldown lets one through", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		var ok atomic.Int32
		parallel(n, func(int) {
			if _, err := e.Svc.Send(ctx, SendReq(Phone(1))); err == nil {
				ok.Add(1)
			}
		})
		require.EqualValues(t, 1, ok.Load())
	})

	t.Run("parallel sends from many phones: IP and global limits hold", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.PerIPHour = 7; c.GlobalDay = 12 })
		var ok atomic.Int32
		parallel(3*n, func(i int) {
			ip := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}[i%3]
			if _, err := e.Svc.Send(ctx, otp.SendRequest{Phone: Phone(i), IP: ip, Purpose: Purpose, Holder: Holder}); err == nil {
				ok.Add(1)
			}
		})
		require.EqualValues(t, 12, ok.Load(), "min(3 IPs × 7, budget 12)")
	})

	t.Run("parallel failing sends give every counter back", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.Cooldown = 0 })
		e.Outbox.Fail(errors.New("provider down"))
		parallel(n, func(int) { _, _ = e.Svc.Send(ctx, SendReq(Phone(1))) })
		e.Outbox.Fail(nil)
		for range 5 {
			e.Send(t, SendReq(Phone(1)))
		}
		_, err := e.Svc.Send(ctx, SendReq(Phone(1)))
		requireLimit(t, err, otp.LimitPhoneHour, time.Hour)
	})
}
