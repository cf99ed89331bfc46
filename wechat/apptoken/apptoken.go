// Package apptoken keeps each WeChat app's app-level access token (the
// stable_token that server APIs such as getuserphonenumber need) in wxcas's
// database, shared by every instance: one fetch serves all instances until
// the token nears its expiry.
//
// A token is refreshed when less than RefreshBefore (5 minutes) of it is
// left, the margin in which WeChat itself renews a stable token. The
// instance that refreshes holds a short lease on the app's row; the others
// keep using the current token while it is valid, or wait for the lease
// holder's result, so a crowd of requests costs one call to WeChat.
//
// When WeChat refuses a cached token (40001, 42001), Do refreshes once and
// repeats the call: first without force_refresh (WeChat hands out its current
// token, which replaces one superseded elsewhere), and only if WeChat gives
// back the very token it refused, with force_refresh, which WeChat allows 20
// times a day and at most once in 30 seconds.
//
// The token is a credential: it is never logged, and it is stored sealed
// (AES-256-GCM under a key derived from wxcas's master secret, bound to the
// appid), so a database dump or replica does not hand out live tokens. A row
// that does not open (written in clear by an older wxcas, or under another
// master secret) counts as no token: it is refreshed.
package apptoken

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"wxcas/keys"
	"wxcas/store"
	"wxcas/wechat"
)

// Fetcher gets a stable token from WeChat; *wechat.Client is one.
type Fetcher interface {
	StableAccessToken(ctx context.Context, appID string, forceRefresh bool) (*wechat.AppToken, error)
}

// Defaults.
const (
	DefaultRefreshBefore = 5 * time.Minute
	DefaultLease         = 15 * time.Second
	DefaultPoll          = 100 * time.Millisecond
	// defaultTTL is assumed when WeChat sends no expires_in.
	defaultTTL = 7200 * time.Second
	// minForceInterval is WeChat's spacing of forced refreshes.
	minForceInterval = 30 * time.Second
	// cleanupTimeout bounds releasing a lease after the caller went away.
	cleanupTimeout = 5 * time.Second
)

// Errors.
var (
	// ErrWaitTimeout: another instance held the refresh lease for too long
	// and no usable token appeared.
	ErrWaitTimeout = errors.New("apptoken: timed out waiting for another instance to refresh the app access token")
	// ErrForceTooSoon: WeChat refused the token it still hands out, and a
	// forced refresh happened less than 30 seconds ago.
	ErrForceTooSoon = errors.New("apptoken: WeChat refused its current app access token and a forced refresh is not allowed yet")
)

// Options tune a Cache; zero values take the defaults, except Key.
type Options struct {
	// Key seals tokens at rest: 32 bytes, the same on every instance
	// (keys.Derive(master, keys.AppToken)). Required.
	Key []byte
	// Now is the clock for expiry and leases (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// RefreshBefore: a token with less than this left is refreshed.
	RefreshBefore time.Duration
	// Lease bounds how long one instance's refresh keeps others waiting;
	// it should exceed the WeChat client's timeout.
	Lease time.Duration
	// Poll is how often a waiting instance looks for the new token.
	Poll time.Duration
	// MaxWait bounds (in real time) how long a caller waits for another
	// instance's refresh. Default: Lease plus five seconds.
	MaxWait time.Duration
}

// Cache is the shared token cache. It is safe for concurrent use, and any
// number of Caches (instances) may share one database.
type Cache struct {
	db            *store.DB
	sealer        *keys.Sealer
	fetch         Fetcher
	now           func() time.Time
	log           *slog.Logger
	refreshBefore time.Duration
	lease         time.Duration
	poll          time.Duration
	maxWait       time.Duration
}

// New returns a Cache on db (table wechat_app_tokens, migration 00042).
func New(db *store.DB, f Fetcher, o Options) (*Cache, error) {
	if len(o.Key) != 32 {
		return nil, errors.New("apptoken: Options.Key must be 32 bytes")
	}
	sealer, err := keys.NewSealer(o.Key)
	if err != nil {
		return nil, fmt.Errorf("apptoken: %w", err)
	}
	c := &Cache{db: db, sealer: sealer, fetch: f, now: o.Now, log: o.Logger, refreshBefore: o.RefreshBefore, lease: o.Lease, poll: o.Poll, maxWait: o.MaxWait}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c.log = c.log.With("component", "apptoken")
	if c.refreshBefore <= 0 {
		c.refreshBefore = DefaultRefreshBefore
	}
	if c.lease <= 0 {
		c.lease = DefaultLease
	}
	if c.poll <= 0 {
		c.poll = DefaultPoll
	}
	if c.maxWait <= 0 {
		c.maxWait = c.lease + 5*time.Second
	}
	return c, nil
}

// Token returns a usable app access token for appID, fetching one from
// WeChat only when no instance has a fresh one.
func (c *Cache) Token(ctx context.Context, appID string) (string, error) {
	return c.get(ctx, appID, "")
}

// Do calls fn with the app's token; when WeChat refuses the token
// (wechat.ErrInvalidToken or wechat.ErrTokenExpired), it refreshes the token
// once and calls fn again. fn must not have consumed anything single-use
// when WeChat refuses the token (WeChat checks the token first).
func (c *Cache) Do(ctx context.Context, appID string, fn func(token string) error) error {
	tok, err := c.Token(ctx, appID)
	if err != nil {
		return err
	}
	err = fn(tok)
	if !errors.Is(err, wechat.ErrInvalidToken) && !errors.Is(err, wechat.ErrTokenExpired) {
		return err
	}
	c.log.WarnContext(ctx, "WeChat refused the cached app access token; refreshing it", "appid", appID, "err", err)
	if tok, err = c.get(ctx, appID, tok); err != nil {
		return err
	}
	return fn(tok)
}

// row is an app's stored token.
type row struct {
	token      string
	expires    sql.NullTime
	leaseUntil sql.NullTime
	forced     sql.NullTime
}

func (r row) usable(now time.Time, margin time.Duration, rejected string) bool {
	return r.token != "" && r.token != rejected && r.expires.Valid && r.expires.Time.Sub(now) > margin
}

func (r row) valid(now time.Time, rejected string) bool {
	return r.usable(now, 0, rejected)
}

// get returns a token that is fresh enough and is not rejected.
func (c *Cache) get(ctx context.Context, appID, rejected string) (string, error) {
	if appID == "" {
		return "", errors.New("apptoken: empty appid")
	}
	deadline := time.Now().Add(c.maxWait)
	for {
		r, found, err := c.load(ctx, appID)
		if err != nil {
			return "", err
		}
		now := c.now()
		if r.usable(now, c.refreshBefore, rejected) {
			return r.token, nil
		}
		if !found {
			if err := c.insert(ctx, appID, now); err != nil {
				return "", err
			}
		}
		owner, ok, err := c.tryLease(ctx, appID, now)
		if err != nil {
			return "", err
		}
		if ok {
			return c.refresh(ctx, appID, owner, rejected)
		}
		// Another instance is refreshing; a token that still works serves
		// until its result is in.
		if r.valid(now, rejected) {
			return r.token, nil
		}
		if time.Now().After(deadline) {
			return "", ErrWaitTimeout
		}
		t := time.NewTimer(c.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
	}
}

// refresh fetches a new token under the lease owner and stores it.
func (c *Cache) refresh(ctx context.Context, appID, owner, rejected string) (tok string, err error) {
	defer func() {
		if err != nil {
			c.release(ctx, appID, owner)
		}
	}()
	// Another instance may have stored a fresh token just before this one
	// took the lease.
	r, _, err := c.load(ctx, appID)
	if err != nil {
		return "", err
	}
	now := c.now()
	if r.usable(now, c.refreshBefore, rejected) {
		c.release(ctx, appID, owner)
		return r.token, nil
	}
	got, err := c.fetch.StableAccessToken(ctx, appID, false)
	forced := false
	if err == nil && rejected != "" && got.AccessToken == rejected {
		if r.forced.Valid && now.Sub(r.forced.Time) < minForceInterval {
			return "", ErrForceTooSoon
		}
		forced = true
		got, err = c.fetch.StableAccessToken(ctx, appID, true)
	}
	if err != nil {
		c.log.WarnContext(ctx, "cannot fetch the app access token from WeChat", "appid", appID, "forced", forced, "err", err)
		return "", err
	}
	if got.AccessToken == "" {
		return "", errors.New("apptoken: WeChat returned an empty token")
	}
	expires := got.ExpiresAt
	if expires.IsZero() {
		expires = now.Add(defaultTTL)
	}
	if err := c.store(ctx, appID, owner, got.AccessToken, expires, forced, now); err != nil {
		return "", err
	}
	c.log.InfoContext(ctx, "app access token refreshed", "appid", appID, "expires_at", expires.UTC(), "forced", forced)
	return got.AccessToken, nil
}

func (c *Cache) load(ctx context.Context, appID string) (row, bool, error) {
	var r row
	err := c.db.QueryRowxContext(ctx, c.db.Rebind(`SELECT access_token, expires_at, lease_until, forced_at FROM wechat_app_tokens WHERE appid = ?`), appID).
		Scan(&r.token, &r.expires, &r.leaseUntil, &r.forced)
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, false, nil
	}
	if err != nil {
		return row{}, false, fmt.Errorf("apptoken: read token: %w", err)
	}
	if r.token != "" {
		if r.token, err = c.sealer.Open(appID, r.token); err != nil {
			c.log.WarnContext(ctx, "stored app access token does not open; it will be refreshed", "appid", appID, "err", err)
		}
	}
	return r, true, nil
}

func (c *Cache) insert(ctx context.Context, appID string, now time.Time) error {
	_, err := c.db.ExecContext(ctx, c.db.Rebind(`INSERT INTO wechat_app_tokens (appid, updated_at) VALUES (?, ?)`), appID, store.Time(now))
	if err != nil && !store.IsDuplicate(err) {
		return fmt.Errorf("apptoken: create row: %w", err)
	}
	return nil
}

// tryLease takes the app's refresh lease if nobody holds a live one.
func (c *Cache) tryLease(ctx context.Context, appID string, now time.Time) (string, bool, error) {
	owner := rand.Text()
	now = store.Time(now)
	res, err := c.db.ExecContext(ctx, c.db.Rebind(`UPDATE wechat_app_tokens SET lease_owner = ?, lease_until = ?
		WHERE appid = ? AND (lease_until IS NULL OR lease_until <= ?)`), owner, now.Add(c.lease), appID, now)
	if err != nil {
		return "", false, fmt.Errorf("apptoken: take lease: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return "", false, fmt.Errorf("apptoken: take lease: %w", err)
	}
	return owner, n == 1, nil
}

func (c *Cache) release(ctx context.Context, appID, owner string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, err := c.db.ExecContext(ctx, c.db.Rebind(`UPDATE wechat_app_tokens SET lease_owner = '', lease_until = NULL WHERE appid = ? AND lease_owner = ?`), appID, owner)
	if err != nil {
		c.log.WarnContext(ctx, "cannot release the refresh lease; it lapses by itself", "appid", appID, "err", err)
	}
}

// store saves a new token and gives the lease back if it is still ours. The
// token is stored even if the lease lapsed: it is as good as any other.
// lease_until is assigned before lease_owner because MySQL evaluates SET
// left to right with earlier assignments visible (SQLite sees the old row).
func (c *Cache) store(ctx context.Context, appID, owner, token string, expires time.Time, forced bool, now time.Time) error {
	now = store.Time(now)
	set := []string{"access_token = ?", "expires_at = ?", "updated_at = ?"}
	args := []any{c.sealer.Seal(appID, token), store.Time(expires), now}
	if forced {
		set = append(set, "forced_at = ?")
		args = append(args, now)
	}
	set = append(set,
		"lease_until = CASE WHEN lease_owner = ? THEN NULL ELSE lease_until END",
		"lease_owner = CASE WHEN lease_owner = ? THEN '' ELSE lease_owner END")
	args = append(args, owner, owner, appID)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, err := c.db.ExecContext(ctx, c.db.Rebind(`UPDATE wechat_app_tokens SET `+strings.Join(set, ", ")+` WHERE appid = ?`), args...)
	if err != nil {
		return fmt.Errorf("apptoken: store token: %w", err)
	}
	return nil
}
