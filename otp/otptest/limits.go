package otptest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/otp"
)

// runLimits checks every send limit through otp.Service, with the clock
// deciding windows and RetryAfter.
func runLimits(t *testing.T, newStore func(t *testing.T) otp.Store) {
	ctx := context.Background()
	send := func(e *Env, req otp.SendRequest) error {
		_, err := e.Svc.Send(ctx, req)
		return err
	}
	// ip returns a distinct client IP for i.
	ip := func(i int) string { return fmt.Sprintf("198.51.%d.%d", i/250, i%250+1) }

	t.Run("cooldown", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		require.NoError(t, send(e, SendReq(Phone(1))))
		e.Clock.Advance(59 * time.Second)
		err := send(e, SendReq(Phone(1)))
		requireLimit(t, err, otp.LimitCooldown, time.Second)
		require.ErrorIs(t, err, otp.ErrRateLimited)
		require.NotErrorIs(t, err, otp.ErrBudgetExhausted)
		require.NoError(t, send(e, SendReq(Phone(2))), "the cooldown is per phone")
		e.Clock.Advance(time.Second)
		require.NoError(t, send(e, SendReq(Phone(1))))
		require.Equal(t, 2, e.Outbox.Count(Phone(1)))
	})

	t.Run("per phone per hour", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		for range 5 {
			require.NoError(t, send(e, SendReq(Phone(1))))
			e.Clock.Advance(time.Minute)
		}
		err := send(e, SendReq(Phone(1)))
		requireLimit(t, err, otp.LimitPhoneHour, 55*time.Minute)
		e.Clock.Advance(55*time.Minute - time.Second)
		requireLimit(t, send(e, SendReq(Phone(1))), otp.LimitPhoneHour, time.Second)
		e.Clock.Advance(time.Second)
		require.NoError(t, send(e, SendReq(Phone(1))))
	})

	t.Run("per phone per day", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		for range 2 {
			for range 5 {
				require.NoError(t, send(e, SendReq(Phone(1))))
				e.Clock.Advance(time.Minute)
			}
			e.Clock.Advance(time.Hour)
		}
		// 10 sends; the day window opened 2h10m ago.
		err := send(e, SendReq(Phone(1)))
		requireLimit(t, err, otp.LimitPhoneDay, 24*time.Hour-2*time.Hour-10*time.Minute)
		e.Clock.Advance(24*time.Hour - 2*time.Hour - 10*time.Minute)
		require.NoError(t, send(e, SendReq(Phone(1))))
	})

	t.Run("per IP per hour", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.PerIPHour, c.PerIPUnconfirmedHour = 20, 0 })
		for i := range 20 {
			require.NoError(t, send(e, otp.SendRequest{Phone: Phone(i), IP: "203.0.113.7", Purpose: Purpose, Holder: Holder}))
		}
		e.Clock.Advance(10 * time.Minute)
		err := send(e, otp.SendRequest{Phone: Phone(99), IP: "203.0.113.7", Purpose: Purpose, Holder: Holder})
		requireLimit(t, err, otp.LimitIPHour, 50*time.Minute)
		require.NoError(t, send(e, otp.SendRequest{Phone: Phone(99), IP: "203.0.113.8", Purpose: Purpose, Holder: Holder}), "other IPs are not affected")
	})

	t.Run("per IP counts an IPv6 /64 as one client", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.PerIPHour = 2 })
		require.NoError(t, send(e, otp.SendRequest{Phone: Phone(1), IP: "2001:db8:1:2::1", Purpose: Purpose, Holder: Holder}))
		require.NoError(t, send(e, otp.SendRequest{Phone: Phone(2), IP: "2001:db8:1:2:ffff::9", Purpose: Purpose, Holder: Holder}))
		requireLimit(t, send(e, otp.SendRequest{Phone: Phone(3), IP: "2001:db8:1:2::abcd", Purpose: Purpose, Holder: Holder}), otp.LimitIPHour, time.Hour)
		require.NoError(t, send(e, otp.SendRequest{Phone: Phone(3), IP: "2001:db8:1:3::1", Purpose: Purpose, Holder: Holder}))
		// An IPv4-mapped address is the IPv4 client.
		require.NoError(t, send(e, otp.SendRequest{Phone: Phone(4), IP: "192.0.2.50", Purpose: Purpose, Holder: Holder}))
		require.NoError(t, send(e, otp.SendRequest{Phone: Phone(5), IP: "::ffff:192.0.2.50", Purpose: Purpose, Holder: Holder}))
		requireLimit(t, send(e, otp.SendRequest{Phone: Phone(6), IP: "192.0.2.50", Purpose: Purpose, Holder: Holder}), otp.LimitIPHour, time.Hour)
	})

	t.Run("per WeChat identity per day", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		for i := range 10 {
			require.NoError(t, send(e, otp.SendRequest{Phone: Phone(i), IP: ip(i), Identity: "wx:unionid-1", Purpose: Purpose, Holder: Holder}))
			e.Clock.Advance(time.Minute)
		}
		err := send(e, otp.SendRequest{Phone: Phone(50), IP: ip(50), Identity: "wx:unionid-1", Purpose: Purpose, Holder: Holder})
		requireLimit(t, err, otp.LimitIdentityDay, 24*time.Hour-10*time.Minute)
		require.NoError(t, send(e, otp.SendRequest{Phone: Phone(50), IP: ip(50), Identity: "wx:unionid-2", Purpose: Purpose, Holder: Holder}))
		// A very long identity still works (it is hashed into the key).
		long := "wx:" + strings.Repeat("x", 500)
		require.NoError(t, send(e, otp.SendRequest{Phone: Phone(51), IP: ip(51), Identity: long, Purpose: Purpose, Holder: Holder}))
	})

	t.Run("global daily budget", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.GlobalDay = 3 })
		for i := range 3 {
			require.NoError(t, send(e, otp.SendRequest{Phone: Phone(i), IP: ip(i), Purpose: Purpose, Holder: Holder}))
		}
		require.Contains(t, e.Log.String(), "BUDGET REACHED")
		e.Clock.Advance(time.Hour)
		for i := range 3 {
			err := send(e, otp.SendRequest{Phone: Phone(10 + i), IP: ip(10 + i), Purpose: Purpose, Holder: Holder})
			requireLimit(t, err, otp.LimitGlobalDay, 23*time.Hour)
			require.ErrorIs(t, err, otp.ErrBudgetExhausted)
			require.NotErrorIs(t, err, otp.ErrRateLimited)
		}
		require.Equal(t, 1, strings.Count(e.Log.String(), "BUDGET EXHAUSTED"), "logged loudly, once per window")
		require.Contains(t, e.Log.String(), "level=ERROR")

		e.Clock.Advance(23 * time.Hour)
		require.NoError(t, send(e, otp.SendRequest{Phone: Phone(20), IP: ip(20), Purpose: Purpose, Holder: Holder}), "a new window opens")
	})

	t.Run("failed provider sends still count against the budget", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.GlobalDay = 2 })
		e.Outbox.Fail(errors.New("provider down"))
		for i := range 2 {
			require.ErrorIs(t, send(e, otp.SendRequest{Phone: Phone(i), IP: ip(i), Purpose: Purpose, Holder: Holder}), otp.ErrSendFailed)
		}
		e.Outbox.Fail(nil)
		requireLimit(t, send(e, otp.SendRequest{Phone: Phone(5), IP: ip(5), Purpose: Purpose, Holder: Holder}), otp.LimitGlobalDay, 24*time.Hour)
	})

	t.Run("a send refused as not eligible counts against the user's limits, not the budget", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.PerIPHour, c.PerIdentityDay, c.GlobalDay = 3, 3, 2 })
		notKnown := errors.New("not in the directory")
		asked := 0
		ineligible := func(phone otp.Phone, ip, identity string) otp.SendRequest {
			return otp.SendRequest{Phone: phone, IP: ip, Identity: identity, Purpose: Purpose, Holder: Holder,
				Eligible: func(context.Context) error { asked++; return notKnown }}
		}
		for i := range 3 {
			err := send(e, ineligible(Phone(i), "203.0.113.7", fmt.Sprintf("wx:%d", i)))
			require.ErrorIs(t, err, notKnown, "the check's error, unchanged")
			require.Zero(t, e.Outbox.Count(Phone(i)), "no SMS")
			_, err = e.StoredCode(Phone(i))
			require.True(t, isNotFound(err), "no code stored: %v", err)
		}
		require.Equal(t, 3, asked)
		requireLimit(t, send(e, ineligible(Phone(10), "203.0.113.7", "wx:10")), otp.LimitIPHour, time.Hour)
		require.Equal(t, 3, asked, "over a limit, the check is not even asked")
		requireLimit(t, send(e, ineligible(Phone(0), ip(20), "wx:20")), otp.LimitCooldown, time.Minute)
		for i := range 3 {
			require.ErrorIs(t, send(e, ineligible(Phone(30+i), ip(30+i), "wx:same")), notKnown)
		}
		requireLimit(t, send(e, ineligible(Phone(40), ip(40), "wx:same")), otp.LimitIdentityDay, 24*time.Hour)

		// The budget of 2 was given back every time: two real sends still go out.
		for i := range 2 {
			require.NoError(t, send(e, otp.SendRequest{Phone: Phone(50 + i), IP: ip(50 + i), Purpose: Purpose, Holder: Holder}))
		}
		requireLimit(t, send(e, otp.SendRequest{Phone: Phone(52), IP: ip(52), Purpose: Purpose, Holder: Holder}), otp.LimitGlobalDay, 24*time.Hour)
		require.Equal(t, 1, strings.Count(e.Log.String(), "BUDGET REACHED"), "only the real last send reached the budget")

		// An eligible phone gets its code as before.
		e.Clock.Advance(24 * time.Hour)
		ok := otp.SendRequest{Phone: Phone(60), IP: ip(60), Purpose: Purpose, Holder: Holder, Eligible: func(context.Context) error { return nil }}
		code := e.Send(t, ok)
		require.NoError(t, e.Verify(Phone(60), code))
	})

	t.Run("a refusal names the longest wait", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.PerPhoneHour = 1; c.PerPhoneDay = 1 })
		require.NoError(t, send(e, SendReq(Phone(1))))
		e.Clock.Advance(time.Second)
		requireLimit(t, send(e, SendReq(Phone(1))), otp.LimitPhoneDay, 24*time.Hour-time.Second)
	})

	t.Run("resend-after reflects a used-up window", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.PerPhoneHour = 2 })
		res, err := e.Svc.Send(ctx, SendReq(Phone(1)))
		require.NoError(t, err)
		require.Equal(t, time.Minute, res.ResendAfter)
		e.Clock.Advance(time.Minute)
		res, err = e.Svc.Send(ctx, SendReq(Phone(1)))
		require.NoError(t, err)
		require.Equal(t, 59*time.Minute, res.ResendAfter, "the hour's last send")
	})

	t.Run("zero disables a limit", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) {
			c.Cooldown, c.PerPhoneHour, c.PerPhoneDay, c.PerIPHour, c.PerIPUnconfirmedHour, c.GlobalDay = 0, 0, 0, 0, 0, 0
		})
		for range 30 {
			require.NoError(t, send(e, SendReq(Phone(1))))
		}
	})
}
