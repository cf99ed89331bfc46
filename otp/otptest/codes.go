package otptest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/otp"
	"wxcas/store"
)

// runCodes checks issuing and verifying codes through otp.Service.
func runCodes(t *testing.T, newStore func(t *testing.T) otp.Store) {
	ctx := context.Background()

	t.Run("a sent code verifies once", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		p := Phone(1)
		now := e.Clock.Now()
		res, err := e.Svc.Send(ctx, SendReq(p))
		require.NoError(t, err)
		require.Equal(t, now.Add(5*time.Minute), res.ExpiresAt)
		require.Equal(t, time.Minute, res.ResendAfter)

		code := e.Outbox.Last(p)
		require.Regexp(t, `^[0-9]{6}$`, code)
		require.ErrorIs(t, e.Svc.Verify(ctx, otp.VerifyRequest{Phone: p, Purpose: "other", Holder: Holder, Code: code}), otp.ErrNoCode, "codes are per purpose")
		require.ErrorIs(t, e.Verify(Phone(2), code), otp.ErrNoCode, "codes are per phone")
		require.NoError(t, e.Verify(p, " "+code+" "))
		require.ErrorIs(t, e.Verify(p, code), otp.ErrNoCode, "a used code never verifies twice")
	})

	t.Run("code length is configurable", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.Digits = 8 })
		code := e.Send(t, SendReq(Phone(1)))
		require.Regexp(t, `^[0-9]{8}$`, code)
		require.NoError(t, e.Verify(Phone(1), code))
	})

	t.Run("the store never holds the code", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		code := e.Send(t, SendReq(Phone(1)))
		c, err := e.StoredCode(Phone(1))
		require.NoError(t, err)
		require.Regexp(t, `^[0-9a-f]{64}$`, c.Hash)
		require.NotContains(t, c.Hash, code)
	})

	t.Run("the number of a login's newest code that can still verify", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		_, err := e.Svc.PendingTo(ctx, Holder, Purpose)
		require.ErrorIs(t, err, store.ErrNotFound)
		e.Send(t, SendReq(Phone(1)))
		e.Clock.Advance(time.Minute)
		second := e.Send(t, SendReq(Phone(2)))
		e.Send(t, otherLogin(Phone(3)))
		p, err := e.Svc.PendingTo(ctx, Holder, Purpose)
		require.NoError(t, err)
		require.Equal(t, Phone(2), p, "the newest; another login's is not this login's")
		_, err = e.Svc.PendingTo(ctx, Holder, "other")
		require.ErrorIs(t, err, store.ErrNotFound, "per purpose")
		require.NoError(t, e.Verify(Phone(2), second))
		p, err = e.Svc.PendingTo(ctx, Holder, Purpose)
		require.NoError(t, err)
		require.Equal(t, Phone(1), p, "a verified code is not pending")
		e.Clock.Advance(5 * time.Minute)
		_, err = e.Svc.PendingTo(ctx, Holder, Purpose)
		require.ErrorIs(t, err, store.ErrNotFound, "nor an expired one")
	})

	t.Run("no code", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		require.ErrorIs(t, e.Verify(Phone(1), "123456"), otp.ErrNoCode)
	})

	t.Run("a new code supersedes the old one", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		first := e.Send(t, SendReq(Phone(1)))
		e.Clock.Advance(time.Minute)
		second := e.Send(t, SendReq(Phone(1)))
		if first != second {
			require.ErrorIs(t, e.Verify(Phone(1), first), otp.ErrMismatch)
		}
		require.NoError(t, e.Verify(Phone(1), second))
	})

	t.Run("wrong code reports attempts left", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		code := e.Send(t, SendReq(Phone(1)))
		for left := 4; left >= 1; left-- {
			err := e.Verify(Phone(1), Wrong(code))
			var me *otp.MismatchError
			require.True(t, errors.As(err, &me), "got %v", err)
			require.Equal(t, left, me.AttemptsLeft)
			require.NotErrorIs(t, err, otp.ErrTooManyAttempts)
		}
		require.NoError(t, e.Verify(Phone(1), code), "the right code on the last attempt still works")
	})

	t.Run("brute force: past the attempt limit even the right code fails", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		code := e.Send(t, SendReq(Phone(1)))
		for i := range 5 {
			err := e.Verify(Phone(1), Wrong(code))
			require.ErrorIs(t, err, otp.ErrMismatch, "guess %d", i+1)
			if i == 4 {
				require.ErrorIs(t, err, otp.ErrTooManyAttempts, "the fifth wrong guess burns the code")
			}
		}
		require.ErrorIs(t, e.Verify(Phone(1), code), otp.ErrTooManyAttempts)
		// Keep guessing through the whole space: nothing ever succeeds.
		for g := range 1000 {
			guess := fmt.Sprintf("%06d", g)
			require.ErrorIs(t, e.Verify(Phone(1), guess), otp.ErrTooManyAttempts)
		}
		require.ErrorIs(t, e.Verify(Phone(1), code), otp.ErrTooManyAttempts)
		c, err := e.StoredCode(Phone(1))
		require.NoError(t, err)
		require.Equal(t, 5, c.Attempts, "refused guesses are not counted past the limit")
	})

	t.Run("brute force over a small code space", func(t *testing.T) {
		// With 4 digits and 3 attempts, guess in order: a success can only
		// come from the first 3 guesses, and the real code fails afterwards.
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.Digits = 4; c.MaxAttempts = 3 })
		code := e.Send(t, SendReq(Phone(1)))
		successes := 0
		for g := range 20 {
			err := e.Verify(Phone(1), fmt.Sprintf("%04d", g))
			if err == nil {
				successes++
				require.Less(t, g, 3, "success after the attempt limit")
			}
		}
		err := e.Verify(Phone(1), code)
		require.Error(t, err)
		if code < "0003" {
			require.Equal(t, 1, successes)
			require.ErrorIs(t, err, otp.ErrNoCode, "used")
		} else {
			require.Zero(t, successes)
			require.ErrorIs(t, err, otp.ErrTooManyAttempts)
		}
	})

	t.Run("codes expire after the TTL", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		a := e.Send(t, SendReq(Phone(1)))
		b := e.Send(t, SendReq(Phone(2)))
		e.Clock.Advance(5*time.Minute - time.Microsecond)
		require.NoError(t, e.Verify(Phone(1), a), "valid until the TTL ends")
		e.Clock.Advance(time.Microsecond)
		require.ErrorIs(t, e.Verify(Phone(2), b), otp.ErrExpired)
		require.ErrorIs(t, e.Verify(Phone(2), Wrong(b)), otp.ErrExpired)
	})

	t.Run("cleanup keeps expired codes for an hour", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		code := e.Send(t, SendReq(Phone(1)))
		e.Clock.Advance(5*time.Minute + 59*time.Minute)
		_, err := e.Svc.Cleanup(ctx)
		require.NoError(t, err)
		require.ErrorIs(t, e.Verify(Phone(1), code), otp.ErrExpired)
		e.Clock.Advance(2 * time.Minute)
		n, err := e.Svc.Cleanup(ctx)
		require.NoError(t, err)
		require.Positive(t, n)
		require.ErrorIs(t, e.Verify(Phone(1), code), otp.ErrNoCode)
	})

	t.Run("a failed provider send leaves no code and charges no user limit", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		p := Phone(1)
		e.Outbox.Fail(errors.New("provider down"))
		_, err := e.Svc.Send(ctx, SendReq(p))
		require.ErrorIs(t, err, otp.ErrSendFailed)
		_, err = e.Svc.Send(ctx, SendReq(p))
		require.ErrorIs(t, err, otp.ErrSendFailed, "no cooldown after a failure")
		require.ErrorIs(t, e.Verify(p, "000000"), otp.ErrNoCode)
		_, err = e.StoredCode(p)
		require.True(t, isNotFound(err), "no code row is left behind")

		e.Outbox.Fail(nil)
		// Five sends within the hour are still available to this phone.
		for i := range 5 {
			e.Send(t, SendReq(p))
			if i < 4 {
				e.Clock.Advance(time.Minute)
			}
		}
		_, err = e.Svc.Send(ctx, SendReq(p))
		requireLimit(t, err, otp.LimitPhoneHour, 56*time.Minute)
	})

	t.Run("a failed send keeps the previous code", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		code := e.Send(t, SendReq(Phone(1)))
		e.Clock.Advance(time.Minute)
		e.Outbox.Fail(errors.New("provider down"))
		_, err := e.Svc.Send(ctx, SendReq(Phone(1)))
		require.ErrorIs(t, err, otp.ErrSendFailed)
		require.NoError(t, e.Verify(Phone(1), code))
	})

	t.Run("logs hold neither code, hash nor full phone", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		p := otp.Phone("+8613800138000")
		code := e.Send(t, SendReq(p))
		_ = e.Verify(p, Wrong(code))
		require.NoError(t, e.Verify(p, code))
		e.Outbox.Fail(errors.New("provider down"))
		e.Clock.Advance(time.Minute)
		_, _ = e.Svc.Send(ctx, SendReq(p))
		c, _ := e.StoredCode(p)

		logs := e.Log.Untimed()
		require.Contains(t, logs, "+86138****8000")
		require.NotContains(t, logs, string(p))
		require.NotContains(t, logs, code)
		require.NotContains(t, logs, c.Hash)
	})

	t.Run("requests are checked", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		_, err := e.Svc.Send(ctx, otp.SendRequest{Phone: "13800138000", IP: "192.0.2.1", Purpose: Purpose, Holder: Holder})
		require.ErrorIs(t, err, otp.ErrInvalidPhone, "unparsed phones are refused")
		_, err = e.Svc.Send(ctx, otp.SendRequest{Phone: Phone(1), IP: "", Purpose: Purpose, Holder: Holder})
		require.Error(t, err, "the client IP is required")
		_, err = e.Svc.Send(ctx, otp.SendRequest{Phone: Phone(1), IP: "192.0.2.1", Purpose: "a|b", Holder: Holder})
		require.Error(t, err)
		_, err = e.Svc.Send(ctx, otp.SendRequest{Phone: Phone(1), IP: "192.0.2.1", Purpose: Purpose})
		require.Error(t, err, "every code belongs to a login: the holder is required")
		require.Zero(t, e.Outbox.Count(Phone(1)))
		require.Error(t, e.VerifyAs("", Phone(1), "123456"), "the holder is required")
	})
}
