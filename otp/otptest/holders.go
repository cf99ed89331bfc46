package otptest

import (
	"errors"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/otp"
)

// runHolders checks through otp.Service that a code belongs to the login
// that asked for it (issue 11): another login aimed at the same phone can
// neither use it nor burn it, and submissions that cannot be a code cost no
// attempt.
func runHolders(t *testing.T, newStore func(t *testing.T) otp.Store) {
	t.Run("another login cannot use the code, even with the right digits", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		p := Phone(1)
		code := e.Send(t, SendReq(p))
		require.ErrorIs(t, e.VerifyAs(Other, p, code), otp.ErrNoCode)
		require.NoError(t, e.Verify(p, code), "the owner's code is untouched")
	})

	t.Run("another login's wrong guesses do not burn the code", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		p := Phone(1)
		code := e.Send(t, SendReq(p))
		for i := range e.Config.MaxAttempts + 2 {
			err := e.VerifyAs(Other, p, Wrong(code))
			require.ErrorIs(t, err, otp.ErrNoCode, "guess %d hits no code at all", i+1)
			require.NotErrorIs(t, err, otp.ErrTooManyAttempts)
		}
		c, err := e.StoredCode(p)
		require.NoError(t, err)
		require.Zero(t, c.Attempts, "none of the other login's guesses was counted against this code")
		require.NoError(t, e.Verify(p, code))
	})

	t.Run("two logins aimed at one phone each get their own code and attempts", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.Cooldown = 0 })
		p := Phone(1)
		mine := e.Send(t, SendReq(p))
		req := SendReq(p)
		req.Holder = Other
		theirs := e.Send(t, req)

		for range e.Config.MaxAttempts {
			require.ErrorIs(t, e.VerifyAs(Other, p, Wrong(theirs)), otp.ErrMismatch)
		}
		require.ErrorIs(t, e.VerifyAs(Other, p, theirs), otp.ErrTooManyAttempts, "their own code is burned")
		if mine != theirs {
			// Their guesses went to their own code: not to ours.
			require.ErrorIs(t, e.Verify(p, theirs), otp.ErrMismatch, "their code does not verify in our login")
		}
		require.NoError(t, e.Verify(p, mine), "our code survives their five wrong guesses")
	})

	t.Run("the store keeps neither the raw holder nor an unkeyed hash", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		e.Send(t, SendReq(Phone(1)))
		c, err := e.StoredCode(Phone(1))
		require.NoError(t, err)
		require.Regexp(t, `^[0-9a-f]{64}$`, c.Holder)
		require.NotContains(t, c.Holder, Holder)
		other := NewEnv(t, newStore(t), func(c *otp.Config) { c.Key = []byte("another-key-0123456789abcdef-0123456") })
		require.NotEqual(t, c.Holder, other.Svc.HolderKey(Holder), "the holder is hashed with the service's key")
	})

	t.Run("a resend replaces only the same login's code", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.Cooldown = 0 })
		p := Phone(1)
		mine := e.Send(t, SendReq(p))
		req := SendReq(p)
		req.Holder = Other
		first := e.Send(t, req)
		second := e.Send(t, req)
		require.NoError(t, e.Verify(p, mine), "the other login's resends leave our code alone")
		if first != second {
			require.ErrorIs(t, e.VerifyAs(Other, p, first), otp.ErrMismatch)
		}
		require.NoError(t, e.VerifyAs(Other, p, second))
	})

	t.Run("malformed submissions use no attempt", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		p := Phone(1)
		code := e.Send(t, SendReq(p))
		malformed := []string{"", "   ", "12ab56", "12345", "1234567", "12 456", "１２３４５６", code + "0", code[:5]}
		require.Greater(t, len(malformed), e.Config.MaxAttempts)
		for _, m := range malformed {
			require.ErrorIs(t, e.Verify(p, m), otp.ErrMalformedCode, "%q", m)
			c, err := e.StoredCode(p)
			require.NoError(t, err)
			require.Zero(t, c.Attempts, "%q used an attempt", m)
		}
		err := e.Verify(p, "12ab56")
		require.False(t, errors.Is(err, otp.ErrMismatch) || errors.Is(err, otp.ErrNoCode), "a distinct error: %v", err)
		require.NoError(t, e.Verify(p, code), "the right code still verifies after more malformed tries than attempts")
	})

	t.Run("malformed submissions are refused without a code too", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		for _, m := range []string{"", "abcdef", "123"} {
			require.ErrorIs(t, e.Verify(Phone(1), m), otp.ErrMalformedCode, "%q", m)
		}
	})

	t.Run("the length follows the configured digits", func(t *testing.T) {
		e := NewEnv(t, newStore(t), func(c *otp.Config) { c.Digits = 8 })
		code := e.Send(t, SendReq(Phone(1)))
		require.ErrorIs(t, e.Verify(Phone(1), code[:6]), otp.ErrMalformedCode)
		require.NoError(t, e.Verify(Phone(1), code))
	})

	t.Run("logs hold neither the holder nor its key", func(t *testing.T) {
		e := NewEnv(t, newStore(t), nil)
		code := e.Send(t, SendReq(Phone(1)))
		_ = e.VerifyAs(Other, Phone(1), code)
		_ = e.Verify(Phone(1), "12ab56")
		require.NoError(t, e.Verify(Phone(1), code))
		logs := e.Log.Untimed()
		for _, secret := range []string{Holder, Other, e.Svc.HolderKey(Holder), e.Svc.HolderKey(Other), code, "12ab56"} {
			require.NotRegexp(t, regexp.QuoteMeta(secret), logs)
		}
	})
}
