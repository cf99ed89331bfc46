// Package flow persists browser login flows: one row per login in progress,
// from /cas/login to the redirect back to the service, so that any wxcas
// instance can carry on a login another instance started.
//
// A flow is a small state machine (Step). Handlers load it, check that the
// browser holds it, and move it forward with Update, which is a
// compare-and-swap on a version column: two requests racing on one flow (a
// double WeChat callback, a double-clicked form) cannot both apply.
package flow

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"wxcas/store"
)

// Step is where a flow stands.
type Step string

const (
	// StepWeChat: waiting for the WeChat callback.
	StepWeChat Step = "wechat"
	// StepBindPhone: WeChat identified an unbound person; asking for a phone.
	StepBindPhone Step = "bind_phone"
	// StepVerifyCode: an SMS code was sent to Phone.
	StepVerifyCode Step = "verify_code"
	// StepDone: the CAS session was issued; the flow only remains to absorb
	// a repeated callback gracefully until it expires.
	StepDone Step = "done"
)

// Flow is one login in progress.
type Flow struct {
	ID          string    `db:"id"`
	BrowserHash string    `db:"browser_hash"`
	Step        Step      `db:"step"`
	Channel     string    `db:"channel"` // qr_inline, qr_redirect, oa_base, oa_userinfo
	Request     string    `db:"request"` // the CAS login request, JSON
	StateHash   string    `db:"state_hash"`
	StateUsed   bool      `db:"state_used"`
	AppID       string    `db:"appid"`
	OpenID      string    `db:"openid"`
	UnionID     string    `db:"unionid"`
	Nickname    string    `db:"nickname"`
	AvatarURL   string    `db:"avatar_url"`
	Phone       string    `db:"phone"`
	Version     int       `db:"version"`
	CreatedAt   time.Time `db:"created_at"`
	ExpiresAt   time.Time `db:"expires_at"`
}

// Errors.
var (
	ErrNotFound = errors.New("flow: not found or expired")
	// ErrConflict: another request changed the flow first.
	ErrConflict = errors.New("flow: changed by another request")
	// ErrStateUsed: the WeChat state was already used (or never matched).
	ErrStateUsed = errors.New("flow: state already used or not for this flow")
)

// Store persists flows on wxcas's database.
type Store struct{ db *store.DB }

// NewStore returns a flow store on db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

const columns = `id, browser_hash, step, channel, request, state_hash, state_used, appid, openid, unionid, nickname, avatar_url, phone, version, created_at, expires_at`

// Create inserts a new flow.
func (s *Store) Create(ctx context.Context, f *Flow) error {
	f.CreatedAt, f.ExpiresAt = store.Time(f.CreatedAt), store.Time(f.ExpiresAt)
	_, err := s.db.NamedExecContext(ctx, `INSERT INTO login_flows (`+columns+`) VALUES (
:id, :browser_hash, :step, :channel, :request, :state_hash, :state_used, :appid, :openid, :unionid, :nickname, :avatar_url, :phone, :version, :created_at, :expires_at)`, f)
	return err
}

// Get loads a live flow.
func (s *Store) Get(ctx context.Context, id string, now time.Time) (*Flow, error) {
	var f Flow
	err := s.db.GetContext(ctx, &f, `SELECT `+columns+` FROM login_flows WHERE id = ? AND expires_at > ?`, id, store.Time(now))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// Update saves f if nobody changed the row since it was loaded (its Version),
// and bumps the version. A lost race is ErrConflict.
func (s *Store) Update(ctx context.Context, f *Flow) error {
	res, err := s.db.NamedExecContext(ctx, `UPDATE login_flows SET
step = :step, channel = :channel, request = :request, state_hash = :state_hash, state_used = :state_used,
appid = :appid, openid = :openid, unionid = :unionid, nickname = :nickname, avatar_url = :avatar_url,
phone = :phone, version = version + 1
WHERE id = :id AND version = :version`, f)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return ErrConflict
	}
	f.Version++
	return nil
}

// UseState marks the flow's WeChat state as used if stateHash matches and it
// was unused; exactly one caller wins. The loser gets ErrStateUsed.
func (s *Store) UseState(ctx context.Context, id, stateHash string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE login_flows SET state_used = 1, version = version + 1
WHERE id = ? AND state_hash = ? AND state_hash <> '' AND state_used = 0 AND expires_at > ?`, id, stateHash, store.Time(now))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return ErrStateUsed
	}
	return nil
}

// Delete removes a flow.
func (s *Store) Delete(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM login_flows WHERE id = ?`, id)
	return err
}

// Cleanup deletes flows that expired before t, in small batches through the
// expires_at index (store.DeleteBatched): logins never wait on it.
func (s *Store) Cleanup(ctx context.Context, t time.Time) (int64, error) {
	return s.db.DeleteBatched(ctx, "login_flows", "expires_at <= ?", store.CleanupBatch, store.Time(t))
}

// Finish deletes a flow whose login is complete, if nobody changed it since
// it was loaded (its Version): of two requests completing one flow (a double
// WeChat callback), exactly one wins; the other gets ErrConflict. Completed
// flows are not kept: the browser's flow cookie remembers where a finished
// login was going (see web's flow handlers).
func (s *Store) Finish(ctx context.Context, f *Flow) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM login_flows WHERE id = ? AND version = ?`, f.ID, f.Version)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return ErrConflict
	}
	return nil
}

// RandomToken returns 32 random bytes, base64url without padding: flow ids,
// browser nonces and WeChat states.
func RandomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Hash is the keyed hash under which nonces and states are stored, so a
// database reader cannot replay them.
func Hash(key []byte, purpose, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// HashEqual compares two hashes in constant time.
func HashEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }
