package otp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers/v2"

	"wxcas/logx"
)

// DefaultRegion is the region assumed for numbers written without a country
// code: the service's users are in mainland China.
const DefaultRegion = "CN"

// ErrInvalidPhone means the input is not a valid mobile phone number. Errors
// returned by ParsePhone wrap it with a short reason; they never repeat the
// input, which may be someone's phone number.
var ErrInvalidPhone = errors.New("invalid phone number")

// Phone is a phone number in E.164 form, e.g. "+8613800138000". Obtain one
// from ParsePhone; everything stored and sent uses this form.
type Phone string

// ParsePhone normalises raw to E.164. Numbers without a country code are read
// in defaultRegion (DefaultRegion when empty); "+86 138 0013 8000",
// "13800138000" and "008613800138000" all give "+8613800138000". Numbers that
// are not valid in their numbering plan, or that cannot be mobile (fixed
// lines, toll-free, premium) or carry an extension, are rejected: an SMS
// code could not reach them.
func ParsePhone(raw, defaultRegion string) (Phone, error) {
	if defaultRegion == "" {
		defaultRegion = DefaultRegion
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidPhone)
	}
	// Anything this long is not a phone number; do not make the parser work.
	if len(s) > 64 {
		return "", fmt.Errorf("%w: too long", ErrInvalidPhone)
	}
	num, err := phonenumbers.Parse(s, defaultRegion)
	if err != nil {
		return "", fmt.Errorf("%w: not a phone number", ErrInvalidPhone)
	}
	if num.GetExtension() != "" {
		return "", fmt.Errorf("%w: has an extension", ErrInvalidPhone)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", fmt.Errorf("%w: not a valid number", ErrInvalidPhone)
	}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
	default:
		return "", fmt.Errorf("%w: not a mobile number", ErrInvalidPhone)
	}
	return Phone(phonenumbers.Format(num, phonenumbers.E164)), nil
}

// String returns the E.164 form.
func (p Phone) String() string { return string(p) }

// Masked returns the number with the middle digits hidden for logs, e.g.
// "+86138****8000" or "+141****2671": it is logx.MaskPhone(string(p)).
func (p Phone) Masked() string { return logx.MaskPhone(string(p)) }

// wellFormed reports whether p looks like the output of ParsePhone: "+" and
// 7 to 15 digits. Service methods check it so an unparsed number cannot
// become a separate rate-limit key.
func (p Phone) wellFormed() bool {
	s := string(p)
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Display is the number as a person expects to see it masked on a page: a
// mainland number without its country code ("138****8000"), any other with
// it, apart ("+852 ****5678"). The last four digits stay, so a person can
// tell their numbers apart; the middle is hidden (at least three digits; four for mainland numbers).
func (p Phone) Display() string {
	num, err := phonenumbers.Parse(string(p), "")
	if err != nil {
		return p.Masked()
	}
	n := phonenumbers.GetNationalSignificantNumber(num)
	if len(n) < 6 {
		return p.Masked()
	}
	keep := min(max(len(n)-8, 0), 3)
	masked := n[:keep] + strings.Repeat("*", len(n)-keep-4) + n[len(n)-4:]
	if num.GetCountryCode() == 86 {
		return masked
	}
	return fmt.Sprintf("+%d %s", num.GetCountryCode(), masked)
}

// Region is the number's region (ISO 3166, e.g. "CN"), "" when unknown.
func (p Phone) Region() string {
	num, err := phonenumbers.Parse(string(p), "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(num)
}
