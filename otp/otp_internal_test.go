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

func TestHashBindsHolderPhoneAndPurpose(t *testing.T) {
	s := testService(t, 6)
	holderA, holderB := s.HolderKey("flow:a"), s.HolderKey("flow:b")
	h := s.hash(holderA, "+8613800138000", "bind", "123456")
	require.Len(t, h, 64)
	require.Equal(t, h, s.hash(holderA, "+8613800138000", "bind", "123456"))
	other := testService(t, 6)
	other.cfg.Key = []byte(strings.Repeat("x", 32))
	for name, differs := range map[string]string{
		"holder":  s.hash(holderB, "+8613800138000", "bind", "123456"),
		"phone":   s.hash(holderA, "+8613800138001", "bind", "123456"),
		"purpose": s.hash(holderA, "+8613800138000", "login", "123456"),
		"code":    s.hash(holderA, "+8613800138000", "bind", "123457"),
		"key":     other.hash(holderA, "+8613800138000", "bind", "123456"),
	} {
		require.NotEqual(t, h, differs, "the %s matters", name)
	}
}

func TestHolderKey(t *testing.T) {
	s := testService(t, 6)
	k := s.HolderKey("flow:abc")
	require.Regexp(t, `^[0-9a-f]{64}$`, k)
	require.Equal(t, k, s.HolderKey("flow:abc"), "stable, so the code can be found again")
	require.NotEqual(t, k, s.HolderKey("flow:abd"))
	require.NotContains(t, k, "abc")
	other := testService(t, 6)
	other.cfg.Key = []byte(strings.Repeat("x", 32))
	require.NotEqual(t, k, other.HolderKey("flow:abc"), "keyed: not computable without the key")
}

func TestWellFormedCode(t *testing.T) {
	for _, tc := range []struct {
		code   string
		digits int
		ok     bool
	}{
		{"123456", 6, true},
		{"000000", 6, true},
		{"12345678", 8, true},
		{"", 6, false},
		{"12345", 6, false},
		{"1234567", 6, false},
		{"12ab56", 6, false},
		{"12 456", 6, false},
		{"-12345", 6, false},
		{"１２３４５６", 6, false}, // full-width digits are not ASCII digits
		{"123456", 8, false},
	} {
		require.Equal(t, tc.ok, testService(t, tc.digits).wellFormed(tc.code), "%q with %d digits", tc.code, tc.digits)
	}
}

func TestCheckRequest(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		phone, purpose, holder string
		wantErr                error // nil: any error when bad is set
		bad                    bool
	}{
		{name: "ok", phone: "+8613800138000", purpose: "bind", holder: "flow:1"},
		{name: "unparsed phone", phone: "13800138000", purpose: "bind", holder: "flow:1", bad: true, wantErr: ErrInvalidPhone},
		{name: "leading zero", phone: "+0123456789", purpose: "bind", holder: "flow:1", bad: true, wantErr: ErrInvalidPhone},
		{name: "spaces", phone: "+86 138", purpose: "bind", holder: "flow:1", bad: true, wantErr: ErrInvalidPhone},
		{name: "no purpose", phone: "+8613800138000", purpose: "", holder: "flow:1", bad: true},
		{name: "purpose separator", phone: "+8613800138000", purpose: "a|b", holder: "flow:1", bad: true},
		{name: "long purpose", phone: "+8613800138000", purpose: strings.Repeat("a", 33), holder: "flow:1", bad: true},
		{name: "no holder", phone: "+8613800138000", purpose: "bind", holder: "", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRequest(Phone(tc.phone), tc.purpose, tc.holder)
			if !tc.bad {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
		})
	}
}
