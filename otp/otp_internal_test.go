package otp

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func testService(t *testing.T, digits int) *Service {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Digits = digits
	cfg.Key = []byte(strings.Repeat("k", 32))
	return &Service{cfg: cfg}
}

func TestNewCode(t *testing.T) {
	s := testService(t, 6)
	// Every digit appears in every position over enough codes, and leading
	// zeros are kept (a biased or numeric-only generator would fail this).
	var seen [6][10]bool
	for range 2000 {
		code, err := s.newCode()
		require.NoError(t, err)
		require.Len(t, code, 6)
		for i, c := range code {
			require.True(t, c >= '0' && c <= '9')
			seen[i][c-'0'] = true
		}
	}
	for i := range seen {
		for d, ok := range seen[i] {
			require.True(t, ok, "digit %d never at position %d", d, i)
		}
	}
	code, err := testService(t, 10).newCode()
	require.NoError(t, err)
	require.Len(t, code, 10)
}

func TestHashBindsPhoneAndPurpose(t *testing.T) {
	s := testService(t, 6)
	h := s.hash("+8613800138000", "bind", "123456")
	require.Len(t, h, 64)
	require.Equal(t, h, s.hash("+8613800138000", "bind", "123456"))
	require.NotEqual(t, h, s.hash("+8613800138001", "bind", "123456"))
	require.NotEqual(t, h, s.hash("+8613800138000", "login", "123456"))
	require.NotEqual(t, h, s.hash("+8613800138000", "bind", "123457"))
	other := testService(t, 6)
	other.cfg.Key = []byte(strings.Repeat("x", 32))
	require.NotEqual(t, h, other.hash("+8613800138000", "bind", "123456"), "the key matters")
}

func TestCheckRequest(t *testing.T) {
	require.NoError(t, checkRequest("+8613800138000", "bind"))
	require.ErrorIs(t, checkRequest("13800138000", "bind"), ErrInvalidPhone)
	require.ErrorIs(t, checkRequest("+0123456789", "bind"), ErrInvalidPhone)
	require.ErrorIs(t, checkRequest("+86 138", "bind"), ErrInvalidPhone)
	require.Error(t, checkRequest("+8613800138000", ""))
	require.Error(t, checkRequest("+8613800138000", "a|b"))
	require.Error(t, checkRequest("+8613800138000", strings.Repeat("a", 33)))
}
