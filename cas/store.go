package cas

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// TicketStore keeps SSO sessions and tickets. It holds no policy: callers
// pass every time in, and decide what "expired" means. Missing rows are
// reported as store.ErrNotFound. The suite in cas/castest is its contract.
type TicketStore interface {
	// CreateTGT stores a new SSO session, and with a non-nil
	// t.FirstService records that service for single logout as
	// CreateTicket's slo does, in the same write. The login that starts a
	// session passes its ST's service here and then stores the ST with
	// CreateTicket and a nil slo, after the TGT (the ticket's expiry is
	// capped by the stored session's).
	CreateTGT(ctx context.Context, t TGT) error
	// GetTGT returns the session stored under key, FirstService included.
	GetTGT(ctx context.Context, key string) (TGT, error)
	// TouchTGT records use of a session: last use and the new idle expiry.
	TouchTGT(ctx context.Context, key string, lastUsed, idleExpires time.Time) error
	// DeleteTGT ends a session: it removes the TGT with its tickets, PGTs and
	// service records, and returns what single logout needs (its services
	// in the order they were recorded, FirstService first). When two
	// callers end one session, exactly one gets it; the other gets ErrNotFound.
	DeleteTGT(ctx context.Context, key string) (EndedSession, error)

	// SessionsOf returns the keys of the principal's sessions that are not
	// past their hard or idle expiry at now (at most maxSessionsOf of them,
	// newest first): the sessions a change to the person's account ends.
	SessionsOf(ctx context.Context, principalID string, now time.Time) ([]string, error)

	// CreateTicket stores an ST or PT; with a non-nil slo it first records
	// that the session's service must be told about a logout. The stored
	// expiry is the earliest of t.ExpiresAt and the session's hard and idle
	// expiry; for a session that is gone (or going) it is t.CreatedAt, so
	// no ticket outlives its session. A session ended after the ticket is
	// stored takes the ticket with it (DeleteTGT, Cleanup).
	CreateTicket(ctx context.Context, t Ticket, slo *SLOTarget) error
	// ConsumeTicket removes the ticket and returns it, with the expiry as
	// stored. Of any number of concurrent callers exactly one gets the
	// ticket; the others (and all later callers) get ErrNotFound.
	ConsumeTicket(ctx context.Context, id string) (Ticket, error)

	// CreatePGT stores a proxy-granting ticket (it lives as long as its TGT).
	CreatePGT(ctx context.Context, p PGT) error
	// GetPGT returns the PGT stored under key.
	GetPGT(ctx context.Context, key string) (PGT, error)

	// Cleanup deletes tickets that expired at or before now and sessions past
	// their hard or idle expiry (with everything belonging to them), in
	// small batches that never hold locks for long, and calls ended for each
	// ended session once its batch is committed, so its services can be
	// logged out (reported as DeleteTGT reports them; the backlog is never
	// held in memory). Concurrent calls report each session once.
	Cleanup(ctx context.Context, now time.Time, ended func(EndedSession)) error
}

// maxSessionsOf bounds SessionsOf: a person has a handful of sessions; a
// principal shared by thousands of API sessions is ended a page at a time.
const maxSessionsOf = 1000

// TGT is an SSO session. Only the SHA-256 of its id is stored (Key), so a
// copy of the database does not hand out live sessions.
type TGT struct {
	Key             string
	PrincipalID     string
	Attributes      map[string][]string
	AuthenticatedAt time.Time
	CreatedAt       time.Time
	LastUsedAt      time.Time
	ExpiresAt       time.Time // hard expiry
	IdleExpiresAt   time.Time // LastUsedAt + idle timeout
	// FirstService is the service that got the ST of the login that started
	// the session, recorded for single logout with the session itself so
	// that a new login is one write fewer. Nil when there is none to log
	// out (no service, logout_type none, an API client's session) and for a
	// session stored before migration 00051. Services that get an ST later
	// are recorded by CreateTicket.
	FirstService *SLOTarget
}

// principal is the session's principal as a ticket carries it.
func (t TGT) principal() Principal {
	return Principal{ID: t.PrincipalID, Attributes: t.Attributes, AuthenticatedAt: t.AuthenticatedAt}
}

// expired reports whether the session is past its hard or idle expiry.
func (t TGT) expired(now time.Time) bool {
	return !now.Before(t.ExpiresAt) || !now.Before(t.IdleExpiresAt)
}

// Ticket is a service ticket (ST-) or proxy ticket (PT-), single use.
type Ticket struct {
	ID           string
	TGTKey       string
	Service      string // the service URL exactly as given at /login or /proxy
	FromNewLogin bool   // issued right after primary authentication (renew)
	Proxies      []string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	// Principal is the session's principal as validation answers it (id,
	// attributes, AuthenticatedAt = the TGT's), copied in at issue so that
	// validating reads the ticket alone. Its ID is empty for a ticket
	// stored without it: one written before migration 00050, by an
	// instance of the previous release; the validator reads the TGT then.
	Principal Principal
}

// carriesPrincipal reports whether the ticket was stored with its session's
// principal (see Ticket.Principal).
func (t Ticket) carriesPrincipal() bool { return t.Principal.ID != "" }

// IsProxy reports whether the ticket is a PT.
func (t Ticket) IsProxy() bool { return len(t.ID) > 3 && t.ID[:3] == "PT-" }

// SLOTarget is a service that got an ST in a session and is told when the
// session ends.
type SLOTarget struct {
	TicketID   string // the ST, sent as SessionIndex
	ServiceID  string
	ServiceURL string
	LogoutURL  string // where the LogoutRequest is POSTed
}

// EndedSession is what single logout needs from a removed session.
type EndedSession struct {
	TGT TGT
	// Services are every service recorded for the session, in the order
	// they were recorded: TGT.FirstService (when not nil), then those
	// recorded by CreateTicket.
	Services []SLOTarget
}

// PGT is a proxy-granting ticket. Only the SHA-256 of its id is stored.
type PGT struct {
	Key       string
	TGTKey    string
	Proxies   []string // the proxy chain, most recent first
	CreatedAt time.Time
}

// Ticket id prefixes.
const (
	prefixST     = "ST-"
	prefixPT     = "PT-"
	prefixTGT    = "TGT-"
	prefixPGT    = "PGT-"
	prefixPGTIOU = "PGTIOU-"
	prefixLR     = "LR-"
)

// newTicketID returns prefix + 26 characters of base32 from crypto/rand (130
// bits), or twice that for long-lived tickets. The alphabet (A-Z, 2-7) is
// within the protocol's [A-Za-z0-9-]; an ST stays at 29 characters, under the
// 32 that every client must accept.
func newTicketID(prefix string, long bool) string {
	id := prefix + rand.Text()
	if long {
		id += rand.Text()
	}
	return id
}

// ticketKey is what the store keeps instead of a long-lived ticket's id.
func ticketKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// shortID is a ticket id safe to log: its prefix and a few characters.
func shortID(id string) string {
	const keep = 10
	if len(id) <= keep {
		return id
	}
	return id[:keep] + "…"
}
