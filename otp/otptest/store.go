package otptest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/otp"
	"wxcas/store/storetest"
)

// storeHolder and otherHolder stand for two logins' HolderKeys in the store
// tests (the store treats holders as opaque).
var (
	storeHolder = strings.Repeat("a", 64)
	otherHolder = strings.Repeat("b", 64)
)

// runStore checks the Store contract directly.
func runStore(t *testing.T, newStore func(t *testing.T) otp.Store) {
	ctx := context.Background()
	t0 := storetest.NewClock().Now()
	code := func(phone otp.Phone, id int64) otp.Code {
		return otp.Code{
			CodeRef:     otp.CodeRef{Holder: storeHolder, Phone: phone, Purpose: Purpose, IssueID: id},
			Hash:        "ab12" + string(rune('0'+id%10)),
			MaxAttempts: 3,
			CreatedAt:   t0,
			ExpiresAt:   t0.Add(5 * time.Minute),
		}
	}

	t.Run("put and get code", func(t *testing.T) {
		st := newStore(t)
		_, err := st.GetCode(ctx, storeHolder, Phone(1), Purpose)
		require.True(t, isNotFound(err), "got %v", err)

		c := code(Phone(1), 7)
		c.CreatedAt = t0.Add(123456 * time.Nanosecond) // stored with µs precision
		require.NoError(t, st.PutCode(ctx, c))
		got, err := st.GetCode(ctx, storeHolder, Phone(1), Purpose)
		require.NoError(t, err)
		c.CreatedAt = c.CreatedAt.Truncate(time.Microsecond)
		require.Equal(t, c, got)
		require.True(t, got.VerifiedAt.IsZero())

		_, err = st.GetCode(ctx, storeHolder, Phone(1), "other")
		require.True(t, isNotFound(err), "a code belongs to its purpose")
		_, err = st.GetCode(ctx, storeHolder, Phone(2), Purpose)
		require.True(t, isNotFound(err), "a code belongs to its phone")
	})

	t.Run("a new code replaces the old one", func(t *testing.T) {
		st := newStore(t)
		old, fresh := code(Phone(1), 1), code(Phone(1), 2)
		require.NoError(t, st.PutCode(ctx, old))
		_, counted, err := st.CountAttempt(ctx, old.CodeRef, t0)
		require.NoError(t, err)
		require.True(t, counted)
		require.NoError(t, st.PutCode(ctx, fresh))

		got, err := st.GetCode(ctx, storeHolder, Phone(1), Purpose)
		require.NoError(t, err)
		require.Equal(t, fresh, got, "attempts start again at 0")

		_, counted, err = st.CountAttempt(ctx, old.CodeRef, t0)
		require.NoError(t, err)
		require.False(t, counted, "an attempt on a replaced code must not count against its successor")
		ok, err := st.MarkVerified(ctx, old.CodeRef, t0)
		require.NoError(t, err)
		require.False(t, ok, "a replaced code must not verify")
		require.NoError(t, st.DeleteCode(ctx, old.CodeRef))
		_, err = st.GetCode(ctx, storeHolder, Phone(1), Purpose)
		require.NoError(t, err, "deleting a replaced code leaves its successor")

		require.NoError(t, st.DeleteCode(ctx, fresh.CodeRef))
		_, err = st.GetCode(ctx, storeHolder, Phone(1), Purpose)
		require.True(t, isNotFound(err))
	})

	t.Run("each holder has its own code for a phone", func(t *testing.T) {
		st := newStore(t)
		mine, theirs := code(Phone(1), 1), code(Phone(1), 2)
		theirs.Holder, theirs.Hash = otherHolder, "cd34"
		require.NoError(t, st.PutCode(ctx, mine))
		require.NoError(t, st.PutCode(ctx, theirs))

		got, err := st.GetCode(ctx, storeHolder, Phone(1), Purpose)
		require.NoError(t, err)
		require.Equal(t, mine, got, "another holder's code for the same phone replaces nothing")
		got, err = st.GetCode(ctx, otherHolder, Phone(1), Purpose)
		require.NoError(t, err)
		require.Equal(t, theirs, got)
		_, err = st.GetCode(ctx, strings.Repeat("c", 64), Phone(1), Purpose)
		require.True(t, isNotFound(err), "a code belongs to its holder")

		// A reference carrying the wrong holder touches nothing, even with
		// the right issue id.
		forged := mine.CodeRef
		forged.Holder = otherHolder
		_, counted, err := st.CountAttempt(ctx, forged, t0)
		require.NoError(t, err)
		require.False(t, counted)
		ok, err := st.MarkVerified(ctx, forged, t0)
		require.NoError(t, err)
		require.False(t, ok)
		require.NoError(t, st.DeleteCode(ctx, forged))

		for range theirs.MaxAttempts {
			_, counted, err := st.CountAttempt(ctx, theirs.CodeRef, t0)
			require.NoError(t, err)
			require.True(t, counted)
		}
		got, err = st.GetCode(ctx, storeHolder, Phone(1), Purpose)
		require.NoError(t, err)
		require.Zero(t, got.Attempts, "attempts are counted per holder")
		ok, err = st.MarkVerified(ctx, mine.CodeRef, t0)
		require.NoError(t, err)
		require.True(t, ok)
	})

	t.Run("attempts are counted up to the maximum", func(t *testing.T) {
		st := newStore(t)
		c := code(Phone(1), 1)
		require.NoError(t, st.PutCode(ctx, c))
		for want := 1; want <= c.MaxAttempts; want++ {
			n, counted, err := st.CountAttempt(ctx, c.CodeRef, t0)
			require.NoError(t, err)
			require.True(t, counted)
			require.Equal(t, want, n)
		}
		_, counted, err := st.CountAttempt(ctx, c.CodeRef, t0)
		require.NoError(t, err)
		require.False(t, counted, "no attempt beyond the maximum")
		got, err := st.GetCode(ctx, storeHolder, Phone(1), Purpose)
		require.NoError(t, err)
		require.Equal(t, c.MaxAttempts, got.Attempts)
	})

	t.Run("expired and verified codes take no attempts", func(t *testing.T) {
		st := newStore(t)
		c := code(Phone(1), 1)
		require.NoError(t, st.PutCode(ctx, c))

		_, counted, err := st.CountAttempt(ctx, c.CodeRef, c.ExpiresAt)
		require.NoError(t, err)
		require.False(t, counted, "a code is expired at ExpiresAt")
		ok, err := st.MarkVerified(ctx, c.CodeRef, c.ExpiresAt)
		require.NoError(t, err)
		require.False(t, ok)

		almost := c.ExpiresAt.Add(-time.Microsecond)
		_, counted, err = st.CountAttempt(ctx, c.CodeRef, almost)
		require.NoError(t, err)
		require.True(t, counted)
		ok, err = st.MarkVerified(ctx, c.CodeRef, almost)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = st.MarkVerified(ctx, c.CodeRef, almost)
		require.NoError(t, err)
		require.False(t, ok, "a code is consumed once")
		_, counted, err = st.CountAttempt(ctx, c.CodeRef, almost)
		require.NoError(t, err)
		require.False(t, counted)

		got, err := st.GetCode(ctx, storeHolder, Phone(1), Purpose)
		require.NoError(t, err)
		require.Equal(t, almost, got.VerifiedAt)
	})

	t.Run("reserve counts up to max and says when to retry", func(t *testing.T) {
		st := newStore(t)
		l := otp.Limit{Name: otp.LimitPhoneHour, Key: "phone_hour:x", Max: 3, Window: time.Hour}
		for i := 1; i <= 3; i++ {
			now := t0.Add(time.Duration(i) * time.Minute)
			holds, err := st.Reserve(ctx, now, []otp.Limit{l})
			require.NoError(t, err)
			require.Len(t, holds, 1)
			require.Equal(t, i, holds[0].Used)
			require.Equal(t, t0.Add(time.Minute+time.Hour), holds[0].WindowEndsAt, "the window opens at the first send")
		}
		_, err := st.Reserve(ctx, t0.Add(10*time.Minute), []otp.Limit{l})
		requireLimit(t, err, otp.LimitPhoneHour, 51*time.Minute)

		// At the window's end the counter starts again.
		holds, err := st.Reserve(ctx, t0.Add(61*time.Minute), []otp.Limit{l})
		require.NoError(t, err)
		require.Equal(t, 1, holds[0].Used)
		require.Equal(t, t0.Add(121*time.Minute), holds[0].WindowEndsAt)
	})

	t.Run("reserve is all or nothing", func(t *testing.T) {
		st := newStore(t)
		a := otp.Limit{Name: "a", Key: "a", Max: 5, Window: time.Hour}
		b := otp.Limit{Name: "b", Key: "b", Max: 1, Window: time.Minute}
		_, err := st.Reserve(ctx, t0, []otp.Limit{a, b})
		require.NoError(t, err)
		_, err = st.Reserve(ctx, t0, []otp.Limit{a, b})
		requireLimit(t, err, "b", time.Minute)
		holds, err := st.Reserve(ctx, t0, []otp.Limit{a})
		require.NoError(t, err)
		require.Equal(t, 2, holds[0].Used, "a refused reservation counts nothing")
	})

	t.Run("reserve reports the longest wait", func(t *testing.T) {
		st := newStore(t)
		short := otp.Limit{Name: "short", Key: "s", Max: 1, Window: time.Minute}
		long := otp.Limit{Name: "long", Key: "l", Max: 1, Window: time.Hour}
		_, err := st.Reserve(ctx, t0, []otp.Limit{short, long})
		require.NoError(t, err)
		_, err = st.Reserve(ctx, t0.Add(time.Second), []otp.Limit{short, long})
		requireLimit(t, err, "long", time.Hour-time.Second)
	})

	t.Run("budget limits are skipped once another limit refused", func(t *testing.T) {
		st := newStore(t)
		user := otp.Limit{Name: "user", Key: "u", Max: 1, Window: time.Hour}
		budget := otp.Limit{Name: otp.LimitGlobalDay, Key: "g", Max: 1, Window: time.Hour, Budget: true}
		_, err := st.Reserve(ctx, t0, []otp.Limit{user})
		require.NoError(t, err)
		_, err = st.Reserve(ctx, t0, []otp.Limit{user, budget})
		requireLimit(t, err, "user", time.Hour)
		holds, err := st.Reserve(ctx, t0, []otp.Limit{budget})
		require.NoError(t, err, "the refused reservation must not have used the budget")
		require.Equal(t, 1, holds[0].Used)
		_, err = st.Reserve(ctx, t0, []otp.Limit{budget})
		requireLimit(t, err, otp.LimitGlobalDay, time.Hour)
		require.ErrorIs(t, err, otp.ErrBudgetExhausted)
	})

	t.Run("release gives back a send in the same window only", func(t *testing.T) {
		st := newStore(t)
		l := otp.Limit{Name: "l", Key: "l", Max: 1, Window: time.Minute}
		holds, err := st.Reserve(ctx, t0, []otp.Limit{l})
		require.NoError(t, err)
		require.NoError(t, st.Release(ctx, holds))
		holds, err = st.Reserve(ctx, t0, []otp.Limit{l})
		require.NoError(t, err, "a released send no longer counts")
		require.Equal(t, 1, holds[0].Used)

		// A hold from an ended window must not free a unit of the new one.
		later := t0.Add(2 * time.Minute)
		_, err = st.Reserve(ctx, later, []otp.Limit{l})
		require.NoError(t, err)
		require.NoError(t, st.Release(ctx, holds))
		_, err = st.Reserve(ctx, later, []otp.Limit{l})
		requireLimit(t, err, "l", time.Minute)
	})

	t.Run("cleanup removes expired codes and ended windows", func(t *testing.T) {
		st := newStore(t)
		old, live := code(Phone(1), 1), code(Phone(2), 2)
		live.ExpiresAt = t0.Add(time.Hour)
		require.NoError(t, st.PutCode(ctx, old))
		require.NoError(t, st.PutCode(ctx, live))
		_, err := st.Reserve(ctx, t0, []otp.Limit{
			{Name: "short", Key: "short", Max: 9, Window: time.Minute},
			{Name: "long", Key: "long", Max: 9, Window: 2 * time.Hour},
		})
		require.NoError(t, err)

		n, err := st.Cleanup(ctx, t0.Add(30*time.Minute))
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		_, err = st.GetCode(ctx, storeHolder, Phone(1), Purpose)
		require.True(t, isNotFound(err))
		_, err = st.GetCode(ctx, storeHolder, Phone(2), Purpose)
		require.NoError(t, err)
		holds, err := st.Reserve(ctx, t0, []otp.Limit{{Name: "long", Key: "long", Max: 9, Window: 2 * time.Hour}})
		require.NoError(t, err)
		require.Equal(t, 2, holds[0].Used, "a live window survives cleanup")
	})
}

func requireLimit(t testing.TB, err error, limit string, retryAfter time.Duration) {
	t.Helper()
	var le *otp.LimitError
	require.True(t, errors.As(err, &le), "want a *LimitError for %s, got %v", limit, err)
	require.Equal(t, limit, le.Limit)
	require.Equal(t, retryAfter, le.RetryAfter)
}
