// Package sms sends one-time login codes by SMS.
//
// A Sender delivers one Message (an E.164 phone number, the code and its
// validity) and returns a Receipt or an error. Two senders exist: Tencent (the
// Tencent Cloud SMS SendSms API through the official SDK) for production and
// Console (logs the message and keeps a sandbox inbox) for the sandbox.
//
// Every error a Sender returns is an *Error whose kind can be tested with
// errors.Is against ErrRateLimited, ErrInvalidPhone, ErrConfig, ErrQuota,
// ErrProvider, ErrTransport or ErrInvalidMessage. Error strings never contain
// the code, the provider secret or a full phone number; use logx.MaskPhone
// when logging numbers.
package sms

import (
	"context"
	"regexp"
	"time"

	"wxcas/logx"
)

// Message is one code to deliver.
type Message struct {
	// Phone is the recipient in E.164 (+8613800000000), already normalised by
	// the caller.
	Phone string
	// Code is the one-time code (digits; Tencent verification templates accept
	// at most 6).
	Code string
	// TTL is how long the code stays valid; it is shown in whole minutes,
	// rounded up.
	TTL time.Duration
}

// TTLMinutes is m.TTL in whole minutes, rounded up (at least 1).
func (m Message) TTLMinutes() int {
	mins := int((m.TTL + time.Minute - 1) / time.Minute)
	return max(mins, 1)
}

// Receipt describes an accepted message. It holds nothing secret.
type Receipt struct {
	Provider  string // "tencent" or "console"
	SerialNo  string // provider serial number of the message, if any
	RequestID string // provider request id, for support tickets
	Fee       uint64 // billed messages (long texts are split), 0 if unknown
}

// Sender delivers a Message. A nil error means the provider accepted the
// message for this number; anything else is an *Error.
type Sender interface {
	Send(ctx context.Context, m Message) (Receipt, error)
}

// SenderFunc adapts a function to Sender (handy for tests and wrappers).
type SenderFunc func(ctx context.Context, m Message) (Receipt, error)

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, m Message) (Receipt, error) { return f(ctx, m) }

// e164 is "+", a non-zero country code digit and 7 to 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// ValidE164 reports whether phone has the E.164 shape (+ and 7–15 digits). It
// does not know numbering plans; normalise with a phone library first.
func ValidE164(phone string) bool { return e164.MatchString(phone) }

// checkMessage rejects messages no provider could deliver. provider names the
// sender in the error.
func checkMessage(provider string, m Message, needTTL bool) error {
	switch {
	case !ValidE164(m.Phone):
		return &Error{Kind: ErrInvalidPhone, Provider: provider, Phone: logx.MaskPhone(m.Phone), Message: "phone is not in E.164 form"}
	case m.Code == "":
		return &Error{Kind: ErrInvalidMessage, Provider: provider, Phone: logx.MaskPhone(m.Phone), Message: "empty code"}
	case needTTL && m.TTL <= 0:
		return &Error{Kind: ErrInvalidMessage, Provider: provider, Phone: logx.MaskPhone(m.Phone), Message: "TTL must be positive"}
	}
	return nil
}
