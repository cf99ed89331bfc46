package platform

import (
	"context"
	"errors"
	"time"
)

// Status is what the newest recorded event says about an Official Account's
// authorization of a platform.
type Status int

const (
	// StatusUnknown: no event recorded (the account may still have
	// authorized the platform before wxcas listened).
	StatusUnknown Status = iota
	// StatusAuthorized: the newest event was authorized or updateauthorized.
	StatusAuthorized
	// StatusUnauthorized: the newest event was unauthorized; a login
	// through the platform cannot succeed for this account.
	StatusUnauthorized
)

func (s Status) String() string {
	switch s {
	case StatusAuthorized:
		return "authorized"
	case StatusUnauthorized:
		return "unauthorized"
	default:
		return "unknown"
	}
}

// InfoType values of the pushes the Receiver acts on.
const (
	InfoVerifyTicket     = "component_verify_ticket"
	InfoAuthorized       = "authorized"
	InfoUpdateAuthorized = "updateauthorized"
	InfoUnauthorized     = "unauthorized"
)

// Bounds the stores enforce; the columns of migration 00049 hold these.
const (
	// MaxTicketLen bounds a ticket: its sealed form must fit the 1024
	// characters of verify_ticket (real tickets are about 100).
	MaxTicketLen = 512
	// MaxAppIDLen is the width of the appid columns.
	MaxAppIDLen = 64
	// MaxInfoTypeLen is the width of info_type.
	MaxInfoTypeLen = 32
)

// Errors of the stores.
var (
	// ErrNoTicket: no ticket has been received for the platform (or the
	// stored one no longer opens).
	ErrNoTicket = errors.New("platform: no component_verify_ticket received yet")
	// ErrInvalid: an argument is empty or too long; nothing was stored.
	ErrInvalid = errors.New("platform: invalid argument")
)

// Store keeps each platform's newest ticket and each authorizer's newest
// event, shared by every wxcas instance. created is always the message's
// CreateTime, and "newer" compares it: of several saves, in any order and
// from any number of instances at once, the one with the latest created
// stays, and a save whose created is not later than the stored one changes
// nothing (a replay, or WeChat's retry of a message already applied). Times
// are kept to the microsecond and come back in UTC. SQLStore implements it;
// platformtest.Run is the contract.
type Store interface {
	// SaveTicket stores ticket if created is newer than the stored one;
	// reports whether it did.
	SaveTicket(ctx context.Context, componentAppID, ticket string, created time.Time) (bool, error)
	// Ticket returns the newest ticket and its CreateTime; ErrNoTicket
	// when none.
	Ticket(ctx context.Context, componentAppID string) (string, time.Time, error)
	// SaveAuthorization records an authorizer's authorized (true) or
	// unauthorized (false) event, of WeChat's infoType, if created is newer
	// than the recorded one; reports whether it did.
	SaveAuthorization(ctx context.Context, componentAppID, authorizerAppID string, authorized bool, infoType string, created time.Time) (bool, error)
	// Authorization returns the authorizer's status under the platform;
	// StatusUnknown when no event was recorded.
	Authorization(ctx context.Context, componentAppID, authorizerAppID string) (Status, error)
}

// validAppID reports whether s can be an appid: 1 to MaxAppIDLen printable
// ASCII characters without spaces (WeChat's are "wx" and 16 hex digits).
// Anything else is refused before it reaches a log line or a column.
func validAppID(s string) bool {
	if s == "" || len(s) > MaxAppIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
