package apptoken_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/store"
	"wxcas/store/storetest"
	"wxcas/wechat"
	"wxcas/wechat/apptoken"
	"wxcas/wechat/emulator"

	"wxcas/logx"
)

const (
	mini       = "wxmini0000000001"
	miniSecret = "S3cr3t-mini-0123456789"
)

type env struct {
	clock  *storetest.Clock
	em     *emulator.Emulator
	client *wechat.Client
	log    *logx.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clock := storetest.NewClock()
	em, err := emulator.New(emulator.Options{
		Apps: []emulator.App{{AppID: mini, Secret: miniSecret, Kind: emulator.KindMiniProgram}},
		Now:  clock.Now,
	})
	require.NoError(t, err)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	client, err := wechat.New(wechat.Config{
		OpenBaseURL: srv.URL, APIBaseURL: srv.URL, HTTPClient: srv.Client(), Now: clock.Now, MaxRetries: -1,
		Apps: []wechat.App{{AppID: mini, Secret: miniSecret, Kind: wechat.KindMiniProgram}},
	})
	require.NoError(t, err)
	return &env{clock: clock, em: em, client: client, log: &logx.Buffer{}}
}

// key is the sealing key every instance of a test shares.
var key = []byte("0123456789abcdef0123456789abcdef")

func (e *env) cache(db *store.DB, tune ...func(*apptoken.Options)) *apptoken.Cache {
	o := apptoken.Options{
		Key:    key,
		Now:    e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Poll:   10 * time.Millisecond,
	}
	for _, f := range tune {
		f(&o)
	}
	c, err := apptoken.New(db, e.client, o)
	if err != nil {
		panic(err) // a test's own options
	}
	return c
}

func (e *env) fetches() int { return e.em.Calls(emulator.PathStableToken) }

// forEachBackend runs fn once per backend with a function that makes a fresh
// database for each case (a cached token outlives a case's emulator).
func forEachBackend(t *testing.T, fn func(t *testing.T, fresh func(t *testing.T) *store.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, func(t *testing.T) *store.DB { return storetest.SQLite(t) }) })
	t.Run("mysql", func(t *testing.T) { fn(t, func(t *testing.T) *store.DB { return storetest.MySQL(t) }) })
}

func TestSharedAcrossInstances(t *testing.T) {
	for _, backend := range []string{"sqlite", "mysql"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t)
			db1, db2 := storetest.TwoHandles(t, backend)
			caches := []*apptoken.Cache{e.cache(db1), e.cache(db2)}
			// WeChat is slow: every other caller arrives while the first fetch runs.
			e.em.InjectFault(emulator.PathStableToken, emulator.FaultDelay(300*time.Millisecond))

			const callers = 12
			tokens := make([]string, callers)
			errs := make([]error, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tokens[i], errs[i] = caches[i%2].Token(context.Background(), mini)
				}()
			}
			wg.Wait()
			for i := range callers {
				require.NoError(t, errs[i])
				require.Equal(t, tokens[0], tokens[i])
			}
			require.NotEmpty(t, tokens[0])
			require.Equal(t, 1, e.fetches(), "one fetch serves every caller on both instances")

			// Later calls on either instance reuse it.
			for _, c := range caches {
				tok, err := c.Token(context.Background(), mini)
				require.NoError(t, err)
				require.Equal(t, tokens[0], tok)
			}
			require.Equal(t, 1, e.fetches())
			require.NotContains(t, e.log.String(), tokens[0], "the token is never logged")
		})
	}
}

func TestRefreshNearExpiry(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t)
		c := e.cache(db)
		ctx := context.Background()
		first, err := c.Token(ctx, mini)
		require.NoError(t, err)

		e.clock.Advance(emulator.AppTokenTTL - 5*time.Minute - time.Second)
		tok, err := c.Token(ctx, mini)
		require.NoError(t, err)
		require.Equal(t, first, tok, "more than five minutes left: reused")
		require.Equal(t, 1, e.fetches())

		e.clock.Advance(2 * time.Second)
		tok, err = c.Token(ctx, mini)
		require.NoError(t, err)
		require.NotEqual(t, first, tok, "renewed in its last five minutes")
		require.Equal(t, 2, e.fetches())
		tok2, err := c.Token(ctx, mini)
		require.NoError(t, err)
		require.Equal(t, tok, tok2)
		require.Equal(t, 2, e.fetches())
	})
}

func TestRefusedToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, fresh func(t *testing.T) *store.DB) {
		ctx := context.Background()

		t.Run("WeChat still hands out the refused token: forced refresh, once per 30 s", func(t *testing.T) {
			db := fresh(t)
			e := newEnv(t)
			c := e.cache(db)
			first, err := c.Token(ctx, mini)
			require.NoError(t, err)
			var seen []string
			err = c.Do(ctx, mini, func(tok string) error {
				seen = append(seen, tok)
				if len(seen) == 1 {
					return wechat.ErrInvalidToken
				}
				return nil
			})
			require.NoError(t, err)
			require.Len(t, seen, 2)
			require.Equal(t, first, seen[0])
			require.NotEqual(t, first, seen[1])
			require.Equal(t, 3, e.fetches(), "initial, plain, forced")

			err = c.Do(ctx, mini, func(string) error { return wechat.ErrTokenExpired })
			require.ErrorIs(t, err, apptoken.ErrForceTooSoon)
			require.Equal(t, 4, e.fetches())

			e.clock.Advance(31 * time.Second)
			calls := 0
			err = c.Do(ctx, mini, func(string) error {
				calls++
				if calls == 1 {
					return wechat.ErrInvalidToken
				}
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, 6, e.fetches())
		})

		t.Run("a token superseded elsewhere is replaced without forcing", func(t *testing.T) {
			db := fresh(t)
			e := newEnv(t)
			c := e.cache(db)
			first, err := c.Token(ctx, mini)
			require.NoError(t, err)
			// Another system forces a new stable token for the same app.
			other, err := e.client.StableAccessToken(ctx, mini, true)
			require.NoError(t, err)
			require.NotEqual(t, first, other.AccessToken)
			var seen []string
			err = c.Do(ctx, mini, func(tok string) error {
				seen = append(seen, tok)
				if tok == first {
					return wechat.ErrInvalidToken
				}
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, []string{first, other.AccessToken}, seen)
			require.Equal(t, 3, e.fetches(), "initial, the other system's, one plain refresh")
		})

		t.Run("other errors are returned without a refresh", func(t *testing.T) {
			db := fresh(t)
			e := newEnv(t)
			c := e.cache(db)
			calls := 0
			err := c.Do(ctx, mini, func(string) error { calls++; return wechat.ErrCodeInvalid })
			require.ErrorIs(t, err, wechat.ErrCodeInvalid)
			require.Equal(t, 1, calls)
			require.Equal(t, 1, e.fetches())
		})
	})
}

func TestFailuresAndLeases(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t)
		c := e.cache(db, func(o *apptoken.Options) { o.MaxWait = 300 * time.Millisecond })

		// A failed fetch is not cached and gives the lease back at once.
		e.em.InjectFault(emulator.PathStableToken, emulator.FaultBusy)
		_, err := c.Token(ctx, mini)
		require.ErrorIs(t, err, wechat.ErrBusy)
		tok, err := c.Token(ctx, mini)
		require.NoError(t, err)
		require.NotEmpty(t, tok)
		require.Equal(t, 2, e.fetches())

		// An instance that crashed while holding the lease: its valid token
		// still serves; once it expires, others wait, then take over.
		e.clock.Advance(emulator.AppTokenTTL - 4*time.Minute)
		_, err = db.ExecContext(ctx, db.Rebind(`UPDATE wechat_app_tokens SET lease_owner = 'crashed', lease_until = ?`), store.Time(e.clock.Now().Add(15*time.Second)))
		require.NoError(t, err)
		got, err := c.Token(ctx, mini)
		require.NoError(t, err)
		require.Equal(t, tok, got, "still valid while the other instance refreshes")
		require.Equal(t, 2, e.fetches())

		e.clock.Advance(5 * time.Minute)
		_, err = db.ExecContext(ctx, db.Rebind(`UPDATE wechat_app_tokens SET lease_until = ?`), store.Time(e.clock.Now().Add(15*time.Second)))
		require.NoError(t, err)
		start := time.Now()
		_, err = c.Token(ctx, mini)
		require.ErrorIs(t, err, apptoken.ErrWaitTimeout)
		require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

		e.clock.Advance(16 * time.Second)
		got, err = c.Token(ctx, mini)
		require.NoError(t, err, "the lapsed lease is taken over")
		require.NotEqual(t, tok, got)
		require.Equal(t, 3, e.fetches())

		// A cancelled caller stops waiting.
		_, err = db.ExecContext(ctx, db.Rebind(`UPDATE wechat_app_tokens SET access_token = '', lease_owner = 'x', lease_until = ?`), store.Time(e.clock.Now().Add(time.Minute)))
		require.NoError(t, err)
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = c.Token(cctx, mini)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

// TestSealedAtRest reads the raw table: the token is not there in clear, a
// row copied to another app or read under another key does not open, and a
// row an older wxcas wrote in clear is replaced rather than used.
func TestSealedAtRest(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t)
		ctx := context.Background()
		c := e.cache(db)
		tok, err := c.Token(ctx, mini)
		require.NoError(t, err)
		raw := func() string {
			var v string
			require.NoError(t, db.GetContext(ctx, &v, db.Rebind(`SELECT access_token FROM wechat_app_tokens WHERE appid = ?`), mini))
			return v
		}
		stored := raw()
		require.NotContains(t, stored, tok)
		require.True(t, strings.HasPrefix(stored, "v1."), stored)

		cases := []struct {
			name  string
			cache *apptoken.Cache
			value string
		}{
			{"another master secret", e.cache(db, func(o *apptoken.Options) { o.Key = []byte("fedcba9876543210fedcba9876543210") }), stored},
			{"written in clear by an older wxcas", c, tok},
			{"tampered", c, stored[:len(stored)-2] + "AA"},
			{"not base64", c, "v1.***"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := db.ExecContext(ctx, db.Rebind(`UPDATE wechat_app_tokens SET access_token = ? WHERE appid = ?`), tc.value, mini)
				require.NoError(t, err)
				before := e.fetches()
				got, err := tc.cache.Token(ctx, mini)
				require.NoError(t, err)
				require.Equal(t, before+1, e.fetches(), "an unreadable row is refreshed from WeChat")
				require.NotEmpty(t, got)
				require.NotEqual(t, tc.value, raw(), "the row is replaced by a sealed token")
			})
		}

		// A sealed value moved to another app's row does not open there.
		other := "wxmini0000000002"
		_, err = db.ExecContext(ctx, db.Rebind(`INSERT INTO wechat_app_tokens (appid, access_token, expires_at, updated_at) VALUES (?, ?, ?, ?)`),
			other, raw(), store.Time(e.clock.Now().Add(time.Hour)), store.Time(e.clock.Now()))
		require.NoError(t, err)
		unopened := strings.Count(e.log.String(), "does not open")
		_, err = c.Token(ctx, other)
		require.Error(t, err, "the copied value is not used: the cache asks WeChat for an app it does not know")
		require.Greater(t, strings.Count(e.log.String(), "does not open"), unopened)
		require.NotContains(t, e.log.String(), tok)
	})
}

func TestKeyRequired(t *testing.T) {
	for _, k := range [][]byte{nil, []byte("short")} {
		_, err := apptoken.New(nil, nil, apptoken.Options{Key: k})
		require.ErrorContains(t, err, "32 bytes")
	}
}
