package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"wxcas/binding"
	"wxcas/store/storetest"
	"wxcas/wechat/emulator"
)

// BenchmarkEntryAccountLogin measures a returning person's login inside
// WeChat from an entry link, on MySQL with the sandbox's WeChat over
// loopback: /cas/login?appid= → flow → the silent snsapi_base authorization
// → callback (code exchange, identity lookup) → TGT + ST → the site
// validates at /cas/p3/serviceValidate. "platform" enters through an
// Official Account served by a third-party platform (the component exchange
// with the shared component token), "own-secret" through the unionid
// account with its own secret.
//
//	go test -run '^$' -bench EntryAccountLogin -benchtime 400x .
func BenchmarkEntryAccountLogin(b *testing.B) {
	const (
		unionOA = "wxa1b2c3d4e5f60002"
		entryOA = "wxa1b2c3d4e5f60005"
		people  = 16
	)
	ln, base := listen(b)
	service := "https://site.example.edu/app/"
	b.Setenv("WXCAS_BENCH_DSN", storetest.NewMySQLDatabase(b))
	a := runApp(b, ln, fmt.Sprintf(`server: {listen: %q, public_url: %q}
database: {driver: mysql, dsn: '${WXCAS_BENCH_DSN}', max_open_conns: 32}
sandbox: {enabled: true}
log: {level: warn}
wechat:
  apps:
    - {appid: wxa1b2c3d4e5f60001, kind: website, secret: s}
    - {appid: %s, kind: official_account, secret: s2}
    - {appid: %s, kind: official_account, via_platform: p}
  platforms:
    - {id: p, component_appid: wxa1b2c3d4e5f60009, secret: cs, token: benchtoken, encoding_aes_key: abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG}
login: {website_appid: wxa1b2c3d4e5f60001, official_account_appid: %s, unionid_official_account: %s, per_ip: {max: 100000000, window: 1m}}
cas: {services: [{id: site, name: Site, match: prefix, url: %q}]}
`, ln.Addr().String(), base, unionOA, entryOA, unionOA, unionOA, service), nil)
	if err := a.emulator.PushTicket(context.Background(), "wxa1b2c3d4e5f60009"); err != nil {
		b.Fatal(err)
	}
	// Bound people who consented to the unionid account once, with the
	// entry account linked as a first binding through the chain leaves it.
	bindings := binding.NewSQLStore(a.db)
	for i := range people {
		person := fmt.Sprintf("oabench%d", i)
		bindPerson(b, a, person, fmt.Sprintf("+8613%09d", 500+i))
		a.emulator.Consent(unionOA, person)
		linked := binding.Account{AppID: entryOA, OpenID: a.emulator.OpenID(entryOA, person), UnionID: a.emulator.UnionID("wxa1b2c3d4e5f60001", person)}
		if _, err := bindings.Seen(context.Background(), linked, time.Now()); err != nil {
			b.Fatal(err)
		}
		for _, entry := range []string{entryOA, unionOA} {
			if _, err := entryLogin(base, service, entry, person); err != nil {
				b.Fatalf("first login of %s from %s: %v", person, entry, err)
			}
		}
	}
	for name, entry := range map[string]string{"platform": entryOA, "own-secret": unionOA} {
		b.Run(name, func(b *testing.B) {
			steps := a.emulator.Authorizations(unionOA)
			timed(b, "logins", func(i int) error {
				_, err := entryLogin(base, service, entry, fmt.Sprintf("oabench%d", i%people))
				return err
			})
			if entry == entryOA && a.emulator.Authorizations(unionOA) != steps {
				b.Fatal("a returning person from a linked entry account needs no step-up")
			}
		})
	}
}

// entryLogin is one login inside WeChat from the entry link of appID, by
// person (signed in to the emulator's WeChat), ending with the ticket
// validated.
func entryLogin(base, service, appID, person string) (time.Duration, error) {
	start := time.Now()
	c := sandboxBrowser(base)
	u, _ := url.Parse(base)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: emulator.PersonCookie, Value: person, Path: "/"}})
	req, _ := http.NewRequest(http.MethodGet, base+"/cas/login?service="+url.QueryEscape(service)+"&appid="+appID, nil)
	req.Header.Set("User-Agent", weChatUA)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err := validateTicket(c, base, service, resp); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
