package otp

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by Service. Test with errors.Is; the messages are for logs,
// the HTTP layer shows its own text.
var (
	// ErrRateLimited: a per-user limit (cooldown, per phone, per IP, per
	// WeChat identity) refused the send. The error is a *LimitError.
	ErrRateLimited = errors.New("too many codes requested")
	// ErrBudgetExhausted: the global daily SMS budget is used up; nobody gets
	// a code until the window ends. The error is a *LimitError.
	ErrBudgetExhausted = errors.New("SMS budget exhausted")
	// ErrRegionNotAllowed: the number's country or region is not one the
	// service sends codes to (Config.Regions).
	ErrRegionNotAllowed = errors.New("phone region not allowed")
	// ErrSendFailed: the provider did not accept the message. No code is left
	// behind and the user's limits are not charged.
	ErrSendFailed = errors.New("sending the code failed")

	// ErrMalformedCode: the submission cannot be a code (empty, not all
	// digits, or the wrong length). It was refused without using an attempt.
	ErrMalformedCode = errors.New("malformed code")
	// ErrNoCode: there is no pending code for this holder, phone and purpose
	// — none was sent in this login, it was already used, or a newer code
	// replaced it.
	ErrNoCode = errors.New("no pending code")
	// ErrExpired: the code's TTL has passed.
	ErrExpired = errors.New("code expired")
	// ErrMismatch: the code is wrong. The error is a *MismatchError.
	ErrMismatch = errors.New("wrong code")
	// ErrTooManyAttempts: the code has used up its attempts and is burned;
	// even the right code fails now.
	ErrTooManyAttempts = errors.New("too many attempts")
)

// Limit names, as used in LimitError.Limit, logs and counter keys.
const (
	LimitCooldown    = "cooldown"
	LimitPhoneHour   = "phone_hour"
	LimitPhoneDay    = "phone_day"
	LimitIPHour      = "ip_hour"
	LimitIdentityDay = "identity_day"
	LimitGlobalDay   = "global_day"
	// LimitIPUnconfirmed counts the codes sent to one address whose
	// person has not entered them yet (a right code gives its send back):
	// people behind one NAT confirm theirs, an SMS pump never can.
	LimitIPUnconfirmed = "ip_unconfirmed"
	// LimitGlobalHour counts every send in the hour, for the challenge's
	// "above normal" signal; it never refuses.
	LimitGlobalHour = "global_hour"
	// LimitLoginGap: one send per login (holder) every Config.LoginGap. Two
	// requests of one login racing with different numbers each pass the
	// journey's checks before either records its step; without it both
	// sent an SMS, and the loser's could never be entered (outside probe).
	LimitLoginGap = "login_gap"
)

// LimitError says which limit refused a send and when to try again.
type LimitError struct {
	Limit      string        // one of the Limit* names: the one with the longest wait
	RetryAfter time.Duration // until the limit's window ends
	// Gap is the rest of the login's gap when it was full too (another
	// send of the login began a moment ago), whichever limit waits
	// longest; 0 when it was not.
	Gap time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%v (%s): retry in %s", e.kind(), e.Limit, e.RetryAfter.Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrBudgetExhausted) true for the global budget
// and errors.Is(err, ErrRateLimited) true for every per-user limit.
func (e *LimitError) Unwrap() error { return e.kind() }

func (e *LimitError) kind() error {
	if e.Limit == LimitGlobalDay {
		return ErrBudgetExhausted
	}
	return ErrRateLimited
}

// MismatchError is a wrong code. When AttemptsLeft is 0 the code is now
// burned and the error also matches ErrTooManyAttempts.
type MismatchError struct {
	AttemptsLeft int
}

func (e *MismatchError) Error() string {
	if e.AttemptsLeft == 0 {
		return "wrong code; no attempts left"
	}
	return fmt.Sprintf("wrong code; %d attempt(s) left", e.AttemptsLeft)
}

// Is lets a last wrong guess match both ErrMismatch and ErrTooManyAttempts.
func (e *MismatchError) Is(target error) bool {
	return target == ErrMismatch || (target == ErrTooManyAttempts && e.AttemptsLeft == 0)
}
