package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wxcas/binding"
	"wxcas/store/storetest"
)

var iframeSrc = regexp.MustCompile(`<iframe class="sandbox-qr" src="([^"]+)"`)

// BenchmarkBoundLogin measures a returning user's whole browser login on
// MySQL with the WeChat emulator over loopback: /cas/login → flow → QR page →
// WeChat approves → callback (code exchange, user info, identity lookup) →
// TGT + ST → the site validates the ticket at /cas/p3/serviceValidate.
// It reports logins/s and the p50/p99 latency of one login.
//
//	go test -run '^$' -bench BoundLogin -benchtime 400x .
func BenchmarkBoundLogin(b *testing.B) {
	a, base, service := startBenchApp(b)
	// Every benchmark browser is 127.0.0.1: login.per_ip stays on, so its
	// counting is part of what is measured, but far above what one address
	// may send in production.

	// Bind the test people once, so every measured login is a returning one.
	const people = 16
	for i := range people {
		person := fmt.Sprintf("bench%d", i)
		if _, err := runLogin(base, service, person); err == nil {
			b.Fatalf("%s is not bound yet: the login must stop at binding", person)
		}
		bindPerson(b, a, person, fmt.Sprintf("+8613%09d", i))
		if _, err := runLogin(base, service, person); err != nil {
			b.Fatalf("bound login of %s: %v", person, err)
		}
	}

	// Eight browsers at a time on a 2-core machine (client and server share it).
	counted := serverCounters(b, a)
	timed(b, "logins", func(i int) error {
		_, err := runLogin(base, service, fmt.Sprintf("bench%d", i%people))
		return err
	})
	counted(b.N, "login")
}

// startBenchApp runs wxcas for a benchmark: MySQL (a database of its own),
// the sandbox's WeChat with one website app, one CAS service; it returns
// the app, its base URL and the service's URL.
func startBenchApp(b *testing.B) (*app, string, string) {
	ln, base := listen(b)
	service := "https://site.example.edu/app/"
	b.Setenv("WXCAS_BENCH_DSN", storetest.NewMySQLDatabase(b))
	a := runApp(b, ln, fmt.Sprintf(`server: {listen: %q, public_url: %q}
database: {driver: mysql, dsn: '${WXCAS_BENCH_DSN}', max_open_conns: 32}
sandbox: {enabled: true}
log: {level: warn}
wechat: {apps: [{appid: wxa1b2c3d4e5f60001, kind: website, secret: s}]}
login: {website_appid: wxa1b2c3d4e5f60001, per_ip: {max: 100000000, window: 1m}}
cas: {services: [{id: site, name: Site, match: prefix, url: %q}]}
`, ln.Addr().String(), base, service), nil)
	return a, base, service
}

// serverCounters reads the MySQL server's statement counters, and the
// function it returns reports what n operations added per operation:
// statements (Questions), and of them SELECT, INSERT, UPDATE, DELETE and
// COMMIT. The counters are the server's: run nothing else against it.
func serverCounters(b *testing.B, a *app) func(n int, unit string) {
	names := []string{"Questions", "Com_select", "Com_insert", "Com_update", "Com_delete", "Com_commit"}
	read := func() map[string]float64 {
		out := map[string]float64{}
		rows, err := a.db.Query(`SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_select', 'Com_insert', 'Com_update', 'Com_delete', 'Com_commit')`)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var v float64
			if err := rows.Scan(&name, &v); err != nil {
				b.Fatal(err)
			}
			out[name] = v
		}
		return out
	}
	before := read()
	return func(n int, unit string) {
		after := read()
		for _, name := range names {
			// Questions counts the SHOW itself once.
			b.ReportMetric((after[name]-before[name])/float64(n), strings.ToLower(strings.TrimPrefix(name, "Com_"))+"/"+unit)
		}
	}
}

// timed runs op b.N times on 8 goroutines (4 per core on the 2-core
// machines) and reports ops/s and the p50/p99 latency of one op.
func timed(b *testing.B, unit string, op func(i int) error) {
	var (
		mu    sync.Mutex
		times []time.Duration
		next  atomic.Int64
	)
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1) - 1)
			t0 := time.Now()
			if err := op(i); err != nil {
				b.Error(err)
				return
			}
			d := time.Since(t0)
			mu.Lock()
			times = append(times, d)
			mu.Unlock()
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(times) == 0 {
		return
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(len(times))/elapsed.Seconds(), unit+"/s")
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
}

// bindPerson binds the emulator person's website openid to a new user, as a
// completed first login would.
func bindPerson(b testing.TB, a *app, person, phone string) {
	b.Helper()
	em := a.emulator
	openid, unionid := em.OpenID("wxa1b2c3d4e5f60001", person), em.UnionID("wxa1b2c3d4e5f60001", person)
	st := binding.NewSQLStore(a.db)
	u, err := st.Create(context.Background(), phone, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Bind(context.Background(), binding.Account{AppID: "wxa1b2c3d4e5f60001", OpenID: openid, UnionID: unionid}, u.ID, false, time.Now()); err != nil {
		b.Fatal(err)
	}
}

// runLogin does one bound-user login and returns its duration.
func runLogin(base, service, person string) (time.Duration, error) {
	start := time.Now()
	c := sandboxBrowser(base)
	resp, err := sandboxQRLogin(c, base+"/cas/login?service="+url.QueryEscape(service), person)
	if err != nil {
		return 0, err
	}
	if err := validateTicket(c, base, service, resp); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// validateTicket checks that resp sends the browser to service with a
// ticket, and has the site validate it at /cas/p3/serviceValidate.
func validateTicket(c *http.Client, base, service string, resp *http.Response) error {
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("ticket") == "" {
		return fmt.Errorf("no ticket: status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	v, err := c.Get(base + "/cas/p3/serviceValidate?service=" + url.QueryEscape(service) + "&ticket=" + loc.Query().Get("ticket"))
	if err != nil {
		return err
	}
	xml, err := io.ReadAll(v.Body)
	v.Body.Close()
	if err != nil {
		return err
	}
	if !strings.Contains(string(xml), "<cas:authenticationSuccess>") {
		return fmt.Errorf("validation failed: %s", xml)
	}
	return nil
}

// sandboxBrowser is an HTTP client with a cookie jar that follows
// redirects within wxcas (base) and stops at any other host (the services
// are not running).
func sandboxBrowser(base string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !strings.HasPrefix(req.URL.String(), base) {
				return http.ErrUseLastResponse
			}
			return nil
		}}
}

// sandboxQRLogin opens start (a URL that leads to the login page) with c
// and has the bound sandbox person scan the QR code and approve; it
// returns the answer that leaves wxcas (the redirect to the service or
// client).
func sandboxQRLogin(c *http.Client, start, person string) (*http.Response, error) {
	resp, err := c.Get(start)
	if err != nil {
		return nil, err
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	m := iframeSrc.FindStringSubmatch(string(page))
	if m == nil {
		return nil, fmt.Errorf("no QR on the login page (status %d)", resp.StatusCode)
	}
	resp, err = c.Get(strings.ReplaceAll(m[1], "&amp;", "&") + "&sandbox_user=" + person) // approve, follow the callback
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}
