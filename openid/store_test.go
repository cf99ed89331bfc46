package openid_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/openid"
	"wxcas/openid/openidtest"
	"wxcas/ratelimit"
	"wxcas/store"
	"wxcas/store/storetest"
)

func TestSQLStoreConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		openidtest.Run(t, func(t *testing.T) openid.Store { return openid.NewSQLStore(storetest.SQLite(t)) })
	})
	t.Run("mysql", func(t *testing.T) {
		openidtest.Run(t, func(t *testing.T) openid.Store { return openid.NewSQLStore(storetest.MySQL(t)) })
	})
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// The transactional methods, inside store.Atomic, are steps of the caller's
// transaction: when a later step fails, their writes roll back with it.
func TestSQLStoreJoinsAtomic(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := openid.NewSQLStore(db)
		t0 := openidtest.T0
		require.NoError(t, s.CreateRefreshToken(ctx, openidtest.SampleRefreshToken(hash("old"), "g-1")))
		require.NoError(t, s.CreateGrant(ctx, openidtest.SampleGrant("g-1", hash("session"), 1)))
		require.NoError(t, s.CreateAuthRequest(ctx, openidtest.SampleAuthRequest("ar-1", 1)))

		errLater := errors.New("a later step failed")
		err := db.Atomic(ctx, func(ctx context.Context) error {
			require.NoError(t, s.RotateRefreshToken(ctx, hash("old"), openidtest.SampleRefreshToken(hash("next"), "g-1")))
			revoked, err := s.RevokeSessionGrants(ctx, hash("session"))
			require.NoError(t, err)
			require.Len(t, revoked, 1)
			require.NoError(t, s.CompleteAuthRequest(ctx, "ar-1", openidtest.SampleLogin(1)))
			require.NoError(t, s.SaveCode(ctx, "ar-1", hash("code"), t0.Add(time.Minute)))
			require.NoError(t, s.RedeemCode(ctx, "ar-1", "g-1"))
			// Read through the transaction: the writes are there...
			next, err := s.RefreshToken(ctx, hash("next"))
			require.NoError(t, err)
			require.False(t, next.Used)
			a, err := s.AuthRequestByCode(ctx, hash("code"))
			require.NoError(t, err)
			require.Equal(t, "g-1", a.GrantID)
			// ...a second rotation in it sees the first...
			require.ErrorIs(t, s.RotateRefreshToken(ctx, hash("old"), openidtest.SampleRefreshToken(hash("other"), "g-1")),
				openid.ErrTokenReused)
			return errLater
		})
		require.ErrorIs(t, err, errLater)

		// ...and everything rolled back with it.
		old, err := s.RefreshToken(ctx, hash("old"))
		require.NoError(t, err)
		require.False(t, old.Used)
		_, err = s.RefreshToken(ctx, hash("next"))
		require.ErrorIs(t, err, store.ErrNotFound)
		g, err := s.Grant(ctx, "g-1")
		require.NoError(t, err)
		require.False(t, g.Revoked)
		a, err := s.AuthRequest(ctx, "ar-1")
		require.NoError(t, err)
		require.False(t, a.Done)
		require.Empty(t, a.CodeHash)
		require.Empty(t, a.GrantID)

		// The same rotation commits when the transaction does.
		require.NoError(t, db.Atomic(ctx, func(ctx context.Context) error {
			return s.RotateRefreshToken(ctx, hash("old"), openidtest.SampleRefreshToken(hash("next"), "g-1"))
		}))
		_, err = s.RefreshToken(ctx, hash("next"))
		require.NoError(t, err)
	})
}

// Lists are stored space-joined: an element that would not come back as it
// went in is refused, and nothing is stored. Empty keys are refused too.
func TestSQLStoreRefusesWhatCannotRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openid.NewSQLStore(storetest.SQLite(t))
	for _, c := range []struct {
		name string
		edit func(a *openid.AuthRequest)
	}{
		{"a scope with a space", func(a *openid.AuthRequest) { a.Scopes = []string{"openid", "a b"} }},
		{"an empty scope", func(a *openid.AuthRequest) { a.Scopes = []string{"openid", ""} }},
		{"a prompt with a tab", func(a *openid.AuthRequest) { a.Prompt = []string{"login\tconsent"} }},
		{"an amr with a newline", func(a *openid.AuthRequest) { a.AMR = []string{"sms\n"} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := openidtest.SampleAuthRequest("ar-bad", 1)
			c.edit(&a)
			require.Error(t, s.CreateAuthRequest(ctx, a))
			_, err := s.AuthRequest(ctx, "ar-bad")
			require.ErrorIs(t, err, store.ErrNotFound)
		})
	}

	g := openidtest.SampleGrant("g-bad", "s", 1)
	g.AMR = []string{"a b"}
	require.Error(t, s.CreateGrant(ctx, g))

	require.NoError(t, s.CreateAuthRequest(ctx, openidtest.SampleAuthRequest("ar-1", 1)))
	login := openidtest.SampleLogin(1)
	login.AMR = []string{" "}
	require.Error(t, s.CompleteAuthRequest(ctx, "ar-1", login))
	a, err := s.AuthRequest(ctx, "ar-1")
	require.NoError(t, err)
	require.False(t, a.Done, "a refused completion changes nothing")

	require.NoError(t, s.CompleteAuthRequest(ctx, "ar-1", openidtest.SampleLogin(1)))
	require.Error(t, s.SaveCode(ctx, "ar-1", "", openidtest.T0), "an empty code hash would be no code")
	require.NoError(t, s.SaveCode(ctx, "ar-1", hash("code"), openidtest.T0))
	require.Error(t, s.RedeemCode(ctx, "ar-1", ""), "an empty grant id would leave the code unredeemed")
	require.NoError(t, s.RedeemCode(ctx, "ar-1", "g-1"))
}

// Both dialects' migrations make the same tables with the same columns.
func TestOIDCTablesAlikeOnBothBackends(t *testing.T) {
	tables := []string{"oidc_auth_requests", "oidc_grants", "oidc_refresh_tokens", "oidc_signing_keys", "oidc_rate_counters"}
	columns := func(t *testing.T, db *store.DB) map[string][]string {
		out := map[string][]string{}
		for _, table := range tables {
			var cols []string
			var err error
			if db.Dialect == store.MySQL {
				err = db.Select(&cols, `SELECT column_name FROM information_schema.columns
WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position`, table)
			} else {
				err = db.Select(&cols, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
			}
			require.NoError(t, err)
			require.NotEmpty(t, cols, "%s: table %s exists", db.Dialect, table)
			out[table] = cols
		}
		return out
	}
	sqlite := columns(t, storetest.SQLite(t))
	mysql := columns(t, storetest.MySQL(t))
	require.Equal(t, sqlite, mysql)
	require.True(t, slices.Equal([]string{"counter_key", "used", "window_ends_at"}, sqlite["oidc_rate_counters"]))
}

// oidc_rate_counters is a ratelimit counter table.
func TestOIDCRateCountersServeTheLimiter(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := ratelimit.Limiter{DB: db, Table: "oidc_rate_counters"}
		lim := ratelimit.Limit{Max: 2, Window: time.Minute}
		now := openidtest.T0
		for i, want := range []bool{true, true, false} {
			wait, err := l.Hit(ctx, "token_ip:192.0.2.1", lim, now)
			require.NoError(t, err)
			require.Equal(t, want, wait == 0, "call %d", i+1)
		}
		n, err := l.Cleanup(ctx, now.Add(2*time.Minute))
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	})
}
