package cas_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/store"
	"wxcas/store/storetest"
)

// loadServer is a CAS server whose Authenticator logs everyone in at once,
// driven in-process (no sockets): what is measured is the server and its
// database work.
type loadServer struct {
	srv   *cas.Server
	db    *store.DB
	clock *storetest.Clock
}

const loadService = "https://app.example.edu/login"

func newLoadServer(tb testing.TB, db *store.DB) *loadServer {
	tb.Helper()
	l := &loadServer{db: db, clock: storetest.NewClock()}
	cfg := cas.DefaultConfig()
	cfg.Services = []cas.Service{{ID: "app", Name: "App", Match: cas.MatchExact, URL: loadService, LogoutURL: "http://127.0.0.1:9/slo"}}
	pub, _ := url.Parse("http://wxcas.test")
	srv, err := cas.NewServer(cfg, cas.Deps{
		DB: db, Now: l.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		CookieKey: []byte("0123456789abcdef0123456789abcdef"), PublicURL: pub, Pages: cas.PlainPages{},
		Authenticator: cas.AuthenticatorFunc(func(w http.ResponseWriter, r *http.Request, req cas.LoginRequest) {
			_ = l.srv.CompleteLogin(w, r, req, cas.Principal{ID: "alice", AuthenticatedAt: l.clock.Now()})
		}),
	})
	require.NoError(tb, err)
	l.srv = srv
	tb.Cleanup(srv.WaitIdle)
	return l
}

// login is a first login of a new browser: /cas/login creates the SSO
// session (TGT) and an ST, and the service validates the ST.
func (l *loadServer) login() error {
	rec := httptest.NewRecorder()
	l.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/cas/login?service="+url.QueryEscape(loadService), nil))
	if rec.Code != http.StatusSeeOther {
		return fmt.Errorf("/cas/login: %d %s", rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		return err
	}
	st := loc.Query().Get("ticket")
	rec = httptest.NewRecorder()
	q := url.Values{"service": {loadService}, "ticket": {st}}
	l.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/cas/p3/serviceValidate?"+q.Encode(), nil))
	if !strings.Contains(rec.Body.String(), "<cas:user>alice</cas:user>") {
		return fmt.Errorf("validation failed: %s", rec.Body)
	}
	return nil
}

// seqSQL yields n rows numbered 0..n-1 from a cross join of digit tables
// (portable to MySQL 8, which has no seq_ tables), so one INSERT … SELECT
// loads a table.
func seqSQL(n int) string {
	digits := `(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)`
	var from, expr []string
	scale := 1
	for i := 0; scale < n; i++ {
		from = append(from, fmt.Sprintf("%s d%d", digits, i))
		expr = append(expr, fmt.Sprintf("%d*d%d.d", scale, i))
		scale *= 10
	}
	return fmt.Sprintf(`SELECT n FROM (SELECT %s AS n FROM %s) seq WHERE n < %d`, strings.Join(expr, "+"), strings.Join(from, " CROSS JOIN "), n)
}

// seedSessions loads n sessions with prefix p (expiring at expires) into
// every CAS table on MySQL: per session a TGT, an unvalidated ST, a PGT and
// a service recorded for single logout.
func seedSessions(tb testing.TB, db *store.DB, p string, n int, expires time.Time) {
	tb.Helper()
	ctx := context.Background()
	created := expires.Add(-8 * time.Hour)
	key := `CONCAT('` + p + `', LPAD(n, 63, '0'))`
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO cas_tgt (id_hash, principal_id, attributes, authenticated_at, created_at, last_used_at, expires_at, idle_expires_at)
SELECT ` + key + `, CONCAT('user', n), '{"displayName":["Some One"]}', ?, ?, ?, ?, ? FROM (` + seqSQL(n) + `) s`,
			[]any{created, created, created, expires, expires}},
		{`INSERT INTO cas_tickets (id, tgt_hash, service, from_new_login, proxies, created_at, expires_at)
SELECT CONCAT('ST-` + p + `', n), ` + key + `, ?, 1, '', ?, ? FROM (` + seqSQL(n) + `) s`,
			[]any{loadService, created, expires}},
		{`INSERT INTO cas_pgt (id_hash, tgt_hash, proxies, created_at, expires_at)
SELECT CONCAT('p` + p + `', LPAD(n, 62, '0')), ` + key + `, '[]', ?, ? FROM (` + seqSQL(n) + `) s`,
			[]any{created, expires}},
		{`INSERT INTO cas_tgt_services (st_id, tgt_hash, service_id, service_url, logout_url, created_at, expires_at)
SELECT CONCAT('ST-s` + p + `', n), ` + key + `, 'app', ?, 'http://127.0.0.1:9/slo', ?, ? FROM (` + seqSQL(n) + `) s`,
			[]any{loadService, created, expires}},
	}
	for _, s := range stmts {
		_, err := db.ExecContext(ctx, s.q, s.args...)
		require.NoError(tb, err)
	}
}

var casTables = []string{"cas_tgt", "cas_tickets", "cas_pgt", "cas_tgt_services"}

// TestLoginDuringCleanupOfLargeTables is issue 11 item 6: with 200k expired
// and 200k live rows in every CAS table, logins keep completing in well
// under a second while the clean-up works through the backlog, and the
// clean-up removes expired rows only.
//
// The measurement lasts at most cleanupWindow. How long the whole backlog
// takes depends on the machine's disk (42 s to 10 min seen here with a
// 128 MB buffer pool); the logins measured during the window are what the
// test is about. When the clean-up finished within it, every expired row
// must be gone; the conformance suite checks completeness across many
// batches on both databases.
func TestLoginDuringCleanupOfLargeTables(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 1.6M rows")
	}
	const n = 200_000
	db := storetest.MySQL(t)
	l := newLoadServer(t, db)
	now := l.clock.Now()
	start := time.Now()
	seedSessions(t, db, "e", n, now.Add(-time.Minute))
	seedSessions(t, db, "l", n, now.Add(8*time.Hour))
	t.Logf("seeded %d rows in %v", 8*n, time.Since(start))
	warm := settle(t, l)

	const cleanupWindow = 75 * time.Second
	ctx, stop := context.WithTimeout(context.Background(), cleanupWindow)
	defer stop()
	done := make(chan error, 1)
	start = time.Now()
	go func() { done <- l.srv.Cleanup(ctx) }()
	finished := false
	var took []time.Duration
	for running := true; running; {
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				require.NoError(t, err)
				finished = true
			}
			running = false
		default:
		}
		begin := time.Now()
		require.NoError(t, l.login())
		took = append(took, time.Since(begin))
	}
	logins := len(took)
	slices.Sort(took)
	p99, slowest := took[logins*99/100], took[logins-1]
	slow := logins - sort.Search(logins, func(i int) bool { return took[i] >= time.Second })
	t.Logf("clean-up ran %v (finished: %v); %d logins meanwhile: p99 %v, slowest %v, %d over 1 s", time.Since(start), finished, logins, p99, slowest, slow)
	require.Greater(t, logins, 1000, "logins ran during the clean-up")
	// Logins complete in under a second while the clean-up runs. The bound
	// is on all but one login in a thousand, and no login may take 5 s:
	// on these shared machines the disk itself stalls now and then (seen:
	// one login of 3.8 s in 14,704 with no lock held by the clean-up), while
	// a clean-up that blocks logins (the old NOT IN deletes held their locks
	// for 30 s at 1M rows) stalls every login that arrives meanwhile.
	require.LessOrEqual(t, slow*1000, logins, "%d of %d logins took a second or more while the clean-up ran", slow, logins)
	require.Less(t, slowest, 5*time.Second, "a login waited %v while the clean-up ran", slowest)
	require.Less(t, p99, 250*time.Millisecond, "p99 of logins while the clean-up ran")
	l.srv.WaitIdle()
	for _, table := range casTables {
		var expired int
		require.NoError(t, db.Get(&expired, `SELECT COUNT(*) FROM `+table+` WHERE expires_at <= ?`, now))
		if finished {
			require.Zero(t, expired, "%s: expired rows left", table)
		}
	}
	var endedSessions int
	require.NoError(t, db.Get(&endedSessions, `SELECT ? - COUNT(*) FROM cas_tgt WHERE expires_at <= ?`, n, now))
	require.Greater(t, endedSessions, 1000, "the clean-up made progress")
	live := func(table string) int {
		var c int
		require.NoError(t, db.Get(&c, `SELECT COUNT(*) FROM `+table+` WHERE expires_at > ?`, now))
		return c
	}
	require.Equal(t, n+warm+logins, live("cas_tgt"), "live sessions kept, with the new ones")
	require.Equal(t, n, live("cas_pgt"))
	// The seeded sessions have their service in cas_tgt_services, as the
	// release before migration 00051 wrote them; a login that starts a
	// session records its service in the session's row.
	require.Equal(t, n, live("cas_tgt_services"))
	var firstServices int
	require.NoError(t, db.Get(&firstServices, `SELECT COUNT(*) FROM cas_tgt WHERE expires_at > ? AND first_st_id IS NOT NULL`, now))
	require.Equal(t, warm+logins, firstServices, "the new sessions' services")
}

// settle waits until logins are quick before the clean-up starts. Loading
// 1.6M rows leaves InnoDB with a full redo log and many dirty pages, and
// for some seconds it holds commits while it flushes them: that stall comes
// from the seeding, not from the clean-up the test measures. Settled means
// 50 logins in a row under 100 ms (at most a minute; the test then goes on
// and its assertion judges).
func settle(t *testing.T, l *loadServer) (logins int) {
	t.Helper()
	start := time.Now()
	for quick := 0; quick < 50 && time.Since(start) < time.Minute; logins++ {
		begin := time.Now()
		require.NoError(t, l.login())
		if time.Since(begin) < 100*time.Millisecond {
			quick++
		} else {
			quick = 0
		}
	}
	t.Logf("database settled after the seeding in %v (%d logins)", time.Since(start), logins)
	return logins
}

// BenchmarkLoginWith1MTickets measures first logins (TGT + ST + validation)
// with 10k and with 1M live sessions in every CAS table, while the clean-up
// runs again and again beside them (as several instances' janitors would).
// Loading 1M rows per table takes minutes, so it runs only with
// WXCAS_BENCH_1M=1:
//
//	WXCAS_BENCH_1M=1 go test -run '^$' -bench LoginWith1MTickets -benchtime 3000x ./cas/
func BenchmarkLoginWith1MTickets(b *testing.B) {
	if os.Getenv("WXCAS_BENCH_1M") != "1" {
		b.Skip("set WXCAS_BENCH_1M=1 (loads 4M rows into MySQL)")
	}
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("live=%d", n), func(b *testing.B) {
			db := storetest.MySQL(b)
			l := newLoadServer(b, db)
			start := time.Now()
			seedSessions(b, db, "l", n, l.clock.Now().Add(8*time.Hour))
			b.Logf("seeded %d rows in %v", 4*n, time.Since(start))

			ctx, cancel := context.WithCancel(context.Background())
			janitor := make(chan int)
			go func() {
				runs := 0
				for ctx.Err() == nil {
					if err := l.srv.Cleanup(ctx); err != nil && ctx.Err() == nil {
						b.Error(err)
					}
					runs++
				}
				janitor <- runs
			}()
			b.ResetTimer()
			for b.Loop() {
				if err := l.login(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cancel()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
			b.ReportMetric(float64(<-janitor), "cleanups")
		})
	}
}
