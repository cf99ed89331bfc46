// Package openidtest is the conformance suite every openid.Store passes: the
// SQL store on SQLite and on MySQL (and any other store, such as an
// in-memory one for unit tests). The suite is the Store's contract.
//
// Conventions the suite holds every store to: times come back in UTC at
// microsecond precision (store.Time); an empty list or map may come back
// nil or empty (the suite treats them alike); a zero AuthTime comes back
// zero; reads return expired rows too (the caller judges expiry).
package openidtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/openid"
	"wxcas/store"
	"wxcas/store/storetest"
)

// T0 is the suite's "now" (storetest.T0).
var T0 = storetest.T0

// shanghai is a zone other than UTC (storetest.Shanghai).
var shanghai = storetest.Shanghai

// SampleAuthRequest returns a new (not done, no code) authorization
// request with every request field set to a value that tells it apart from
// the zero value and, through n, from other samples; its times carry
// nanoseconds and a zone other than UTC.
func SampleAuthRequest(id string, n int) openid.AuthRequest {
	return openid.AuthRequest{
		ID:            id,
		ClientID:      fmt.Sprintf("client-%d", n),
		RedirectURI:   fmt.Sprintf("https://rp.example.com/cb/%d?x=1&y=%%20", n),
		Scopes:        []string{"openid", "profile", fmt.Sprintf("scope-%d", n)},
		State:         fmt.Sprintf("state-%d <&> \"é\"", n),
		Nonce:         fmt.Sprintf("nonce-%d", n),
		ResponseMode:  "form_post",
		CodeChallenge: fmt.Sprintf("%043d", n),
		Prompt:        []string{"login", "consent"},
		MaxAge:        300 + n,
		UILocales:     "zh-CN en",
		LoginHint:     fmt.Sprintf("+86138%08d", n),
		HintSubject:   fmt.Sprintf("user-%d", n),
		EntryAppID:    "wxentry0000000001",
		CreatedAt:     T0.In(shanghai),
		ExpiresAt:     T0.Add(10 * time.Minute).In(shanghai),
	}
}

// SampleLogin returns the login that CompleteAuthRequest records (Done,
// Subject, SessionKey, AuthTime, AMR, Attributes), told apart through n.
func SampleLogin(n int) openid.AuthRequest {
	return openid.AuthRequest{
		Done:       true,
		Subject:    fmt.Sprintf("user-%d", n),
		SessionKey: fmt.Sprintf("%064x", n+100),
		AuthTime:   T0.Add(time.Minute).In(shanghai),
		AMR:        []string{"sms", fmt.Sprintf("wx%d", n)},
		Attributes: map[string][]string{
			"name":   {"小明 🐼"},
			"groups": {"staff", fmt.Sprintf("g-%d", n), "with space"},
			"empty":  {},
		},
	}
}

// completed is a sample request with a sample login recorded.
func completed(id string, n int) openid.AuthRequest {
	a, l := SampleAuthRequest(id, n), SampleLogin(n)
	a.Done, a.Subject, a.SessionKey, a.AuthTime, a.AMR, a.Attributes = true, l.Subject, l.SessionKey, l.AuthTime, l.AMR, l.Attributes
	return a
}

// SampleGrant returns a live grant of the SSO session sessionKey with every
// field set, told apart through n.
func SampleGrant(id, sessionKey string, n int) openid.Grant {
	return openid.Grant{
		ID:         id,
		ClientID:   fmt.Sprintf("client-%d", n),
		Subject:    fmt.Sprintf("user-%d", n),
		SessionKey: sessionKey,
		Scopes:     []string{"openid", "email", fmt.Sprintf("scope-%d", n)},
		AuthTime:   T0.Add(-time.Minute).In(shanghai),
		AMR:        []string{"sms"},
		Attributes: map[string][]string{"email": {fmt.Sprintf("u%d@example.com", n)}, "roles": {"a", "b"}},
		CreatedAt:  T0.In(shanghai),
		ExpiresAt:  T0.Add(30 * 24 * time.Hour).In(shanghai),
	}
}

// SampleRefreshToken returns an unused refresh token of grantID.
func SampleRefreshToken(hash, grantID string) openid.RefreshToken {
	return openid.RefreshToken{
		Hash:      hash,
		GrantID:   grantID,
		CreatedAt: T0.In(shanghai),
		ExpiresAt: T0.Add(24 * time.Hour).In(shanghai),
	}
}

// SampleSigningKey returns a signing key of the generation, with id
// "k<generation>".
func SampleSigningKey(generation int) openid.SigningKey {
	return openid.SigningKey{
		ID:         fmt.Sprintf("k%d", generation),
		Generation: generation,
		Algorithm:  "ES256",
		Sealed:     []byte(fmt.Sprintf("sealed\x00\xff-%d", generation)),
		CreatedAt:  T0.In(shanghai),
		ActiveFrom: T0.Add(time.Hour).In(shanghai),
		ExpiresAt:  T0.Add(90 * 24 * time.Hour).In(shanghai),
	}
}

// hashOf is the SHA-256 (hex) of s, as codes and tokens are stored.
func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// requireSameExistence checks that a read after a refused write finds the
// row if and only if the read before it did.
func requireSameExistence(t *testing.T, before, after error, msg string) {
	t.Helper()
	if before == nil {
		require.NoError(t, after, "%s: a refused write deletes nothing", msg)
		return
	}
	require.ErrorIs(t, before, store.ErrNotFound, msg)
	require.ErrorIs(t, after, store.ErrNotFound, "%s: a refused write creates nothing", msg)
}

// The normalisers return a value as a store hands it back: times in UTC at
// microsecond precision, an empty list or map nil. They are applied to the
// expected value; the value read back only has its empty lists and maps
// made nil (its times must already be right: requireTimes).

func list(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

func attrs(m map[string][]string) map[string][]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = list(v)
	}
	return out
}

func normAuth(a openid.AuthRequest, times bool) openid.AuthRequest {
	a.Scopes, a.Prompt, a.AMR, a.Attributes = list(a.Scopes), list(a.Prompt), list(a.AMR), attrs(a.Attributes)
	if times {
		a.AuthTime, a.CreatedAt, a.ExpiresAt = store.Time(a.AuthTime), store.Time(a.CreatedAt), store.Time(a.ExpiresAt)
	}
	return a
}

func normGrant(g openid.Grant, times bool) openid.Grant {
	g.Scopes, g.AMR, g.Attributes = list(g.Scopes), list(g.AMR), attrs(g.Attributes)
	if times {
		g.AuthTime, g.CreatedAt, g.ExpiresAt = store.Time(g.AuthTime), store.Time(g.CreatedAt), store.Time(g.ExpiresAt)
	}
	return g
}

func normToken(t openid.RefreshToken) openid.RefreshToken {
	t.CreatedAt, t.ExpiresAt = store.Time(t.CreatedAt), store.Time(t.ExpiresAt)
	return t
}

func normKey(k openid.SigningKey) openid.SigningKey {
	k.CreatedAt, k.ActiveFrom, k.ExpiresAt = store.Time(k.CreatedAt), store.Time(k.ActiveFrom), store.Time(k.ExpiresAt)
	return k
}

// requireTimes checks that times read back are in UTC at microsecond
// precision.
func requireTimes(t *testing.T, msg string, times ...time.Time) {
	t.Helper()
	for i, tm := range times {
		require.Equal(t, time.UTC, tm.Location(), "%s: time %d (%v) comes back in UTC", msg, i, tm)
		require.Zero(t, tm.Nanosecond()%1000, "%s: time %d (%v) has microsecond precision", msg, i, tm)
	}
}

func requireAuth(t *testing.T, want, got openid.AuthRequest, msg string) {
	t.Helper()
	requireTimes(t, msg, got.AuthTime, got.CreatedAt, got.ExpiresAt)
	require.Equal(t, normAuth(want, true), normAuth(got, false), msg)
}

func requireGrant(t *testing.T, want, got openid.Grant, msg string) {
	t.Helper()
	requireTimes(t, msg, got.AuthTime, got.CreatedAt, got.ExpiresAt)
	require.Equal(t, normGrant(want, true), normGrant(got, false), msg)
}

func requireGrants(t *testing.T, want, got []openid.Grant, msg string) {
	t.Helper()
	got = slices.Clone(got)
	slices.SortFunc(got, func(a, b openid.Grant) int { return strings.Compare(a.ID, b.ID) })
	want = slices.Clone(want)
	slices.SortFunc(want, func(a, b openid.Grant) int { return strings.Compare(a.ID, b.ID) })
	require.Len(t, got, len(want), "%s: %v", msg, got)
	for i := range want {
		requireGrant(t, want[i], got[i], msg)
	}
}

func requireToken(t *testing.T, want, got openid.RefreshToken, msg string) {
	t.Helper()
	requireTimes(t, msg, got.CreatedAt, got.ExpiresAt)
	require.Equal(t, normToken(want), got, msg)
}

func requireKeys(t *testing.T, want, got []openid.SigningKey, msg string) {
	t.Helper()
	require.Len(t, got, len(want), "%s: %v", msg, got)
	for i := range want {
		requireTimes(t, msg, got[i].CreatedAt, got[i].ActiveFrom, got[i].ExpiresAt)
		require.Equal(t, normKey(want[i]), got[i], "%s: key %d", msg, i)
	}
}

// requireOneWinner checks that exactly one of errs is nil and every other
// is lost; it returns the winner's index.
func requireOneWinner(t *testing.T, errs []error, lost error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "callers %d and %d both won", winner, i)
			winner = i
			continue
		}
		require.ErrorIs(t, err, lost, "caller %d", i)
	}
	require.NotEqual(t, -1, winner, "nobody won")
	return winner
}

// racers is how many callers the concurrency tests start at once.
const racers = 8

// Run runs the suite; newStore must return a fresh, empty store each call.
func Run(t *testing.T, newStore func(t *testing.T) openid.Store) {
	ctx := context.Background()

	// --- authorization requests ---

	t.Run("auth request: create and read back every field", func(t *testing.T) {
		s := newStore(t)
		// Every field, those of a completed, coded and redeemed request
		// included (a store keeps whatever it is given).
		a := completed("ar-full", 1)
		a.CodeHash, a.GrantID = hashOf("code-1"), "g-1"
		require.NoError(t, s.CreateAuthRequest(ctx, a))
		got, err := s.AuthRequest(ctx, a.ID)
		require.NoError(t, err)
		requireAuth(t, a, got, "read back")
		got, err = s.AuthRequestByCode(ctx, a.CodeHash)
		require.NoError(t, err)
		requireAuth(t, a, got, "read back by code")
	})

	t.Run("auth request: zero values read back as zero", func(t *testing.T) {
		s := newStore(t)
		for _, a := range []openid.AuthRequest{
			// The challenge endpoint's: no redirect, no lists, no max age.
			{ID: "ar-bare", ClientID: "c", MaxAge: -1, CreatedAt: T0, ExpiresAt: T0.Add(time.Minute)},
			// max_age=0 is a request (log in again), not its absence.
			{ID: "ar-zero", ClientID: "c", Scopes: []string{}, Prompt: []string{}, Attributes: map[string][]string{},
				MaxAge: 0, CreatedAt: T0, ExpiresAt: T0.Add(time.Minute)},
		} {
			require.NoError(t, s.CreateAuthRequest(ctx, a))
			got, err := s.AuthRequest(ctx, a.ID)
			require.NoError(t, err)
			requireAuth(t, a, got, a.ID)
			require.True(t, got.AuthTime.IsZero(), "%s: no auth time stays none: %v", a.ID, got.AuthTime)
			require.Empty(t, got.CodeHash)
			require.Empty(t, got.GrantID)
			require.False(t, got.Done)
		}
	})

	t.Run("auth request: unknown id is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.AuthRequest(ctx, "ar-nobody")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("auth request: a duplicate id fails and changes nothing", func(t *testing.T) {
		s := newStore(t)
		first := SampleAuthRequest("ar-dup", 1)
		require.NoError(t, s.CreateAuthRequest(ctx, first))
		require.Error(t, s.CreateAuthRequest(ctx, SampleAuthRequest("ar-dup", 2)))
		got, err := s.AuthRequest(ctx, "ar-dup")
		require.NoError(t, err)
		requireAuth(t, first, got, "the first request is untouched")
	})

	t.Run("complete: records the login and nothing else", func(t *testing.T) {
		s := newStore(t)
		a := SampleAuthRequest("ar-complete", 1)
		require.NoError(t, s.CreateAuthRequest(ctx, a))
		other := SampleAuthRequest("ar-other", 2)
		require.NoError(t, s.CreateAuthRequest(ctx, other))

		// Fields other than the login's are ignored, even when set.
		done := completed("ar-ignored", 3)
		done.CodeHash, done.GrantID, done.MaxAge = hashOf("x"), "g-x", 9
		require.NoError(t, s.CompleteAuthRequest(ctx, a.ID, done))

		want := a
		want.Done, want.Subject, want.SessionKey, want.AuthTime, want.AMR, want.Attributes =
			true, done.Subject, done.SessionKey, done.AuthTime, done.AMR, done.Attributes
		got, err := s.AuthRequest(ctx, a.ID)
		require.NoError(t, err)
		requireAuth(t, want, got, "completed")
		got, err = s.AuthRequest(ctx, other.ID)
		require.NoError(t, err)
		requireAuth(t, other, got, "another request is untouched")
	})

	t.Run("complete: refusals", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			setup func(s openid.Store) // creates ar-1 or not
			want  error
		}{
			{"an already done request is ErrConflict", func(s openid.Store) {
				require.NoError(t, s.CreateAuthRequest(ctx, completed("ar-1", 1)))
			}, openid.ErrConflict},
			{"an unknown request is ErrNotFound", func(openid.Store) {}, store.ErrNotFound},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := newStore(t)
				c.setup(s)
				before, beforeErr := s.AuthRequest(ctx, "ar-1")
				err := s.CompleteAuthRequest(ctx, "ar-1", SampleLogin(2))
				require.ErrorIs(t, err, c.want)
				after, afterErr := s.AuthRequest(ctx, "ar-1")
				requireSameExistence(t, beforeErr, afterErr, "ar-1")
				if beforeErr == nil {
					requireAuth(t, before, after, "the first login stays")
				}
			})
		}
	})

	t.Run("complete: of concurrent completions exactly one wins", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.CreateAuthRequest(ctx, SampleAuthRequest("ar-race", 1)))
		errs := storetest.Race(racers, func(i int) error { return s.CompleteAuthRequest(ctx, "ar-race", SampleLogin(i)) })
		w := requireOneWinner(t, errs, openid.ErrConflict)
		got, err := s.AuthRequest(ctx, "ar-race")
		require.NoError(t, err)
		require.Equal(t, SampleLogin(w).Subject, got.Subject, "the winner's login is recorded")
	})

	t.Run("save code: stores the hash and the code's expiry", func(t *testing.T) {
		s := newStore(t)
		a := completed("ar-code", 1)
		require.NoError(t, s.CreateAuthRequest(ctx, a))
		codeExpiry := T0.Add(time.Minute).In(shanghai)
		require.NoError(t, s.SaveCode(ctx, a.ID, hashOf("code"), codeExpiry))

		want := a
		want.CodeHash, want.ExpiresAt = hashOf("code"), codeExpiry
		got, err := s.AuthRequestByCode(ctx, hashOf("code"))
		require.NoError(t, err)
		requireAuth(t, want, got, "by code")
		got, err = s.AuthRequest(ctx, a.ID)
		require.NoError(t, err)
		requireAuth(t, want, got, "by id")

		// The request now lives as long as its code.
		n, err := s.Cleanup(ctx, codeExpiry)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		_, err = s.AuthRequestByCode(ctx, hashOf("code"))
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("save code: refusals", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			setup func(t *testing.T, s openid.Store)
			want  error
		}{
			{"an unknown request is ErrNotFound", func(*testing.T, openid.Store) {}, store.ErrNotFound},
			{"a request not done is ErrConflict", func(t *testing.T, s openid.Store) {
				require.NoError(t, s.CreateAuthRequest(ctx, SampleAuthRequest("ar-1", 1)))
			}, openid.ErrConflict},
			{"a request whose code was exchanged is ErrConflict", func(t *testing.T, s openid.Store) {
				// Exchanging a second code would look like a replay of
				// the first and revoke its tokens.
				require.NoError(t, s.CreateAuthRequest(ctx, completed("ar-1", 1)))
				require.NoError(t, s.SaveCode(ctx, "ar-1", hashOf("first"), T0.Add(time.Minute)))
				require.NoError(t, s.RedeemCode(ctx, "ar-1", "g-1"))
			}, openid.ErrConflict},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := newStore(t)
				c.setup(t, s)
				before, beforeErr := s.AuthRequest(ctx, "ar-1")
				require.ErrorIs(t, s.SaveCode(ctx, "ar-1", hashOf("second"), T0.Add(2*time.Minute)), c.want)
				_, err := s.AuthRequestByCode(ctx, hashOf("second"))
				require.ErrorIs(t, err, store.ErrNotFound, "the refused code finds nothing")
				after, afterErr := s.AuthRequest(ctx, "ar-1")
				requireSameExistence(t, beforeErr, afterErr, "ar-1")
				if beforeErr == nil {
					requireAuth(t, before, after, "the request is untouched")
				}
			})
		}
	})

	t.Run("save code: a request gets one code, never a second", func(t *testing.T) {
		s := newStore(t)
		a := completed("ar-again", 1)
		require.NoError(t, s.CreateAuthRequest(ctx, a))
		require.NoError(t, s.SaveCode(ctx, a.ID, hashOf("first"), T0.Add(time.Minute)))
		require.ErrorIs(t, s.SaveCode(ctx, a.ID, hashOf("second"), T0.Add(2*time.Minute)), openid.ErrConflict,
			"whoever asks again for a code of a finished login gets none")
		_, err := s.AuthRequestByCode(ctx, hashOf("second"))
		require.ErrorIs(t, err, store.ErrNotFound)
		want := a
		want.CodeHash, want.ExpiresAt = hashOf("first"), T0.Add(time.Minute)
		got, err := s.AuthRequestByCode(ctx, hashOf("first"))
		require.NoError(t, err)
		requireAuth(t, want, got, "the first code stands")
	})

	t.Run("code lookup: requests are told apart by their code", func(t *testing.T) {
		s := newStore(t)
		// Any number of requests without a code, and two with one.
		for i := range 4 {
			require.NoError(t, s.CreateAuthRequest(ctx, completed(fmt.Sprintf("ar-%d", i), i)))
		}
		require.NoError(t, s.SaveCode(ctx, "ar-1", hashOf("c1"), T0.Add(time.Minute)))
		require.NoError(t, s.SaveCode(ctx, "ar-2", hashOf("c2"), T0.Add(time.Minute)))
		for _, c := range []struct{ hash, id string }{{hashOf("c1"), "ar-1"}, {hashOf("c2"), "ar-2"}} {
			got, err := s.AuthRequestByCode(ctx, c.hash)
			require.NoError(t, err)
			require.Equal(t, c.id, got.ID)
		}
		for _, h := range []string{"", hashOf("c3"), strings.ToUpper(hashOf("c1"))} {
			_, err := s.AuthRequestByCode(ctx, h)
			require.ErrorIs(t, err, store.ErrNotFound, "hash %q", h)
		}
	})

	t.Run("redeem: the first exchange wins, every later one is ErrCodeUsed", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.CreateAuthRequest(ctx, completed("ar-redeem", 1)))
		require.NoError(t, s.SaveCode(ctx, "ar-redeem", hashOf("code"), T0.Add(time.Minute)))
		require.NoError(t, s.RedeemCode(ctx, "ar-redeem", "g-first"))
		for _, g := range []string{"g-second", "g-first"} {
			require.ErrorIs(t, s.RedeemCode(ctx, "ar-redeem", g), openid.ErrCodeUsed, "again with %s", g)
		}
		got, err := s.AuthRequestByCode(ctx, hashOf("code"))
		require.NoError(t, err)
		require.Equal(t, "g-first", got.GrantID, "the grant of the first exchange stays")
	})

	t.Run("bind browser: the first binding holds; another is ErrConflict", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.CreateAuthRequest(ctx, SampleAuthRequest("ar-browser", 1)))
		require.NoError(t, s.BindBrowser(ctx, "ar-browser", hashOf("first")))
		require.ErrorIs(t, s.BindBrowser(ctx, "ar-browser", hashOf("second")), openid.ErrConflict)
		got, err := s.AuthRequest(ctx, "ar-browser")
		require.NoError(t, err)
		require.Equal(t, hashOf("first"), got.BrowserHash)
		require.ErrorIs(t, s.BindBrowser(ctx, "ar-nobody", hashOf("x")), store.ErrNotFound)
		require.Error(t, s.BindBrowser(ctx, "ar-browser", ""), "an empty hash binds nothing")
	})

	t.Run("bind browser: of concurrent bindings exactly one wins", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.CreateAuthRequest(ctx, SampleAuthRequest("ar-browser-race", 1)))
		errs := storetest.Race(racers, func(i int) error { return s.BindBrowser(ctx, "ar-browser-race", hashOf(fmt.Sprint(i))) })
		requireOneWinner(t, errs, openid.ErrConflict)
	})

	t.Run("redeem: an unknown request is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		require.ErrorIs(t, s.RedeemCode(ctx, "ar-nobody", "g-1"), store.ErrNotFound)
	})

	t.Run("redeem: of concurrent exchanges exactly one wins", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.CreateAuthRequest(ctx, completed("ar-race", 1)))
		require.NoError(t, s.SaveCode(ctx, "ar-race", hashOf("code"), T0.Add(time.Minute)))
		errs := storetest.Race(racers, func(i int) error { return s.RedeemCode(ctx, "ar-race", fmt.Sprintf("g-%d", i)) })
		w := requireOneWinner(t, errs, openid.ErrCodeUsed)
		got, err := s.AuthRequest(ctx, "ar-race")
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("g-%d", w), got.GrantID, "the winner's grant is recorded")
	})

	// --- grants ---

	t.Run("grant: create and read back every field", func(t *testing.T) {
		s := newStore(t)
		full := SampleGrant("g-full", hashOf("session"), 1)
		revoked := SampleGrant("g-revoked", hashOf("session"), 2)
		revoked.Revoked = true
		bare := openid.Grant{ID: "g-bare", ClientID: "c", Subject: "u", CreatedAt: T0, ExpiresAt: T0.Add(time.Hour)}
		for _, g := range []openid.Grant{full, revoked, bare} {
			require.NoError(t, s.CreateGrant(ctx, g))
		}
		for _, g := range []openid.Grant{full, revoked, bare} {
			got, err := s.Grant(ctx, g.ID)
			require.NoError(t, err)
			requireGrant(t, g, got, g.ID)
		}
	})

	t.Run("grant: unknown id is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Grant(ctx, "g-nobody")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("grant: a duplicate id fails and changes nothing", func(t *testing.T) {
		s := newStore(t)
		first := SampleGrant("g-dup", "s1", 1)
		require.NoError(t, s.CreateGrant(ctx, first))
		require.Error(t, s.CreateGrant(ctx, SampleGrant("g-dup", "s2", 2)))
		got, err := s.Grant(ctx, "g-dup")
		require.NoError(t, err)
		requireGrant(t, first, got, "the first grant is untouched")
	})

	t.Run("revoke grant: revokes it alone; again, or an unknown grant, is no error", func(t *testing.T) {
		s := newStore(t)
		g, other := SampleGrant("g-1", "s", 1), SampleGrant("g-2", "s", 2)
		require.NoError(t, s.CreateGrant(ctx, g))
		require.NoError(t, s.CreateGrant(ctx, other))
		require.NoError(t, s.RevokeGrant(ctx, "g-1"))
		require.NoError(t, s.RevokeGrant(ctx, "g-1"), "revoking a revoked grant")
		require.NoError(t, s.RevokeGrant(ctx, "g-nobody"), "revoking an unknown grant")
		got, err := s.Grant(ctx, "g-1")
		require.NoError(t, err)
		g.Revoked = true
		requireGrant(t, g, got, "revoked, read back whole")
		got, err = s.Grant(ctx, "g-2")
		require.NoError(t, err)
		requireGrant(t, other, got, "the other grant is untouched")
		_, err = s.Grant(ctx, "g-nobody")
		require.ErrorIs(t, err, store.ErrNotFound, "revoking never creates")
	})

	t.Run("revoke session grants: revokes the session's grants and returns all of them", func(t *testing.T) {
		s := newStore(t)
		sa, sb := hashOf("session-a"), hashOf("session-b")
		live1, live2 := SampleGrant("g-a1", sa, 1), SampleGrant("g-a2", sa, 2)
		live2.CreatedAt = T0.Add(time.Second)
		gone := SampleGrant("g-a3", sa, 3)
		gone.Revoked = true
		gone.CreatedAt = T0.Add(2 * time.Second)
		elsewhere := SampleGrant("g-b1", sb, 4)
		noSession := SampleGrant("g-none", "", 5)
		for _, g := range []openid.Grant{live2, gone, live1, elsewhere, noSession} {
			require.NoError(t, s.CreateGrant(ctx, g))
		}

		got, err := s.RevokeSessionGrants(ctx, sa)
		require.NoError(t, err)
		w1, w2 := live1, live2
		w1.Revoked, w2.Revoked = true, true
		requireGrants(t, []openid.Grant{w1, w2, gone}, got, "every grant of the session (its clients are told), as revoked")
		for _, g := range []openid.Grant{w1, w2, gone} {
			stored, err := s.Grant(ctx, g.ID)
			require.NoError(t, err)
			requireGrant(t, g, stored, "stored revoked")
		}
		for _, g := range []openid.Grant{elsewhere, noSession} {
			stored, err := s.Grant(ctx, g.ID)
			require.NoError(t, err)
			requireGrant(t, g, stored, "another session's grant is untouched")
		}

		got, err = s.RevokeSessionGrants(ctx, sa)
		require.NoError(t, err)
		require.Len(t, got, 3, "again: the same grants, still revoked")
	})

	t.Run("revoke session grants: an unknown or empty session revokes nothing", func(t *testing.T) {
		s := newStore(t)
		g := SampleGrant("g-none", "", 1)
		require.NoError(t, s.CreateGrant(ctx, g))
		for _, key := range []string{hashOf("nobody"), ""} {
			got, err := s.RevokeSessionGrants(ctx, key)
			require.NoError(t, err)
			require.Empty(t, got, "session %q", key)
		}
		stored, err := s.Grant(ctx, g.ID)
		require.NoError(t, err)
		require.False(t, stored.Revoked, "a grant made without a session is not any session's")
	})

	t.Run("revoke session grants: concurrent callers all revoke and return every grant", func(t *testing.T) {
		s := newStore(t)
		key := hashOf("session")
		const grants = 5
		for i := range grants {
			require.NoError(t, s.CreateGrant(ctx, SampleGrant(fmt.Sprintf("g-%d", i), key, i)))
		}
		errs := storetest.Race(racers, func(int) error {
			got, err := s.RevokeSessionGrants(ctx, key)
			if err != nil {
				return err
			}
			if len(got) != grants {
				return fmt.Errorf("%d grants returned, want %d", len(got), grants)
			}
			for _, g := range got {
				if !g.Revoked {
					return fmt.Errorf("grant %s returned as not revoked", g.ID)
				}
			}
			return nil
		})
		for i, err := range errs {
			require.NoError(t, err, "caller %d", i)
		}
	})

	// --- refresh tokens ---

	t.Run("refresh token: create and read back", func(t *testing.T) {
		s := newStore(t)
		fresh := SampleRefreshToken(hashOf("rt-1"), "g-1")
		used := SampleRefreshToken(hashOf("rt-2"), "g-1")
		used.Used = true
		for _, rt := range []openid.RefreshToken{fresh, used} {
			require.NoError(t, s.CreateRefreshToken(ctx, rt))
			got, err := s.RefreshToken(ctx, rt.Hash)
			require.NoError(t, err)
			requireToken(t, rt, got, rt.Hash)
		}
	})

	t.Run("refresh token: unknown is ErrNotFound, a duplicate hash fails", func(t *testing.T) {
		s := newStore(t)
		_, err := s.RefreshToken(ctx, hashOf("nobody"))
		require.ErrorIs(t, err, store.ErrNotFound)
		first := SampleRefreshToken(hashOf("rt"), "g-1")
		require.NoError(t, s.CreateRefreshToken(ctx, first))
		require.Error(t, s.CreateRefreshToken(ctx, SampleRefreshToken(hashOf("rt"), "g-2")))
		got, err := s.RefreshToken(ctx, first.Hash)
		require.NoError(t, err)
		requireToken(t, first, got, "the first token is untouched")
	})

	t.Run("rotate: marks the old token used and stores the next, again and again", func(t *testing.T) {
		s := newStore(t)
		first := SampleRefreshToken(hashOf("rt-0"), "g-1")
		require.NoError(t, s.CreateRefreshToken(ctx, first))
		prev := first
		for i := 1; i <= 3; i++ {
			next := SampleRefreshToken(hashOf(fmt.Sprintf("rt-%d", i)), "g-1")
			next.CreatedAt = T0.Add(time.Duration(i) * time.Hour).In(shanghai)
			require.NoError(t, s.RotateRefreshToken(ctx, prev.Hash, next), "rotation %d", i)
			got, err := s.RefreshToken(ctx, prev.Hash)
			require.NoError(t, err)
			prev.Used = true
			requireToken(t, prev, got, "the rotated token is used, and otherwise unchanged")
			got, err = s.RefreshToken(ctx, next.Hash)
			require.NoError(t, err)
			requireToken(t, next, got, "the next token")
			prev = next
		}
		require.ErrorIs(t, s.RotateRefreshToken(ctx, first.Hash, SampleRefreshToken(hashOf("rt-late"), "g-1")),
			openid.ErrTokenReused, "the first token, long rotated")
	})

	t.Run("rotate: refusals store nothing", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			setup func(t *testing.T, s openid.Store) // may create hashOf("old") and hashOf("taken")
			next  string
			want  error
		}{
			{"a used token is ErrTokenReused", func(t *testing.T, s openid.Store) {
				old := SampleRefreshToken(hashOf("old"), "g-1")
				old.Used = true
				require.NoError(t, s.CreateRefreshToken(ctx, old))
			}, "next", openid.ErrTokenReused},
			{"an unknown token is ErrNotFound", func(*testing.T, openid.Store) {}, "next", store.ErrNotFound},
			{"a next token whose hash is taken fails and leaves the old one unused", func(t *testing.T, s openid.Store) {
				require.NoError(t, s.CreateRefreshToken(ctx, SampleRefreshToken(hashOf("old"), "g-1")))
				require.NoError(t, s.CreateRefreshToken(ctx, SampleRefreshToken(hashOf("taken"), "g-2")))
			}, "taken", nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := newStore(t)
				c.setup(t, s)
				before := map[string]error{}
				beforeTok := map[string]openid.RefreshToken{}
				for _, h := range []string{"old", "taken", "next"} {
					beforeTok[h], before[h] = s.RefreshToken(ctx, hashOf(h))
				}
				next := SampleRefreshToken(hashOf(c.next), "g-1")
				next.CreatedAt = T0.Add(time.Hour)
				err := s.RotateRefreshToken(ctx, hashOf("old"), next)
				if c.want != nil {
					require.ErrorIs(t, err, c.want)
				} else {
					require.Error(t, err)
				}
				for _, h := range []string{"old", "taken", "next"} {
					got, err := s.RefreshToken(ctx, hashOf(h))
					requireSameExistence(t, before[h], err, h)
					if err == nil {
						requireToken(t, beforeTok[h], got, h+" is untouched")
					}
				}
			})
		}
	})

	t.Run("rotate: of concurrent rotations exactly one wins", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.CreateRefreshToken(ctx, SampleRefreshToken(hashOf("old"), "g-1")))
		errs := storetest.Race(racers, func(i int) error {
			return s.RotateRefreshToken(ctx, hashOf("old"), SampleRefreshToken(hashOf(fmt.Sprintf("next-%d", i)), "g-1"))
		})
		w := requireOneWinner(t, errs, openid.ErrTokenReused)
		for i := range racers {
			_, err := s.RefreshToken(ctx, hashOf(fmt.Sprintf("next-%d", i)))
			if i == w {
				require.NoError(t, err, "the winner's next token is stored")
			} else {
				require.ErrorIs(t, err, store.ErrNotFound, "a loser's next token %d is not stored", i)
			}
		}
		old, err := s.RefreshToken(ctx, hashOf("old"))
		require.NoError(t, err)
		require.True(t, old.Used)
	})

	// --- signing keys ---

	t.Run("signing keys: add and list oldest generation first, every field", func(t *testing.T) {
		s := newStore(t)
		k1, k2, k3 := SampleSigningKey(1), SampleSigningKey(2), SampleSigningKey(3)
		k2.Algorithm = "RS256"
		k3.CreatedAt = T0.Add(time.Hour).In(shanghai)
		for _, k := range []openid.SigningKey{k3, k1, k2} {
			require.NoError(t, s.AddSigningKey(ctx, k))
		}
		got, err := s.SigningKeys(ctx, T0.In(shanghai))
		require.NoError(t, err)
		requireKeys(t, []openid.SigningKey{k1, k2, k3}, got, "listed")
	})

	t.Run("signing keys: none is an empty list", func(t *testing.T) {
		s := newStore(t)
		got, err := s.SigningKeys(ctx, T0)
		require.NoError(t, err)
		require.Empty(t, got)
	})

	t.Run("signing keys: refusals", func(t *testing.T) {
		for _, c := range []struct {
			name string
			key  openid.SigningKey
		}{
			{"a taken generation is ErrConflict", func() openid.SigningKey { k := SampleSigningKey(1); k.ID = "k-other"; return k }()},
			{"a taken id is ErrConflict", func() openid.SigningKey { k := SampleSigningKey(2); k.ID = "k1"; return k }()},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := newStore(t)
				first := SampleSigningKey(1)
				require.NoError(t, s.AddSigningKey(ctx, first))
				require.ErrorIs(t, s.AddSigningKey(ctx, c.key), openid.ErrConflict)
				got, err := s.SigningKeys(ctx, T0)
				require.NoError(t, err)
				requireKeys(t, []openid.SigningKey{first}, got, "the first key alone")
			})
		}
	})

	t.Run("signing keys: of instances adding one generation at once, one makes it", func(t *testing.T) {
		s := newStore(t)
		errs := storetest.Race(racers, func(i int) error {
			k := SampleSigningKey(1)
			k.ID = fmt.Sprintf("k1-%d", i)
			return s.AddSigningKey(ctx, k)
		})
		w := requireOneWinner(t, errs, openid.ErrConflict)
		got, err := s.SigningKeys(ctx, T0)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, fmt.Sprintf("k1-%d", w), got[0].ID)
	})

	t.Run("signing keys: a key expiring at now is not listed, one a microsecond later is", func(t *testing.T) {
		s := newStore(t)
		for i, d := range []time.Duration{-time.Hour, -time.Microsecond, 0, time.Microsecond, time.Hour} {
			k := SampleSigningKey(i + 1)
			k.ExpiresAt = T0.Add(d).In(shanghai)
			require.NoError(t, s.AddSigningKey(ctx, k))
		}
		got, err := s.SigningKeys(ctx, T0.In(shanghai))
		require.NoError(t, err)
		var gens []int
		for _, k := range got {
			gens = append(gens, k.Generation)
		}
		require.Equal(t, []int{4, 5}, gens)
	})

	// --- expiry ---

	t.Run("reads return expired rows: the caller judges expiry", func(t *testing.T) {
		s := newStore(t)
		past := T0.Add(-time.Hour)
		a := completed("ar-old", 1)
		a.CreatedAt, a.ExpiresAt = past.Add(-time.Hour), past
		require.NoError(t, s.CreateAuthRequest(ctx, a))
		require.NoError(t, s.SaveCode(ctx, a.ID, hashOf("code"), past))
		g := SampleGrant("g-old", "s", 1)
		g.CreatedAt, g.ExpiresAt = past.Add(-time.Hour), past
		require.NoError(t, s.CreateGrant(ctx, g))
		rt := SampleRefreshToken(hashOf("rt-old"), g.ID)
		rt.CreatedAt, rt.ExpiresAt = past.Add(-time.Hour), past
		require.NoError(t, s.CreateRefreshToken(ctx, rt))

		_, err := s.AuthRequest(ctx, a.ID)
		require.NoError(t, err)
		_, err = s.AuthRequestByCode(ctx, hashOf("code"))
		require.NoError(t, err)
		_, err = s.Grant(ctx, g.ID)
		require.NoError(t, err)
		_, err = s.RefreshToken(ctx, rt.Hash)
		require.NoError(t, err)
	})

	t.Run("cleanup: deletes what expired at or before now in every table, and counts it", func(t *testing.T) {
		s := newStore(t)
		offsets := []time.Duration{-time.Hour, -time.Microsecond, 0, time.Microsecond, time.Hour}
		const expired = 3 // the first three: before now, and at now
		for i, d := range offsets {
			exp := T0.Add(d).In(shanghai)
			a := SampleAuthRequest(fmt.Sprintf("ar-%d", i), i)
			a.CreatedAt, a.ExpiresAt = T0.Add(-2*time.Hour), exp
			require.NoError(t, s.CreateAuthRequest(ctx, a))
			g := SampleGrant(fmt.Sprintf("g-%d", i), "s", i)
			g.CreatedAt, g.ExpiresAt = T0.Add(-2*time.Hour), exp
			require.NoError(t, s.CreateGrant(ctx, g))
			rt := SampleRefreshToken(hashOf(fmt.Sprintf("rt-%d", i)), g.ID)
			rt.CreatedAt, rt.ExpiresAt = T0.Add(-2*time.Hour), exp
			require.NoError(t, s.CreateRefreshToken(ctx, rt))
			k := SampleSigningKey(i + 1)
			k.CreatedAt, k.ActiveFrom, k.ExpiresAt = T0.Add(-2*time.Hour), T0.Add(-2*time.Hour), exp
			require.NoError(t, s.AddSigningKey(ctx, k))
		}

		n, err := s.Cleanup(ctx, T0.In(shanghai))
		require.NoError(t, err)
		require.EqualValues(t, 4*expired, n, "three rows of each of the four tables")

		for i := range offsets {
			gone := i < expired
			check := func(kind string, err error) {
				t.Helper()
				if gone {
					require.ErrorIs(t, err, store.ErrNotFound, "%s %d expired", kind, i)
				} else {
					require.NoError(t, err, "%s %d is still live", kind, i)
				}
			}
			_, err := s.AuthRequest(ctx, fmt.Sprintf("ar-%d", i))
			check("auth request", err)
			_, err = s.Grant(ctx, fmt.Sprintf("g-%d", i))
			check("grant", err)
			_, err = s.RefreshToken(ctx, hashOf(fmt.Sprintf("rt-%d", i)))
			check("refresh token", err)
		}
		keys, err := s.SigningKeys(ctx, T0.Add(-3*time.Hour))
		require.NoError(t, err)
		var gens []int
		for _, k := range keys {
			gens = append(gens, k.Generation)
		}
		require.Equal(t, []int{4, 5}, gens, "the expired keys are deleted, not only unlisted")

		n, err = s.Cleanup(ctx, T0)
		require.NoError(t, err)
		require.Zero(t, n, "nothing left to clean up")
		require.ErrorIs(t, s.RedeemCode(ctx, "ar-0", "g-x"), store.ErrNotFound, "a cleaned-up request cannot be redeemed")
		require.ErrorIs(t, s.RotateRefreshToken(ctx, hashOf("rt-0"), SampleRefreshToken(hashOf("rt-x"), "g-0")),
			store.ErrNotFound, "a cleaned-up token cannot be rotated")
	})

	t.Run("cleanup: an empty store is no error", func(t *testing.T) {
		s := newStore(t)
		n, err := s.Cleanup(ctx, T0)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}
