package logx

import (
	"regexp"
	"strings"
)

// maskedPhone is what MaskPhone returns: an optional +, at most five digits,
// four asterisks, at most four digits.
var maskedPhone = regexp.MustCompile(`^\+?[0-9]{0,5}\*{4}[0-9]{0,4}$`)

// MaskPhone hides the middle of a phone number for logs, error strings and
// audit records; it is wxcas's one phone mask. E.164 or national:
// "+8613800138000" becomes "+86138****8000", "13800138000" "138****8000".
//
// The last four digits and at most five leading ones stay visible, and at
// least four digits are always hidden, so input of fewer than eight digits is
// masked whole ("****", "+****"). Anything but digits (and a leading +) is
// dropped, so whatever is passed, no whole number comes out. An already
// masked number is returned as it is; "" stays "".
func MaskPhone(phone string) string {
	phone = strings.TrimSpace(phone)
	if phone == "" || maskedPhone.MatchString(phone) {
		return phone
	}
	prefix := ""
	if strings.HasPrefix(phone, "+") {
		prefix = "+"
	}
	var b strings.Builder
	for _, r := range phone {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	digits := b.String()
	switch n := len(digits); {
	case n < 8:
		return prefix + "****"
	case n == 8:
		return prefix + "****" + digits[n-4:]
	default:
		keep := min(5, n-8)
		return prefix + digits[:keep] + "****" + digits[n-4:]
	}
}
