package openid

import (
	"context"
	"errors"
	"time"
)

// Store keeps the provider's state: authorization requests and their codes,
// grants (one per code exchange: the family of every token issued from that
// code), refresh tokens and signing keys. Every instance shares it, so any
// instance can answer any step. Missing rows are store.ErrNotFound. Codes
// and refresh tokens are stored only as SHA-256 hashes. The suite in
// openid/openidtest is the contract; it runs on SQLite and MySQL.
type Store interface {
	// CreateAuthRequest stores a new authorization request.
	CreateAuthRequest(ctx context.Context, a AuthRequest) error
	// AuthRequest returns the request with this id.
	AuthRequest(ctx context.Context, id string) (AuthRequest, error)
	// CompleteAuthRequest records who logged in for a request that is not
	// done yet (Done, Subject, SessionKey, AuthTime, AMR, Attributes are
	// taken from done). ErrConflict when the request is already done.
	CompleteAuthRequest(ctx context.Context, id string, done AuthRequest) error
	// SaveCode stores the hash of the code issued for a done request and
	// shortens the request's life to the code's (expiresAt). A request
	// gets one code: a second, or one for a request not done, is
	// ErrConflict.
	SaveCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error
	// AuthRequestByCode returns the request whose code hashes to codeHash.
	AuthRequestByCode(ctx context.Context, codeHash string) (AuthRequest, error)
	// BindBrowser records which browser carries a browser authorization
	// (the hash of a nonce in its cookie): the first to continue it. A
	// request already bound is ErrConflict.
	BindBrowser(ctx context.Context, id, hash string) error
	// RedeemCode marks the request's code as exchanged for grantID. Of any
	// number of concurrent callers exactly one succeeds; the others, and
	// every later caller, get ErrCodeUsed.
	RedeemCode(ctx context.Context, id, grantID string) error

	// CreateGrant stores a new grant.
	CreateGrant(ctx context.Context, g Grant) error
	// Grant returns the grant with this id (revoked or not).
	Grant(ctx context.Context, id string) (Grant, error)
	// RevokeGrant revokes a grant: every token issued from it stops working.
	// Revoking an unknown or revoked grant is not an error.
	RevokeGrant(ctx context.Context, id string) error
	// RevokeSessionGrants revokes every grant issued in an SSO session and
	// returns all of the session's grants, revoked before or now: each of
	// their clients took part in the session and is told of its end
	// (back-channel logout), whatever became of its tokens.
	RevokeSessionGrants(ctx context.Context, sessionKey string) ([]Grant, error)

	// CreateRefreshToken stores the first refresh token of a grant.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RefreshToken returns the refresh token that hashes to hash.
	RefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// RotateRefreshToken marks the token oldHash as used and stores next,
	// atomically. Of concurrent callers with one oldHash exactly one
	// succeeds; the others, and every later caller, get ErrTokenReused.
	RotateRefreshToken(ctx context.Context, oldHash string, next RefreshToken) error

	// AddSigningKey stores a new signing key. ErrConflict when a key of the
	// same Generation exists: another instance made it first.
	AddSigningKey(ctx context.Context, k SigningKey) error
	// SigningKeys returns the keys not yet expired at now, oldest
	// generation first.
	SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error)

	// Cleanup deletes, in small batches through indexes, authorization
	// requests, grants, refresh tokens and keys that expired at or before
	// now, and returns how many rows went.
	Cleanup(ctx context.Context, now time.Time) (int64, error)
}

// Errors a Store returns besides store.ErrNotFound.
var (
	ErrConflict    = errors.New("openid: already done")
	ErrCodeUsed    = errors.New("openid: authorization code already used")
	ErrTokenReused = errors.New("openid: refresh token already used")
)

// AuthRequest is an authorization request (from /authorize or the
// challenge endpoint) while the person logs in, then its code until the
// code is exchanged or expires.
type AuthRequest struct {
	ID           string
	ClientID     string
	RedirectURI  string // "" for the challenge endpoint
	Scopes       []string
	State        string
	Nonce        string
	ResponseMode string
	// CodeChallenge is the PKCE S256 challenge ("" for a confidential
	// client that sent none).
	CodeChallenge string
	Prompt        []string
	MaxAge        int // seconds; -1 when not asked
	UILocales     string
	LoginHint     string
	// HintSubject is the subject of the request's id_token_hint: the
	// person the client expects (OIDC Core §3.1.2.1).
	HintSubject string
	// EntryAppID is the Official Account the request named (appid=) for a
	// login inside WeChat to start from; "" for the default.
	EntryAppID string

	// Set by CompleteAuthRequest.
	Done       bool
	Subject    string
	SessionKey string // the CAS SSO session (TGT key)
	AuthTime   time.Time
	AMR        []string
	// Attributes are the principal's attributes at login, from which the
	// client's configured claims are taken.
	Attributes map[string][]string

	// Set by SaveCode and RedeemCode.
	CodeHash string
	GrantID  string
	// BrowserHash binds a browser authorization to the browser that
	// continued it first (BindBrowser): a link to the request opened in
	// another browser cannot finish it.
	BrowserHash string

	CreatedAt time.Time
	ExpiresAt time.Time
}

// Grant is what one code exchange granted: the family of every access and
// refresh token issued from that code. Revoking it revokes them all.
type Grant struct {
	ID         string
	ClientID   string
	Subject    string
	SessionKey string
	Scopes     []string
	AuthTime   time.Time
	AMR        []string
	Attributes map[string][]string
	Revoked    bool
	CreatedAt  time.Time
	// ExpiresAt: the grant is kept until then. No token of it lives
	// beyond it (refresh tokens carry their family's end, access tokens
	// their exp), and it lasts at least as long as its SSO session may, so
	// that the session's logout still finds its client.
	ExpiresAt time.Time
}

// RefreshToken is one refresh token of a grant, stored by hash.
type RefreshToken struct {
	Hash      string
	GrantID   string
	Used      bool // rotated: presenting it again is reuse
	CreatedAt time.Time
	// ExpiresAt is the end of the refresh family: every token of a grant
	// has the first one's.
	ExpiresAt time.Time
}

// SigningKey is one of the provider's signing keys. The private key is
// stored sealed with a key derived from the master secret.
type SigningKey struct {
	ID         string // kid
	Generation int    // 1, 2, ...: unique, so that two instances rotating at once make one key
	Algorithm  string // RS256 or ES256
	Sealed     []byte // the sealed PKCS #8 private key
	CreatedAt  time.Time
	// ActiveFrom: the key signs from then on (it is published in JWKS from
	// CreatedAt, before it signs anything).
	ActiveFrom time.Time
	// ExpiresAt: the key leaves JWKS (every token it signed has expired).
	ExpiresAt time.Time
}
