package otp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	require.Equal(t, []string{"otp: key: must be at least 32 bytes (use keys.Derive(master, keys.OTP))"}, c.Validate())
	c.Key = make([]byte, 32)
	require.Empty(t, c.Validate())
	require.Equal(t, 6, c.Digits)
	require.Equal(t, 5*time.Minute, c.TTL)
	require.Equal(t, 5, c.MaxAttempts)
	require.Equal(t, time.Minute, c.Cooldown)
	require.Equal(t, [5]int{5, 10, 300, 20, 10}, [5]int{c.PerPhoneHour, c.PerPhoneDay, c.PerIPHour, c.PerIPUnconfirmedHour, c.PerIdentityDay})
	require.Positive(t, c.GlobalDay)
}

func TestConfigValidateListsEveryProblem(t *testing.T) {
	c := Config{Digits: 3, TTL: time.Second, MaxAttempts: 0, Cooldown: -1, PerPhoneHour: 9, PerPhoneDay: 3, PerIPHour: -1, GlobalDay: -5}
	problems := c.Validate()
	all := strings.Join(problems, "\n")
	for _, want := range []string{"digits", "ttl", "max_attempts", "cooldown", "per_ip_hour", "global_day", "per_phone_hour: 9 is larger", "key"} {
		require.Contains(t, all, want)
	}
	require.Len(t, problems, 8)

	_, err := New(c, nil, nil, nil, nil)
	require.Error(t, err)
}

func TestErrorKinds(t *testing.T) {
	var err error = &LimitError{Limit: LimitPhoneHour, RetryAfter: 90 * time.Second}
	require.ErrorIs(t, err, ErrRateLimited)
	require.NotErrorIs(t, err, ErrBudgetExhausted)
	require.Equal(t, "too many codes requested (phone_hour): retry in 1m30s", err.Error())

	err = &LimitError{Limit: LimitGlobalDay, RetryAfter: time.Hour}
	require.ErrorIs(t, err, ErrBudgetExhausted)
	require.NotErrorIs(t, err, ErrRateLimited)

	err = &MismatchError{AttemptsLeft: 2}
	require.ErrorIs(t, err, ErrMismatch)
	require.NotErrorIs(t, err, ErrTooManyAttempts)
	err = &MismatchError{AttemptsLeft: 0}
	require.ErrorIs(t, err, ErrMismatch)
	require.ErrorIs(t, err, ErrTooManyAttempts)
	var me *MismatchError
	require.True(t, errors.As(err, &me))
}
