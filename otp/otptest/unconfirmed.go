package otptest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/otp"
)

// otherLogin is SendReq for another login (Other) at the same address.
func otherLogin(p otp.Phone) otp.SendRequest {
	r := SendReq(p)
	r.Holder = Other
	return r
}

// runUnconfirmed checks Store.Counts and the unconfirmed-codes count: a code
// entered gives its send back to its address, one never entered does not.
func runUnconfirmed(t *testing.T, newStore func(t *testing.T) otp.Store) {
	ctx := context.Background()
	ipKey := "ip_unconfirmed:192.0.2.1"

	t.Run("counts read without counting", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		e.Send(t, SendReq(Phone(1)))
		counts, err := e.Store.Counts(ctx, e.Clock.Now(), []string{ipKey, "ip_hour:192.0.2.1", "nobody"})
		require.NoError(t, err)
		require.Equal(t, 1, counts[ipKey].Used)
		require.Equal(t, 1, counts["ip_hour:192.0.2.1"].Used)
		require.NotContains(t, counts, "nobody")
		again, err := e.Store.Counts(ctx, e.Clock.Now(), []string{ipKey})
		require.NoError(t, err)
		require.Equal(t, counts[ipKey], again[ipKey], "reading changes nothing")
		e.Clock.Advance(time.Hour)
		ended, err := e.Store.Counts(ctx, e.Clock.Now(), []string{ipKey})
		require.NoError(t, err)
		require.Empty(t, ended, "a window that ended is not counted")
	})

	t.Run("a right code gives its send back", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.PerIPUnconfirmedHour = 2 })
		code := e.Send(t, SendReq(Phone(1)))
		e.Send(t, otherLogin(Phone(2)))
		_, err := e.Svc.Send(ctx, otherLogin(Phone(3)))
		requireLimit(t, err, otp.LimitIPUnconfirmed, time.Hour)

		require.Error(t, e.Verify(Phone(1), Wrong(code)), "a wrong code confirms nothing")
		_, err = e.Svc.Send(ctx, otherLogin(Phone(3)))
		requireLimit(t, err, otp.LimitIPUnconfirmed, time.Hour)

		require.NoError(t, e.Verify(Phone(1), code))
		e.Send(t, otherLogin(Phone(3)))
		counts, err := e.Store.Counts(ctx, e.Clock.Now(), []string{ipKey, "ip_hour:192.0.2.1"})
		require.NoError(t, err)
		require.Equal(t, 2, counts[ipKey].Used)
		require.Equal(t, 3, counts["ip_hour:192.0.2.1"].Used, "the hard per-address count keeps every send")
	})

	t.Run("a code confirmed after its window does not touch the next one", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.TTL = time.Hour })
		e.Send(t, otherLogin(Phone(2)))
		e.Clock.Advance(30 * time.Minute)
		code := e.Send(t, SendReq(Phone(1))) // counted in the first window
		e.Clock.Advance(30*time.Minute + time.Second)
		e.Send(t, otherLogin(Phone(3))) // opens the next window
		require.NoError(t, e.Verify(Phone(1), code), "still inside its TTL")
		counts, err := e.Store.Counts(ctx, e.Clock.Now(), []string{ipKey})
		require.NoError(t, err)
		require.Equal(t, 1, counts[ipKey].Used, "the next window keeps its send")
	})

	t.Run("a right code entered twice gives back once", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		e.Send(t, otherLogin(Phone(1)))
		code := e.Send(t, SendReq(Phone(2)))
		for range 2 {
			_, err := e.Svc.Check(ctx, otp.VerifyRequest{Phone: Phone(2), Purpose: Purpose, Holder: Holder, Code: code})
			require.NoError(t, err)
		}
		counts, err := e.Store.Counts(ctx, e.Clock.Now(), []string{ipKey})
		require.NoError(t, err)
		require.Equal(t, 1, counts[ipKey].Used)
	})

	t.Run("the right code gives back its number's sends; the login's mistyped number waits for ConfirmLogin", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.Cooldown = 0 })
		e.Send(t, SendReq(Phone(9))) // a mistyped number: never entered
		e.Send(t, SendReq(Phone(1)))
		e.Send(t, SendReq(Phone(1)))
		code := e.Send(t, SendReq(Phone(1))) // resent twice
		e.Send(t, otherLogin(Phone(5)))      // someone else's login at the same address
		used := func() int {
			counts, err := e.Store.Counts(ctx, e.Clock.Now(), []string{ipKey})
			require.NoError(t, err)
			return counts[ipKey].Used
		}
		require.Equal(t, 5, used())
		c, err := e.StoredCode(Phone(1))
		require.NoError(t, err)
		require.Equal(t, 3, c.ConfirmSends, "a resend replaces the code, not the count")

		require.NoError(t, e.Verify(Phone(1), code))
		require.Equal(t, 2, used(), "the number's three sends given back; the typo and the other login's stay")
		e.Svc.ConfirmLogin(ctx, Holder, Purpose)
		require.Equal(t, 1, used(), "the login completed: its typo too")
		e.Svc.ConfirmLogin(ctx, Holder, Purpose)
		require.Equal(t, 1, used(), "once")
	})

	t.Run("a login's other numbers give back one send", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		for i := range 3 {
			e.Send(t, SendReq(Phone(10+i)))
		}
		e.Svc.ConfirmLogin(ctx, Holder, Purpose)
		counts, err := e.Store.Counts(ctx, e.Clock.Now(), []string{ipKey})
		require.NoError(t, err)
		require.Equal(t, 2, counts[ipKey].Used, "a typo, not a pump's strangers")
	})

	t.Run("stored code keeps its confirm window", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		e.Send(t, SendReq(Phone(1)))
		c, err := e.StoredCode(Phone(1))
		require.NoError(t, err)
		require.Equal(t, ipKey, c.ConfirmKey)
		require.Equal(t, 1, c.ConfirmSends)
		require.True(t, c.ConfirmEnds.Equal(e.Clock.Now().Add(time.Hour)), "%v", c.ConfirmEnds)
	})
}
