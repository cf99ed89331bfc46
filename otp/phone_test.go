package otp

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParsePhone(t *testing.T) {
	valid := []struct {
		raw, region string
		want        Phone
	}{
		{"+86 138 0013 8000", "CN", "+8613800138000"},
		{"13800138000", "CN", "+8613800138000"},
		{"008613800138000", "CN", "+8613800138000"},
		{"8613800138000", "CN", "+8613800138000"},
		{"+8613800138000", "CN", "+8613800138000"},
		{" 138-0013-8000 ", "CN", "+8613800138000"},
		{"(+86) 138 0013 8000", "CN", "+8613800138000"},
		{"tel:+86-138-0013-8000", "CN", "+8613800138000"},
		{"１３８００１３８０００", "CN", "+8613800138000"}, // full-width digits from a Chinese IME
		{"13800138000", "", "+8613800138000"},   // default region is CN
		{"19912345678", "CN", "+8619912345678"},
		{"+852 5123 4567", "CN", "+85251234567"},
		{"+44 7400 123456", "CN", "+447400123456"},
		{"07400 123456", "GB", "+447400123456"},
		{"+1 201-555-0123", "CN", "+12015550123"}, // fixed line or mobile: cannot tell, accepted
	}
	for _, tc := range valid {
		got, err := ParsePhone(tc.raw, tc.region)
		require.NoError(t, err, "%q", tc.raw)
		require.Equal(t, tc.want, got, "%q", tc.raw)
		require.True(t, got.wellFormed())
	}

	invalid := []struct{ raw, reason string }{
		{"", "empty"},
		{"   ", "empty"},
		{"abc", "not a phone number"},
		{"+999 123", "not a phone number"},
		{"12345", "not a valid number"},
		{"1380013800", "not a valid number"},   // one digit short
		{"138001380001", "not a valid number"}, // one digit long
		{"12345678901", "not a valid number"},  // no such mobile prefix
		{"+86 10 6552 9988", "not a mobile number"},
		{"010 6552 9988", "not a mobile number"},
		{"400 810 8888", "not a mobile number"},
		{"+8613800138000 ext. 123", "has an extension"},
		{strings.Repeat("1", 65), "too long"},
	}
	for _, tc := range invalid {
		got, err := ParsePhone(tc.raw, "CN")
		require.ErrorIs(t, err, ErrInvalidPhone, "%q gave %q", tc.raw, got)
		require.Contains(t, err.Error(), tc.reason, "%q", tc.raw)
		require.Empty(t, got)
	}

	_, err := ParsePhone("13800138000", "CN")
	require.False(t, errors.Is(err, ErrInvalidPhone))
	_, err = ParsePhone("+8613800138999", "CN")
	require.NoError(t, err)
	_, err = ParsePhone("13800138999", "XX")
	require.ErrorIs(t, err, ErrInvalidPhone, "an unknown region cannot read a national number")
}

func TestParsePhoneErrorOmitsInput(t *testing.T) {
	_, err := ParsePhone("+86 10 6552 9988", "CN")
	require.NotContains(t, err.Error(), "6552")
}

func TestMasked(t *testing.T) {
	for phone, want := range map[Phone]string{
		"+8613800138000": "+86138****8000",
		"+12015550123":   "+120****0123",
		"+447400123456":  "+4474****3456",
		"+85251234567":   "+852****4567",
		"+123456789":     "+1****6789",
		"+12345678":      "+****5678",
		"+1234567":       "+****",
		"+123":           "+****",
		"":               "",
		"8613800138000":  "86138****8000", // not from ParsePhone: no + is added
	} {
		require.Equal(t, want, phone.Masked(), "%q", phone)
	}
}

func TestDisplay(t *testing.T) {
	for phone, want := range map[Phone]string{
		"+8613800138000": "138****8000",    // mainland: no country code
		"+12015550123":   "+1 20****0123",  // ten digits: two kept in front
		"+447400123456":  "+44 74****3456", // UK mobile
		"+85251234567":   "+852 ****4567",  // eight digits: only the last four show
		"+123":           "+****",          // not a number: the log mask
		"":               "",
	} {
		require.Equal(t, want, phone.Display(), "%q", phone)
	}
}
