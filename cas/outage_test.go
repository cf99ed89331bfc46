package cas_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/store"
	"wxcas/store/storetest"
)

// A database outage (stopped for a few seconds, or hanging) must neither log
// anyone out nor claim a logout that did not happen: every request that
// needs the database answers 503 and leaves the session and its cookie as
// they were, and once the database is back the same cookie and TGT work.

// Which calls of switchStore fail.
const (
	storeUp    int32 = iota
	storeDown        // every call
	writesDown       // every call but the reads (GetTGT, GetPGT)
)

// switchStore is the server's store with a switch: while down, calls go to
// a store that fails as the real one does when its database is out of reach.
type switchStore struct {
	up, down cas.TicketStore
	mode     atomic.Int32
}

func (s *switchStore) pick(read bool) cas.TicketStore {
	switch m := s.mode.Load(); {
	case m == storeDown, m == writesDown && !read:
		return s.down
	}
	return s.up
}

func (s *switchStore) CreateTGT(ctx context.Context, t cas.TGT) error {
	return s.pick(false).CreateTGT(ctx, t)
}

func (s *switchStore) GetTGT(ctx context.Context, key string) (cas.TGT, error) {
	return s.pick(true).GetTGT(ctx, key)
}

func (s *switchStore) SessionsOf(ctx context.Context, principalID string, now time.Time) ([]string, error) {
	return s.pick(true).SessionsOf(ctx, principalID, now)
}

func (s *switchStore) TouchTGT(ctx context.Context, key string, lastUsed, idleExpires time.Time) error {
	return s.pick(false).TouchTGT(ctx, key, lastUsed, idleExpires)
}

func (s *switchStore) DeleteTGT(ctx context.Context, key string) (cas.EndedSession, error) {
	return s.pick(false).DeleteTGT(ctx, key)
}

func (s *switchStore) CreateTicket(ctx context.Context, t cas.Ticket, slo *cas.SLOTarget) error {
	return s.pick(false).CreateTicket(ctx, t, slo)
}

func (s *switchStore) ConsumeTicket(ctx context.Context, id string) (cas.Ticket, error) {
	return s.pick(false).ConsumeTicket(ctx, id)
}

func (s *switchStore) CreatePGT(ctx context.Context, p cas.PGT) error {
	return s.pick(false).CreatePGT(ctx, p)
}

func (s *switchStore) GetPGT(ctx context.Context, key string) (cas.PGT, error) {
	return s.pick(true).GetPGT(ctx, key)
}

func (s *switchStore) Cleanup(ctx context.Context, now time.Time, ended func(cas.EndedSession)) error {
	return s.pick(false).Cleanup(ctx, now, ended)
}

// faultyStore fails every call with an error that is not an outage.
type faultyStore struct{ cas.TicketStore }

var errFaulty = errors.New("test: the store is faulty")

func (faultyStore) CreateTGT(context.Context, cas.TGT) error { return errFaulty }
func (faultyStore) GetTGT(context.Context, string) (cas.TGT, error) {
	return cas.TGT{}, errFaulty
}
func (faultyStore) TouchTGT(context.Context, string, time.Time, time.Time) error { return errFaulty }
func (faultyStore) DeleteTGT(context.Context, string) (cas.EndedSession, error) {
	return cas.EndedSession{}, errFaulty
}
func (faultyStore) CreateTicket(context.Context, cas.Ticket, *cas.SLOTarget) error { return errFaulty }

// unreachableMySQL is a handle on a MySQL server at addr, not pinged: the
// SQL store over it fails with the driver's own errors.
func unreachableMySQL(t *testing.T, addr string) *store.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.DBName = "tcp", addr, "root", "wxcas"
	cfg.ParseTime = true
	conn, err := mysql.NewConnector(cfg)
	require.NoError(t, err)
	db := &store.DB{DB: sqlx.NewDb(sql.OpenDB(conn), "mysql"), Dialect: store.MySQL, Name: "mysql:" + addr}
	t.Cleanup(func() { db.Close() })
	return db
}

// stoppedDatabase is a store whose server is down: connections are refused.
func stoppedDatabase(t *testing.T) cas.TicketStore {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return cas.NewSQLStore(unreachableMySQL(t, addr))
}

// hangingDatabase is a store whose server accepts connections and never
// answers: calls last until the request's deadline.
func hangingDatabase(t *testing.T) cas.TicketStore {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	var held []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	return cas.NewSQLStore(unreachableMySQL(t, l.Addr().String()))
}

func outageHarness(t *testing.T, db *store.DB, down cas.TicketStore) (*harness, *switchStore) {
	sw := &switchStore{up: cas.NewSQLStore(db), down: down}
	h := newHarness(t, db, func(_ *cas.Config, d *cas.Deps) { d.Store = sw })
	return h, sw
}

// requireKept checks an answer at status that neither set nor cleared the
// ticket-granting cookie.
func requireKept(t *testing.T, r response, status int) {
	t.Helper()
	require.Equal(t, status, r.StatusCode, "body: %s", r.Body)
	require.Empty(t, r.Header.Values("Set-Cookie"), "the cookie is left as it was")
}

func restDo(t *testing.T, h *harness, method, tgt string) response {
	t.Helper()
	var form url.Values
	if method == http.MethodPost {
		form = url.Values{"service": {appURL}}
	}
	return do(t, http.DefaultClient, method, h.ts.URL+"/cas/v1/tickets/"+tgt, form)
}

func TestOutage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		down   func(t *testing.T) cas.TicketStore
		status int
	}{
		{"stopped", stoppedDatabase, http.StatusServiceUnavailable},
		// The request's deadline is reached inside the database call.
		{"hanging", hangingDatabase, http.StatusServiceUnavailable},
		// Not an outage, a fault: 500, and still nobody is logged out.
		{"faulty", func(*testing.T) cas.TicketStore { return faultyStore{} }, http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.ForEach(t, func(t *testing.T, db *store.DB) {
				h, sw := outageHarness(t, db, tc.down(t))
				b := h.browser()
				h.login(b, appURL)
				require.EqualValues(t, 1, h.logins.Load())
				tgt, _, err := h.srv.CreateSession(context.Background(), alice())
				require.NoError(t, err)

				h.deadline.Store(int64(300 * time.Millisecond))
				sw.mode.Store(storeDown)

				// Browser SSO: the error page, the cookie kept, no new
				// login started over a session that may be alive.
				for _, q := range []url.Values{
					{"service": {appURL}},
					nil,
					{"service": {appURL}, "renew": {"true"}},
					{"service": {appURL}, "gateway": {"true"}},
				} {
					r := h.get(b, "/cas/login", q)
					requireKept(t, r, tc.status)
					require.Contains(t, string(r.Body), "Login error")
					requireNoCache(t, r)
				}
				require.EqualValues(t, 1, h.logins.Load(), "no login started")

				// Logout does not claim success, and keeps the cookie
				// for a retry.
				r := h.get(b, "/cas/logout", url.Values{"service": {appURL}})
				requireKept(t, r, tc.status)
				require.NotContains(t, string(r.Body), "logged out")

				// REST: neither "not found" (the client would drop a
				// live TGT) nor "logged out".
				for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
					r := restDo(t, h, m, tgt)
					require.Equal(t, tc.status, r.StatusCode, "%s: %s", m, r.Body)
					require.Equal(t, "text/plain; charset=utf-8", r.Header.Get("Content-Type"), m)
					require.NotContains(t, string(r.Body), "TGT-", m)
				}
				// What is no TGT at all is still 404 without the database.
				r = restDo(t, h, http.MethodGet, "TGT-not_a_ticket")
				require.Equal(t, http.StatusNotFound, r.StatusCode)

				// Recovery: the same cookie and TGT still work, without
				// logging in again.
				h.deadline.Store(0)
				sw.mode.Store(storeUp)
				h.login(b, appURL)
				require.EqualValues(t, 1, h.logins.Load(), "SSO, not a new login")
				r = restDo(t, h, http.MethodGet, tgt)
				require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.Body)
				r = restDo(t, h, http.MethodPost, tgt)
				require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.Body)
				require.Regexp(t, stPattern, string(r.Body))

				// And logging out now ends both sessions for good.
				r = h.get(b, "/cas/logout", nil)
				require.Equal(t, http.StatusOK, r.StatusCode)
				require.Contains(t, string(r.Body), "logged out")
				c := tgc(t, r.Response)
				require.NotNil(t, c)
				require.Negative(t, c.MaxAge, "cleared")
				r = restDo(t, h, http.MethodDelete, tgt)
				require.Equal(t, http.StatusOK, r.StatusCode)
				r = restDo(t, h, http.MethodGet, tgt)
				require.Equal(t, http.StatusNotFound, r.StatusCode)
			})
		})
	}
}

// The database fails after the session was read: issuing the ticket, or
// starting or replacing a session at the end of a login.
func TestOutageAfterSessionRead(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		h, sw := outageHarness(t, db, stoppedDatabase(t))
		b := h.browser()
		h.login(b, appURL)
		tgt, _, err := h.srv.CreateSession(context.Background(), alice())
		require.NoError(t, err)

		sw.mode.Store(writesDown)
		// SSO reads the session, then cannot store the ticket.
		requireKept(t, h.get(b, "/cas/login", url.Values{"service": {appURL}}), http.StatusServiceUnavailable)
		r := restDo(t, h, http.MethodPost, tgt)
		require.Equal(t, http.StatusServiceUnavailable, r.StatusCode, "%s", r.Body)
		r = restDo(t, h, http.MethodGet, tgt)
		require.Equal(t, http.StatusOK, r.StatusCode, "reading works")

		// Another user logging in with renew on this browser: alice's
		// session cannot be ended, so bob is not logged in over it.
		h.setPrincipal(cas.Principal{ID: "bob"})
		requireKept(t, h.get(b, "/cas/login", url.Values{"service": {appURL}, "renew": {"true"}}), http.StatusServiceUnavailable)
		require.EqualValues(t, 2, h.logins.Load(), "the login ran and could not finish")

		// A browser without a session: the new session cannot be stored.
		r = h.get(h.browser(), "/cas/login", url.Values{"service": {appURL}})
		require.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
		require.Nil(t, tgc(t, r.Response), "no cookie for a session that does not exist")

		// Logout cannot end the session either.
		requireKept(t, h.get(b, "/cas/logout", nil), http.StatusServiceUnavailable)
		r = restDo(t, h, http.MethodDelete, tgt)
		require.Equal(t, http.StatusServiceUnavailable, r.StatusCode)

		sw.mode.Store(storeUp)
		h.setPrincipal(alice())
		st := h.login(b, appURL)
		body := h.validateXML("/cas/p3/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}})
		require.Contains(t, body, "<cas:user>alice</cas:user>", "alice's session survived")
	})
}

// A session that is really gone still has its cookie cleared at /cas/login:
// only a failure to read the session keeps it.
func TestEndedSessionClearsCookie(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		h, _ := outageHarness(t, db, stoppedDatabase(t))
		b := h.browser()
		h.login(b, appURL)
		_, err := db.Exec(`DELETE FROM cas_tgt`) // ended on another instance
		require.NoError(t, err)
		// gateway: no login starts, so the only cookie is the clearing one.
		r := h.get(b, "/cas/login", url.Values{"service": {appURL}, "gateway": {"true"}})
		require.Equal(t, http.StatusSeeOther, r.StatusCode)
		require.Equal(t, appURL, r.Header.Get("Location"))
		c := tgc(t, r.Response)
		require.NotNil(t, c)
		require.Negative(t, c.MaxAge, "cleared")
	})
}
