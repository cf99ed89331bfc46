package otp

import (
	"context"
	"time"
)

// Store keeps codes and send counters. Every method is atomic in the database
// so that several wxcas instances can share one store; times are passed in by
// the caller (the Service's clock). SQLStore implements it on SQLite and
// MySQL; otptest.Run is the contract every implementation must pass.
type Store interface {
	// PutCode stores c as the pending code for its holder, phone and
	// purpose, replacing any earlier code of that holder, phone and purpose
	// (which then no longer verifies). Other holders' codes are untouched.
	PutCode(ctx context.Context, c Code) error
	// GetCode returns the pending code for holder (a HolderKey), phone and
	// purpose, or store.ErrNotFound.
	GetCode(ctx context.Context, holder string, phone Phone, purpose string) (Code, error)
	// PendingTo returns the number of holder's newest code for purpose
	// that can still verify at now (not verified, not expired, attempts
	// left), or store.ErrNotFound.
	PendingTo(ctx context.Context, holder, purpose string, now time.Time) (Phone, error)
	// DeleteCode removes the code issued as ref; a code that has been
	// replaced since is left alone.
	DeleteCode(ctx context.Context, ref CodeRef) error
	// CountAttempt records one verification attempt against ref in a single
	// atomic step, before the caller compares the code, and returns the
	// attempts made so far including this one. counted is false (and nothing
	// changes) when the code is gone, replaced, verified, expired at now, or
	// has already used all its attempts.
	CountAttempt(ctx context.Context, ref CodeRef, now time.Time) (attempts int, counted bool, err error)
	// MarkVerified consumes ref. Of several concurrent callers exactly one
	// gets true; after that the code never verifies again. It also returns
	// false for a replaced or expired code.
	MarkVerified(ctx context.Context, ref CodeRef, now time.Time) (bool, error)

	// Reserve counts one send against every limit, all or nothing, in one
	// transaction. If a counter would go over its Max, nothing is counted and
	// the error is a *LimitError for the refusing limit with the longest wait
	// (so "retry after" is honest). Limits flagged Budget are consulted only
	// when all others allowed the send, which keeps refused requests off
	// their hot shared row. Pass limits in one fixed order (Budget ones last)
	// so concurrent reservations lock rows in the same order.
	Reserve(ctx context.Context, now time.Time, limits []Limit) ([]Hold, error)
	// Release gives holds back (the send did not happen): each counter is
	// decremented unless its window has ended since.
	Release(ctx context.Context, holds []Hold) error
	// Counts reads the counters named by keys whose window is still open
	// at now, without changing them; a key with no open window is absent.
	Counts(ctx context.Context, now time.Time, keys []string) (map[string]Count, error)
	// Confirm gives back the unconfirmed sends of holder's codes for
	// purpose to their ConfirmKey counters in their windows: the code to
	// phone, or with phone "" every one of them (a mistyped number too); at
	// most max sends, each code once however often it is called. It
	// returns how many it gave back.
	Confirm(ctx context.Context, holder, purpose string, phone Phone, max int) (int, error)

	// Cleanup deletes codes that expired and counters whose window ended
	// before the given time, and returns how many rows went.
	Cleanup(ctx context.Context, before time.Time) (int64, error)
}

// CodeRef names one issuance of a code. IssueID is random per issuance, so a
// reference to a replaced code never matches its successor.
type CodeRef struct {
	// Holder is Service.HolderKey of the login the code was sent for; with
	// Phone and Purpose it is the row key, so each login has its own code
	// and its own attempt counter.
	Holder  string
	Phone   Phone
	Purpose string
	IssueID int64
}

// Code is a stored code: its HMAC, never the code itself.
type Code struct {
	CodeRef
	Hash        string // hex HMAC-SHA256 of purpose|holder|phone|code
	Attempts    int
	MaxAttempts int
	CreatedAt   time.Time
	ExpiresAt   time.Time
	VerifiedAt  time.Time // zero until verified
	// ConfirmKey and ConfirmEnds name the counter window of the sends that
	// entering a code of the login gives back (LimitIPUnconfirmed), and
	// ConfirmSends how many of the login's sends to this number it holds
	// (a resend replaces the code, not the count); empty when none.
	ConfirmKey   string
	ConfirmEnds  time.Time
	ConfirmSends int
}

// Count is one counter as Counts reads it.
type Count struct {
	Used         int
	WindowEndsAt time.Time
}

// Limit is one send limit for Reserve: at most Max sends per Window for one
// counter Key. The window opens at the first send and lasts Window; the next
// send after it ends opens a new one (a fixed window anchored at first use).
type Limit struct {
	Name   string // LimitError.Limit when this limit refuses
	Key    string // counter: limit name and subject, e.g. "phone_hour:+8613800138000"
	Max    int
	Window time.Duration
	// Budget marks a shared, service-wide limit (the global daily budget):
	// Reserve only consults it when every other limit allowed the send.
	Budget bool
}

// Hold is one counter that Reserve incremented.
type Hold struct {
	Limit
	Used         int       // the counter after this send
	WindowEndsAt time.Time // end of the window the send was counted in
}
