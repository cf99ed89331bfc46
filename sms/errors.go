package sms

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"wxcas/logx"
)

// Error kinds. Every error a Sender returns is an *Error that matches exactly
// one of these with errors.Is.
var (
	// ErrRateLimited: the provider's per-number limits (30 s, 1 h, daily, same
	// content, frequency policy). Error.RetryAfter says when, if derivable.
	ErrRateLimited = errors.New("sms: rate limited")
	// ErrInvalidPhone: the number cannot receive our SMS: malformed, on a
	// do-not-disturb list, or in a region the template does not cover.
	ErrInvalidPhone = errors.New("sms: invalid phone number")
	// ErrConfig: an operator problem: credentials, SdkAppId, sign or template
	// not approved, template parameter mismatch, permissions, clock skew.
	ErrConfig = errors.New("sms: provider configuration problem")
	// ErrQuota: the account's budget or app-level limits: package balance
	// exhausted, arrears, app daily limits.
	ErrQuota = errors.New("sms: quota exhausted")
	// ErrProvider: the provider failed or answered something we cannot
	// trust (internal errors, unknown codes, malformed responses).
	ErrProvider = errors.New("sms: provider error")
	// ErrTransport: no answer (network failure, timeout, cancelled context).
	// The message may or may not have been sent.
	ErrTransport = errors.New("sms: transport error")
	// ErrInvalidMessage: the caller passed a Message no sender can use
	// (empty code, non-positive TTL) — a programming error.
	ErrInvalidMessage = errors.New("sms: invalid message")
)

// Error is a failed send. Its text never contains the code, a secret or the
// full phone number.
type Error struct {
	Kind       error         // one of the Err* kinds above
	Provider   string        // "tencent", "console"
	Code       string        // provider error code, e.g. "LimitExceeded.PhoneNumberDailyLimit"; "" for local checks
	Message    string        // provider or local detail, redacted
	Phone      string        // recipient, masked with logx.MaskPhone
	RequestID  string        // provider request id, if any
	Retryable  bool          // whether trying again later may succeed; false means it will not without a change
	RetryAfter time.Duration // hint for Retryable errors; 0 when unknown
	Err        error         // underlying cause such as context.DeadlineExceeded, or nil
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("sms: error")
	}
	if e.Provider != "" {
		b.WriteString(": " + e.Provider)
	}
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Phone != "" {
		b.WriteString(" for " + e.Phone)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry in %s)", e.RetryAfter.Round(time.Second))
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" [RequestId " + e.RequestID + "]")
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Is matches the error's Kind.
func (e *Error) Is(target error) bool { return e.Kind != nil && target == e.Kind }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// redact removes the code, secrets and every spelling of the phone number
// (E.164, without the +, and without +86) from text that came from outside
// (provider messages) and shortens it. Each spelling becomes the masked
// E.164 form; a mask contains no run of seven digits, so no spelling can
// match inside one already put in.
func redact(text, phone string, secrets ...string) string {
	if phone != "" {
		masked := logx.MaskPhone(phone)
		forms := []string{phone, strings.TrimPrefix(phone, "+")}
		if rest, ok := strings.CutPrefix(phone, "+86"); ok {
			forms = append(forms, rest)
		}
		for _, f := range forms {
			if len(f) >= 7 {
				text = strings.ReplaceAll(text, f, masked)
			}
		}
	}
	for _, s := range secrets {
		switch {
		case s == "" || !strings.Contains(text, s):
		case len(s) >= 4:
			text = strings.ReplaceAll(text, s, "[redacted]")
		default: // too short to replace without garbling the text: drop it all
			return "[message withheld]"
		}
	}
	const maxLen = 300
	if len(text) > maxLen {
		cut := maxLen
		for cut > 0 && !isRuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	return text
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
