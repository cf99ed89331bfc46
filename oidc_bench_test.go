package main

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"wxcas/store/storetest"
)

// startOIDCBench runs the OpenID provider on a fresh MySQL database with
// its limits off, and logs one person in through the JSON journey.
func startOIDCBench(b *testing.B) (*oidcEnv, string) {
	b.Setenv("WXCAS_OIDC_BENCH_DSN", storetest.NewMySQLDatabase(b))
	ln, base := listen(b)
	body := strings.Replace(oidcConfig(ln.Addr().String(), base, "database: {driver: mysql, dsn: '${WXCAS_OIDC_BENCH_DSN}', max_open_conns: 32}"),
		"  enabled: true\n", "  enabled: true\n  code_ttl: 10m\n", 1)
	a := runApp(b, ln, body, nil)
	e := &oidcEnv{t: b, app: a, base: base}
	return e, e.appLogin(oidcMiniAppID, "bench", "js", "13700137099")
}

// BenchmarkOIDCCodeExchange measures the authorization_code grant of a
// confidential back end on MySQL (codes minted at the challenge endpoint
// beforehand): client authentication, redeeming the code, the grant and
// refresh token rows, two signatures.
//
//	go test -run '^$' -bench OIDCCodeExchange -benchtime 1000x .
func BenchmarkOIDCCodeExchange(b *testing.B) {
	e, tgt := startOIDCBench(b)
	codes := make([]string, b.N)
	for i := range codes {
		_, out := e.challenge(url.Values{"scope": {"openid offline_access"}, "session": {tgt}}, "mp", oidcBackendPass)
		codes[i] = out["authorization_code"].(string)
	}
	conf := &oauth2.Config{ClientID: "mp", ClientSecret: oidcBackendPass,
		Endpoint: oauth2.Endpoint{TokenURL: e.base + "/oidc/token", AuthStyle: oauth2.AuthStyleInHeader}}
	ctx := context.Background()
	timed(b, "exchanges", func(i int) error {
		_, err := conf.Exchange(ctx, codes[i])
		return err
	})
}

// BenchmarkOIDCRefresh measures the refresh_token grant with rotation on
// MySQL: each goroutine refreshes its own family over and over.
//
//	go test -run '^$' -bench OIDCRefresh -benchtime 1000x .
func BenchmarkOIDCRefresh(b *testing.B) {
	e, tgt := startOIDCBench(b)
	conf := &oauth2.Config{ClientID: "mp", ClientSecret: oidcBackendPass,
		Endpoint: oauth2.Endpoint{TokenURL: e.base + "/oidc/token", AuthStyle: oauth2.AuthStyleInHeader}}
	ctx := context.Background()
	const families = 64
	var tokens [families]string
	var locks [families]sync.Mutex
	for i := range tokens {
		_, out := e.challenge(url.Values{"scope": {"openid offline_access"}, "session": {tgt}}, "mp", oidcBackendPass)
		tok, err := conf.Exchange(ctx, out["authorization_code"].(string))
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = tok.RefreshToken
	}
	timed(b, "refreshes", func(i int) error {
		f := i % families
		locks[f].Lock()
		defer locks[f].Unlock()
		tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tokens[f]}).Token()
		if err != nil {
			return err
		}
		tokens[f] = tok.RefreshToken
		return nil
	})
}
