package logx

import (
	"strings"
	"testing"
)

var maskPhoneCases = []struct{ in, want string }{
	// E.164
	{"+8613800138000", "+86138****8000"},
	{"+14155552671", "+141****2671"},
	{"+12025550123", "+120****0123"},
	{"+442071838750", "+4420****8750"},
	{"+447400123456", "+4474****3456"},
	{"+85291234567", "+852****4567"},
	{"+123456789", "+1****6789"},
	{"+123456789012345", "+12345****2345"}, // 15 digits, the E.164 maximum
	{"  +8613800138000 ", "+86138****8000"},
	// National, and E.164 as people write it
	{"13800138000", "138****8000"},
	{"8613800138000", "86138****8000"},
	{"008613800138000", "00861****8000"},
	{" +86 138-0013-8000", "+86138****8000"},
	{"(+86) 138 0013 8000", "86138****8000"}, // the + is not leading: dropped with the rest
	{"tel:+86-138-0013-8000", "86138****8000"},
	// Short: at least four digits are always hidden
	{"12345678", "****5678"},
	{"+12345678", "+****5678"},
	{"+1234567", "+****"},
	{"1234567", "****"},
	{"12345", "****"},
	{"123", "****"},
	{"+123", "+****"},
	{"+", "+****"},
	{"", ""},
	{"   ", ""},
	// Garbage
	{"not a number", "****"},
	{"１３８００１３８０００", "****"}, // full-width digits are not digits here
	{"13800138000\n13900139000", "13800****9000"},
	{strings.Repeat("9", 200), "99999****9999"},
	// Already masked: returned as it is
	{"+86138****8000", "+86138****8000"},
	{"138****8000", "138****8000"},
	{"****5678", "****5678"},
	{"+****", "+****"},
	{"****", "****"},
	{" +86138****8000 ", "+86138****8000"},
	// Masked-looking but not a mask: masked again
	{"+8613800138000****", "+86138****8000"},
	{"+86138****80001234", "+86138****1234"},
}

func TestMaskPhone(t *testing.T) {
	for _, tc := range maskPhoneCases {
		if got := MaskPhone(tc.in); got != tc.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// checkMask checks what holds for every input: the result is a mask (or
// empty for blank input), masking it again changes nothing, and unless the
// input already was a mask, its visible digits are a prefix and a suffix of
// the input's digits with at least four digits hidden between them.
func checkMask(t *testing.T, in string) {
	t.Helper()
	got := MaskPhone(in)
	if strings.TrimSpace(in) == "" {
		if got != "" {
			t.Fatalf("MaskPhone(%q) = %q, want empty", in, got)
		}
		return
	}
	if !maskedPhone.MatchString(got) {
		t.Fatalf("MaskPhone(%q) = %q, not a mask", in, got)
	}
	if again := MaskPhone(got); again != got {
		t.Fatalf("MaskPhone(%q) = %q but MaskPhone(%q) = %q: not idempotent", in, got, got, again)
	}
	if maskedPhone.MatchString(strings.TrimSpace(in)) {
		return
	}
	digits := onlyDigits(in)
	head, tail, _ := strings.Cut(strings.TrimPrefix(got, "+"), "****")
	if !strings.HasPrefix(digits, head) || !strings.HasSuffix(digits, tail) {
		t.Fatalf("MaskPhone(%q) = %q shows digits that are not the number's ends", in, got)
	}
	if hidden := len(digits) - len(head) - len(tail); hidden < min(4, len(digits)) {
		t.Fatalf("MaskPhone(%q) = %q hides only %d digits", in, got, hidden)
	}
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestMaskPhoneProperties(t *testing.T) {
	for _, tc := range maskPhoneCases {
		checkMask(t, tc.in)
	}
	for n := range 20 {
		digits := "98765432109876543210"[:n]
		for _, s := range []string{digits, "+" + digits, "+" + digits + "****", digits[:n/2] + "****" + digits[n/2:]} {
			checkMask(t, s)
		}
	}
}

func FuzzMaskPhone(f *testing.F) {
	for _, tc := range maskPhoneCases {
		f.Add(tc.in)
	}
	f.Fuzz(checkMask)
}
