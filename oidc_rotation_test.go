package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"wxcas/store/storetest"
)

// TestOIDCKeyRotationAcrossInstances runs two instances on one MySQL
// database (one public URL, as behind a load balancer) on one clock:
// they sign with the same key, publish the next key before it signs,
// switch to it together, keep the old key published until its tokens have
// expired, and then drop it, so a token it signed no longer verifies.
func TestOIDCKeyRotationAcrossInstances(t *testing.T) {
	t.Setenv("WXCAS_OIDC_ROTATION_DSN", storetest.NewMySQLDatabase(t))
	clock := &offsetClock{}
	lnA, baseA := listen(t)
	lnB, baseB := listen(t)
	db := "database: {driver: mysql, dsn: '${WXCAS_OIDC_ROTATION_DSN}'}"
	body := func(listen string) string {
		// Both instances are reached at A's public URL: one issuer.
		return strings.Replace(oidcConfig(listen, baseA, db), "  enabled: true\n",
			"  enabled: true\n  key_rotation: 2h\n  key_publish_ahead: 1h\n", 1)
	}
	a := runApp(t, lnA, body(lnA.Addr().String()), clock.Now)
	runApp(t, lnB, body(lnB.Addr().String()), clock.Now)
	e := &oidcEnv{t: t, app: a, base: baseA, clock: clock}
	ctx := context.Background()

	kids := func(base string) []string {
		resp, err := http.Get(base + "/oidc/keys")
		require.NoError(t, err)
		defer resp.Body.Close()
		var set struct{ Keys []struct{ Kid string } }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.Kid)
		}
		slices.Sort(out)
		return out
	}
	e.appLogin(oidcMiniAppID, "gina", "js", "13700137005")
	// tokens logs the person in (through A: the sandbox's WeChat is A's)
	// and has instance base issue tokens for the session; it returns the
	// access token's kid and the token.
	tokens := func(base string) (string, *oauth2.Token) {
		tgt := e.appLogin(oidcMiniAppID, "gina", "js", "")
		inst := &oidcEnv{t: t, base: base}
		status, out := inst.challenge(url.Values{"scope": {"openid"}, "session": {tgt}}, "mp", oidcBackendPass)
		require.Equal(t, http.StatusOK, status, "%v", out)
		conf := &oauth2.Config{ClientID: "mp", ClientSecret: oidcBackendPass,
			Endpoint: oauth2.Endpoint{TokenURL: base + "/oidc/token", AuthStyle: oauth2.AuthStyleInHeader}}
		tok, err := conf.Exchange(ctx, out["authorization_code"].(string))
		require.NoError(t, err)
		return jwtHeader(t, tok.AccessToken)["kid"].(string), tok
	}
	verifies := func(base, token string) bool {
		_, err := oidc.NewRemoteKeySet(ctx, base+"/oidc/keys").VerifySignature(ctx, token)
		return err == nil
	}

	k1, _ := tokens(baseA)
	kb, _ := tokens(baseB)
	require.Equal(t, k1, kb, "both instances sign with the one key")
	require.Equal(t, []string{k1}, kids(baseA))
	require.Equal(t, kids(baseA), kids(baseB))

	// Past the publish point: the next key is published, not yet used.
	clock.Advance(time.Hour + time.Minute)
	_, old := tokens(baseB)
	require.Equal(t, k1, jwtHeader(t, old.AccessToken)["kid"], "the next key does not sign before its time")
	require.Len(t, kids(baseB), 2, "the next key is published ahead")
	require.Equal(t, kids(baseA), kids(baseB), "and both instances publish it")

	// Past the rotation: both sign with the new key; the old one stays
	// published while its tokens may live.
	clock.Advance(time.Hour + 2*time.Minute)
	k2, _ := tokens(baseA)
	k2b, _ := tokens(baseB)
	require.NotEqual(t, k1, k2)
	require.Equal(t, k2, k2b)
	require.Contains(t, kids(baseA), k1)
	require.True(t, verifies(baseB, old.AccessToken), "a token of the old key still verifies until it expires")

	// Once every token of the old key has expired, the key leaves JWKS and
	// what it signed no longer verifies anywhere.
	clock.Advance(3 * time.Hour)
	require.NotContains(t, kids(baseA), k1)
	require.NotContains(t, kids(baseB), k1)
	require.False(t, verifies(baseA, old.AccessToken), "a token signed by a rotated-out key is refused")
	resp, err := http.DefaultClient.Do(func() *http.Request {
		r, _ := http.NewRequest(http.MethodGet, baseB+"/oidc/userinfo", nil)
		r.Header.Set("Authorization", "Bearer "+old.AccessToken)
		return r
	}())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
