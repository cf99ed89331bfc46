package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"wxcas/binding"
	"wxcas/login"
	"wxcas/ratelimit"
	"wxcas/store"
)

// Bind tokens are "BT-" and 26 characters of crypto/rand base32 (130 bits).
// Only their SHA-256 is stored.
const bindTokenPrefix = "BT-"

func newBindToken() (token, hash string) {
	token = bindTokenPrefix + rand.Text()
	return token, hashToken(token)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// wellFormedBindToken rejects what cannot be a bind token without a
// database read.
func wellFormedBindToken(t string) bool {
	rest, ok := strings.CutPrefix(t, bindTokenPrefix)
	if !ok || len(rest) != 26 {
		return false
	}
	for _, c := range rest {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// bindToken is a stored bind token: the WeChat identity as WeChat reported
// it, and where the binding stands (Phone: an SMS code was sent to it).
type bindToken struct {
	Hash           string       `db:"token_hash"`
	ChainID        string       `db:"chain_id"`
	AppID          string       `db:"appid"`
	Kind           string       `db:"app_kind"`
	OpenID         string       `db:"openid"`
	UnionID        string       `db:"unionid"`
	Nickname       string       `db:"nickname"`
	AvatarURL      string       `db:"avatar_url"`
	Phone          string       `db:"phone"`
	CreatedAt      time.Time    `db:"created_at"`
	ExpiresAt      time.Time    `db:"expires_at"`
	ChainExpiresAt time.Time    `db:"chain_expires_at"`
	UsedAt         sql.NullTime `db:"used_at"`
}

// identity is the token's WeChat person. The chain is the holder of the SMS
// codes it asks for: a code sent in this binding verifies only with a token
// of the same chain, and another binding's wrong guesses cannot burn it.
func (t bindToken) identity() login.Identity {
	return login.Identity{
		Account: binding.Account{
			AppID: t.AppID, OpenID: t.OpenID, UnionID: t.UnionID, Nickname: t.Nickname, AvatarURL: t.AvatarURL,
		},
		Holder: "api:" + t.ChainID,
	}
}

// successor is the next token of the chain: same identity, fresh expiry
// (never past the chain's), and the phone the step recorded.
func (t bindToken) successor(phone string, now time.Time, ttl time.Duration) (string, bindToken) {
	token, hash := newBindToken()
	next := t
	next.Hash, next.Phone, next.UsedAt = hash, phone, sql.NullTime{}
	next.CreatedAt = store.Time(now)
	next.ExpiresAt = store.Time(minTime(now.Add(ttl), t.ChainExpiresAt))
	return token, next
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

var errTokenConsumed = errors.New("api: bind token already used")

type bindStore struct{ db *store.DB }

const bindColumns = `token_hash, chain_id, appid, app_kind, openid, unionid, nickname, avatar_url, phone, created_at, expires_at, chain_expires_at, used_at`

const bindInsert = `INSERT INTO api_bind_tokens (` + bindColumns + `) VALUES (:token_hash, :chain_id, :appid, :app_kind, :openid, :unionid, :nickname, :avatar_url, :phone, :created_at, :expires_at, :chain_expires_at, :used_at)`

func (s bindStore) create(ctx context.Context, t bindToken) error {
	if _, err := s.db.NamedExecContext(ctx, bindInsert, t); err != nil {
		return fmt.Errorf("api: store bind token: %w", err)
	}
	return nil
}

func (s bindStore) get(ctx context.Context, hash string) (bindToken, error) {
	var t bindToken
	err := s.db.GetContext(ctx, &t, s.db.Rebind(`SELECT `+bindColumns+` FROM api_bind_tokens WHERE token_hash = ?`), hash)
	if errors.Is(err, sql.ErrNoRows) {
		return bindToken{}, store.ErrNotFound
	}
	if err != nil {
		return bindToken{}, fmt.Errorf("api: read bind token: %w", err)
	}
	t.CreatedAt, t.ExpiresAt, t.ChainExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC(), t.ChainExpiresAt.UTC()
	return t, nil
}

// advance uses up t and, with a non-nil next, stores its successor, in one
// transaction. Of concurrent callers exactly one wins; the others get
// errTokenConsumed (also for a token that expired meanwhile).
func (s bindStore) advance(ctx context.Context, t bindToken, next *bindToken, now time.Time) error {
	now = store.Time(now)
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE api_bind_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`), now, t.Hash, now)
		if err != nil {
			return fmt.Errorf("api: use bind token: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("api: use bind token: %w", err)
		} else if n != 1 {
			return errTokenConsumed
		}
		if next == nil {
			return nil
		}
		if _, err := tx.NamedExecContext(ctx, bindInsert, next); err != nil {
			return fmt.Errorf("api: store bind token: %w", err)
		}
		return nil
	})
}

// limiter counts calls in fixed windows in the database, so limits hold
// across instances. Refused calls count too: hammering does not help.
type limiter struct{ db *store.DB }

// hit counts a call against key and returns how long to wait when the call
// is over the limit (0 when it is allowed).
func (l limiter) hit(ctx context.Context, key string, lim Limit, now time.Time) (time.Duration, error) {
	if lim.Max <= 0 {
		return 0, nil
	}
	var (
		used int
		ends time.Time
	)
	err := l.db.InTx(ctx, func(tx *sqlx.Tx) (err error) {
		used, ends, err = ratelimit.Bump(ctx, tx, l.db.Dialect, "api_rate_counters", key, now, lim.Window)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("api: %w", err)
	}
	if used <= lim.Max {
		return 0, nil
	}
	return max(ends.Sub(store.Time(now)), time.Second), nil
}

// ipSubject is the per-IP counter subject (see ratelimit.IPSubject); an
// address that does not parse is counted as one "invalid" client.
func ipSubject(raw string) string {
	s, err := ratelimit.IPSubject(raw)
	if err != nil {
		return "invalid"
	}
	return s
}

// cleanup deletes bind tokens that expired before tokensBefore and counter
// windows that ended before countersBefore.
func cleanup(ctx context.Context, db *store.DB, tokensBefore, countersBefore time.Time) (int64, error) {
	var total int64
	// Batched deletes through each table's expiry index
	// (store.DeleteBatched): the JSON API's logins never wait on them.
	for _, q := range []struct {
		table, where string
		before       time.Time
	}{
		{"api_bind_tokens", "expires_at < ?", tokensBefore},
		{"api_rate_counters", "window_ends_at < ?", countersBefore},
	} {
		n, err := db.DeleteBatched(ctx, q.table, q.where, store.CleanupBatch, store.Time(q.before))
		total += n
		if err != nil {
			return total, fmt.Errorf("api: %w", err)
		}
	}
	return total, nil
}
