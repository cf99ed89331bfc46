package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"wxcas/binding"
	"wxcas/otp"
	"wxcas/store"
)

// A browser replaces the bound WeChat account in two steps: the person
// proves the phone (StartReplace), then logs in with the new WeChat account
// and comes back with the state StartReplace made (TakeReplacement,
// FinishReplace). The state is random, stored only as its hash, used once,
// and only by the session that made it.

// replacementTTL is how long the person has to log in with WeChat.
const replacementTTL = 10 * time.Minute

// ErrNoReplacement: the state names no replacement of this session (unknown,
// used, expired, or another session's).
var ErrNoReplacement = errors.New("account: no replacement in progress")

// Replacement is a replacement whose state came back: the new WeChat
// account is to be logged in with AppID.
type Replacement struct {
	AppID  string
	userID string
}

// PendingReplacement is an account_replacements row.
type PendingReplacement struct {
	StateHash  string    `db:"state_hash"`
	SessionKey string    `db:"session_key"`
	UserID     string    `db:"user_id"`
	AppID      string    `db:"appid"`
	CreatedAt  time.Time `db:"created_at"`
	ExpiresAt  time.Time `db:"expires_at"`
}

// ReplacementStore keeps the replacements in progress.
type ReplacementStore interface {
	Create(ctx context.Context, r PendingReplacement) error
	// Take removes and returns the row; of concurrent callers one gets it,
	// the others store.ErrNotFound.
	Take(ctx context.Context, stateHash string) (PendingReplacement, error)
	// Cleanup deletes the rows expired before now.
	Cleanup(ctx context.Context, now time.Time) (int64, error)
}

func stateHash(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// StartReplace checks the code sent to the person's phone, uses it up and
// returns the state to send to WeChat with an authorization for appid.
func (s *Service) StartReplace(ctx context.Context, p Person, code, appid string) (string, error) {
	u, err := s.user(ctx, p.UserID)
	if err != nil {
		return "", err
	}
	if err := s.notJustChangedPhone(ctx, u.ID); err != nil {
		return "", err
	}
	proof, err := s.check(ctx, p, PurposeReplace, otp.Phone(u.Phone), code)
	if err != nil {
		return "", err
	}
	state := rand.Text() + rand.Text()
	now := s.d.Now()
	err = s.d.Tx.Atomic(ctx, func(ctx context.Context) error {
		if err := s.d.Codes.Spend(ctx, proof); err != nil {
			return err
		}
		return s.d.Replacements.Create(ctx, PendingReplacement{StateHash: stateHash(state), SessionKey: p.SessionKey, UserID: u.ID,
			AppID: appid, CreatedAt: now, ExpiresAt: now.Add(replacementTTL)})
	})
	if err != nil {
		return "", err
	}
	return state, nil
}

// TakeReplacement uses up the state WeChat sent back. It must be the
// person's own session's, and not expired.
func (s *Service) TakeReplacement(ctx context.Context, p Person, state string) (Replacement, error) {
	if state == "" {
		return Replacement{}, ErrNoReplacement
	}
	r, err := s.d.Replacements.Take(ctx, stateHash(state))
	if errors.Is(err, store.ErrNotFound) {
		return Replacement{}, ErrNoReplacement
	}
	if err != nil {
		return Replacement{}, err
	}
	if r.SessionKey != p.SessionKey || r.UserID != p.UserID || !s.d.Now().Before(r.ExpiresAt) {
		return Replacement{}, ErrNoReplacement
	}
	return Replacement{AppID: r.AppID, userID: r.UserID}, nil
}

// FinishReplace binds acct, the WeChat account the person logged in with
// for r, in place of the bound one.
func (s *Service) FinishReplace(ctx context.Context, p Person, r Replacement, acct binding.Account) (Result, error) {
	if r.userID == "" || r.userID != p.UserID {
		return Result{}, ErrNoReplacement
	}
	u, err := s.user(ctx, p.UserID)
	if err != nil {
		return Result{}, err
	}
	return s.replace(ctx, p, u, acct, func(context.Context) error { return nil })
}

// CleanupReplacements deletes replacements past their expiry.
func (s *Service) CleanupReplacements(ctx context.Context) (int64, error) {
	return s.d.Replacements.Cleanup(ctx, s.d.Now())
}

// SQLReplacements is the ReplacementStore on the account_replacements table.
type SQLReplacements struct{ DB *store.DB }

// Create implements ReplacementStore.
func (s SQLReplacements) Create(ctx context.Context, r PendingReplacement) error {
	_, err := s.DB.Q(ctx).ExecContext(ctx, s.DB.Rebind(`INSERT INTO account_replacements
  (state_hash, session_key, user_id, appid, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`),
		r.StateHash, r.SessionKey, r.UserID, r.AppID, store.Time(r.CreatedAt), store.Time(r.ExpiresAt))
	if err != nil {
		return fmt.Errorf("account: store replacement: %w", err)
	}
	return nil
}

// Take implements ReplacementStore: read, then delete; the DELETE decides
// which of concurrent callers wins.
func (s SQLReplacements) Take(ctx context.Context, hash string) (PendingReplacement, error) {
	var r PendingReplacement
	err := s.DB.GetContext(ctx, &r, s.DB.Rebind(`SELECT state_hash, session_key, user_id, appid, created_at, expires_at
  FROM account_replacements WHERE state_hash = ?`), hash)
	if errors.Is(err, sql.ErrNoRows) {
		return r, store.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("account: read replacement: %w", err)
	}
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`DELETE FROM account_replacements WHERE state_hash = ?`), hash)
	if err != nil {
		return r, fmt.Errorf("account: use replacement: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return r, store.ErrNotFound
	}
	return r, nil
}

// cleanupBatch bounds one clean-up statement (the expiry is indexed).
const cleanupBatch = 500

// Cleanup implements ReplacementStore, in batches.
func (s SQLReplacements) Cleanup(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`DELETE FROM account_replacements WHERE state_hash IN (
  SELECT state_hash FROM (SELECT state_hash FROM account_replacements WHERE expires_at < ? LIMIT `+fmt.Sprint(cleanupBatch)+`) AS old)`), store.Time(now))
		if err != nil {
			return total, fmt.Errorf("account: clean up replacements: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < cleanupBatch {
			return total, nil
		}
	}
}
