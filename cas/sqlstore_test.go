package cas_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/cas/castest"
	"wxcas/store"
	"wxcas/store/storetest"
)

func TestSQLStore(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		castest.Run(t, func(t *testing.T) cas.TicketStore { return cas.NewSQLStore(db) })
	})
}

// TestSQLStoreWithoutReturning runs the suite as on MySQL, which has no
// DELETE ... RETURNING (a ticket is read, then deleted).
func TestSQLStoreWithoutReturning(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		db.Returning = false
		castest.Run(t, func(t *testing.T) cas.TicketStore { return cas.NewSQLStore(db) })
	})
}

// forEachReturning runs fn on each backend, with DELETE ... RETURNING and
// without it (as on MySQL).
func forEachReturning(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		for _, returning := range []bool{true, false} {
			name := "returning"
			if !returning {
				name = "read-then-delete"
			}
			t.Run(name, func(t *testing.T) {
				if returning && !db.Returning {
					t.Skip("the server has no DELETE ... RETURNING")
				}
				saved := db.Returning
				db.Returning = returning
				t.Cleanup(func() { db.Returning = saved })
				fn(t, db)
			})
		}
	})
}

// tgtKeyOf is the key the store keeps for a TGT id (its SHA-256, hex).
func tgtKeyOf(tgtID string) string {
	sum := sha256.Sum256([]byte(tgtID))
	return hex.EncodeToString(sum[:])
}

// TestOldFormatTicketValidates: a ticket row written by the release before
// migration 00050 (no principal in it; an upgrade in the middle of a login,
// or an old instance beside a new one) is validated against its TGT, as
// before: accepted while the session lives, refused once it has ended.
func TestOldFormatTicketValidates(t *testing.T) {
	forEachReturning(t, func(t *testing.T, db *store.DB) {
		tests := []struct {
			name string
			end  func(h *harness, tgtID string) // ends the session, or not
			want string                         // the failure code, "" for success
		}{
			{"live session", func(*harness, string) {}, ""},
			{"session logged out", func(h *harness, tgtID string) {
				require.Equal(t, http.StatusOK, do(t, http.DefaultClient, http.MethodDelete, h.ts.URL+"/cas/v1/tickets/"+tgtID, nil).StatusCode)
			}, "INVALID_TICKET"},
			{"session idle-expired, not yet cleaned up", func(h *harness, _ string) {
				h.clock.Advance(2 * time.Hour)
			}, "INVALID_TICKET"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				h := newHarness(t, db)
				tgtID, _, err := h.srv.CreateSession(context.Background(), alice())
				require.NoError(t, err)
				// The previous release's statement, with an expiry the
				// idle case does not reach.
				st := "ST-OLDFORMAT" + strings.ToUpper(tgtID[4:18])
				now := h.clock.Now()
				_, err = db.Exec(db.Rebind(`INSERT INTO cas_tickets (id, tgt_hash, service, from_new_login, proxies, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
					st, tgtKeyOf(tgtID), appURL, true, "", now, now.Add(3*time.Hour))
				require.NoError(t, err)
				tc.end(h, tgtID)

				body := h.validateXML("/cas/p3/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}})
				require.Equal(t, tc.want, failureCode(body), body)
				if tc.want == "" {
					require.Contains(t, body, "<cas:user>alice</cas:user>")
					require.Contains(t, body, "<cas:displayName>Alice &lt;Liddell&gt; &amp; Co</cas:displayName>")
					require.Contains(t, body, "<cas:authenticationDate>2026-11-21T07:59:30Z</cas:authenticationDate>")
				}
			})
		}
	})
}

// TestTicketOfEndedSessionRefused: validation no longer reads the TGT, so
// each way a session ends must leave none of its unvalidated tickets
// usable: they are deleted with the session, or expire with it.
func TestTicketOfEndedSessionRefused(t *testing.T) {
	db := storetest.SQLite(t)
	short := func(c *cas.Config, _ *cas.Deps) { c.TGTIdleTimeout, c.TGTMaxLifetime = 3*time.Second, 3*time.Second }
	tests := []struct {
		name string
		opt  harnessOpt
		// end ends the session of browser b, whose ticket is st; it may
		// return another ticket to check.
		end func(t *testing.T, h *harness, b *http.Client)
	}{
		{"logout", nil, func(t *testing.T, h *harness, b *http.Client) {
			h.get(b, "/cas/logout", nil)
		}},
		{"another user logs in on the browser", nil, func(t *testing.T, h *harness, b *http.Client) {
			h.setPrincipal(cas.Principal{ID: "bob"})
			h.login(b, "https://portal.example.edu/x", "renew", "true")
		}},
		{"idle expiry seen at login", nil, func(t *testing.T, h *harness, b *http.Client) {
			h.clock.Advance(2 * time.Hour)
			h.login(b, "https://portal.example.edu/x") // a new login: the old session is ended
			h.clock.Advance(-2 * time.Hour)            // only so that the ticket's own TTL is not what refuses it
		}},
		{"clean-up after idle expiry", nil, func(t *testing.T, h *harness, b *http.Client) {
			h.clock.Advance(2 * time.Hour)
			require.NoError(t, h.srv.Cleanup(context.Background()))
			h.clock.Advance(-2 * time.Hour)
		}},
		// With a session shorter than the ticket's 10 s, the ticket expires
		// with the session even before anything removes it.
		{"idle expiry, not cleaned up", short, func(t *testing.T, h *harness, b *http.Client) {
			h.clock.Advance(3 * time.Second)
		}},
		{"hard expiry, not cleaned up", short, func(t *testing.T, h *harness, b *http.Client) {
			h.clock.Advance(2 * time.Second)
			st := h.login(b, appURL) // SSO: the idle expiry moves past the hard one
			h.clock.Advance(time.Second)
			body := h.validateXML("/cas/p3/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}})
			require.Equal(t, "INVALID_TICKET", failureCode(body), "the SSO ticket dies at the hard expiry: %s", body)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []harnessOpt
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			h := newHarness(t, db, opts...)
			b := h.browser()
			st := h.login(b, appURL)
			tc.end(t, h, b)
			body := h.validateXML("/cas/p3/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}})
			require.Equal(t, "INVALID_TICKET", failureCode(body), body)
		})
	}
}

// touchCounter counts the writes of a session's last use.
type touchCounter struct {
	cas.TicketStore
	touches *atomic.Int32
}

func (c touchCounter) TouchTGT(ctx context.Context, key string, lastUsed, idleExpires time.Time) error {
	c.touches.Add(1)
	return c.TicketStore.TouchTGT(ctx, key, lastUsed, idleExpires)
}

// TestTouchThrottled: issuing a ticket writes the session's last use only
// when that moves its idle expiry by more than a step (a minute, or 1 % of
// the idle timeout when shorter): never on the login that created the
// session. A session used only within the step ends on the idle timeout of
// its last write, a little early, never late.
func TestTouchThrottled(t *testing.T) {
	db := storetest.SQLite(t)
	for _, tc := range []struct {
		idle, step time.Duration
	}{
		{2 * time.Hour, time.Minute},
		{10 * time.Minute, 6 * time.Second},
	} {
		t.Run(tc.idle.String(), func(t *testing.T) {
			var touches atomic.Int32
			h := newHarness(t, db, func(c *cas.Config, d *cas.Deps) {
				c.TGTIdleTimeout = tc.idle
				d.Store = touchCounter{TicketStore: cas.NewSQLStore(db), touches: &touches}
			})
			b := h.browser()
			start := h.clock.Now()
			steps := []struct {
				at          time.Duration // since start
				logins      int32         // primary logins so far
				touches     int32         // writes of last use so far
				description string
			}{
				{0, 1, 0, "the login that creates the session"},
				{tc.step / 2, 1, 0, "SSO within the step"},
				{tc.idle, 2, 0, "idle timeout after the last write: a new session, not touched"},
				{tc.idle + tc.step, 2, 0, "SSO exactly one step on"},
				{tc.idle + tc.step + time.Second, 2, 1, "SSO beyond the step"},
				{2*tc.idle + tc.step, 2, 2, "SSO a second before the idle expiry"},
				{3*tc.idle + tc.step, 3, 2, "idle timeout after the last write"},
			}
			for _, s := range steps {
				h.clock.Advance(start.Add(s.at).Sub(h.clock.Now()))
				st := h.login(b, appURL)
				require.Equal(t, s.logins, h.logins.Load(), "logins: %s", s.description)
				require.Equal(t, s.touches, touches.Load(), "touches: %s", s.description)
				body := h.validateXML("/cas/p3/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}})
				require.Contains(t, body, "authenticationSuccess", s.description)
			}
		})
	}
}

// TestStatementsPerTicket counts, on MariaDB/MySQL, the statements the
// server sends for issuing a service ticket and for validating it (issue
// 15): a login that starts a session is two autocommit INSERTs, the session
// (which records the service for single logout) and the ticket; an SSO
// login reads the session and writes two, the service record and the
// ticket, plus a write of the session's last use at most once a minute; no
// transaction. Validation is one DELETE ... RETURNING, or SELECT + DELETE
// without RETURNING (MySQL).
func TestStatementsPerTicket(t *testing.T) {
	db := storetest.MySQL(t)
	db.SetMaxOpenConns(1) // one connection: its session counters see every statement
	returning := db.Returning
	t.Cleanup(func() { db.Returning = returning })
	counters := func() map[string]int {
		var rows []struct {
			Name  string `db:"Variable_name"`
			Value int    `db:"Value"`
		}
		require.NoError(t, db.Select(&rows, `SHOW SESSION STATUS WHERE Variable_name IN
  ('Com_select', 'Com_insert', 'Com_update', 'Com_delete', 'Com_begin', 'Com_commit', 'Com_rollback', 'Com_stmt_execute')`))
		m := map[string]int{}
		for _, r := range rows {
			m[strings.ToUpper(strings.TrimPrefix(r.Name, "Com_"))] = r.Value
		}
		return m
	}
	idle := counters()
	idle = diff(counters(), idle) // what reading the counters adds by itself
	count := func(fn func()) map[string]int {
		before := counters()
		fn()
		d := diff(diff(counters(), before), idle)
		// Every statement ran prepared (store.DB.P): one execute each, no
		// parse on the server.
		executed, statements := d["STMT_EXECUTE"], 0
		delete(d, "STMT_EXECUTE")
		for k, v := range d {
			statements += v
			if v == 0 {
				delete(d, k)
			}
		}
		require.Equal(t, statements, executed, "statements run prepared: %v", d)
		return d
	}
	h := newHarness(t, db)
	const intranetURL = "https://www.intranet.example.edu/" // logout_type none
	for _, mode := range []struct {
		name      string
		returning bool
		validate  map[string]int
	}{
		{"returning", true, map[string]int{"DELETE": 1}},
		{"read-then-delete", false, map[string]int{"SELECT": 1, "DELETE": 1}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			if mode.returning && !returning {
				t.Skip("the server has no DELETE ... RETURNING")
			}
			db.Returning = mode.returning
			validate := func(service, st string) func() {
				return func() {
					require.Contains(t, h.validateXML("/cas/p3/serviceValidate", url.Values{"service": {service}, "ticket": {st}}), "authenticationSuccess")
				}
			}
			// A login that starts the session: whether its service is
			// logged out (recorded in the TGT row) or not, the TGT and the
			// ticket. The last browser goes on with SSO.
			var (
				b  *http.Client
				st string
			)
			for _, service := range []string{intranetURL, appURL} {
				b = h.browser()
				require.Equal(t, map[string]int{"INSERT": 2}, count(func() { st = h.login(b, service) }), "new login for %s", service)
				require.Equal(t, mode.validate, count(validate(service, st)), "validation")
			}
			login := func() { st = h.login(b, appURL) }
			h.clock.Advance(10 * time.Second)
			// The session read from the cookie, the service record and the ticket.
			require.Equal(t, map[string]int{"SELECT": 1, "INSERT": 2}, count(login), "SSO login within a minute")
			require.Equal(t, mode.validate, count(validate(appURL, st)), "validation")
			h.clock.Advance(10 * time.Minute)
			require.Equal(t, map[string]int{"SELECT": 1, "UPDATE": 1, "INSERT": 2}, count(login), "SSO login ten minutes on")
			require.Equal(t, mode.validate, count(validate(appURL, st)), "validation")
			// A service not logged out: the session read and the ticket.
			require.Equal(t, map[string]int{"SELECT": 1, "INSERT": 1}, count(func() { st = h.login(b, intranetURL) }), "SSO login, service not logged out")
			require.Equal(t, mode.validate, count(validate(intranetURL, st)), "validation")
		})
	}
}

// TestOldFormatSessionEnds: a session row written by the release before
// migration 00051 has no first service (its login recorded the service in
// cas_tgt_services, as every later ST did): it reads back without one, and
// ending it reports its services from cas_tgt_services alone, in order, as
// before.
func TestOldFormatSessionEnds(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		s := cas.NewSQLStore(db)
		ctx := context.Background()
		now := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
		tests := []struct {
			name string
			end  func(t *testing.T, key string) cas.EndedSession
		}{
			{"DeleteTGT", func(t *testing.T, key string) cas.EndedSession {
				e, err := s.DeleteTGT(ctx, key)
				require.NoError(t, err)
				return e
			}},
			{"clean-up after idle expiry", func(t *testing.T, key string) cas.EndedSession {
				var ended []cas.EndedSession
				require.NoError(t, s.Cleanup(ctx, now.Add(2*time.Hour), func(e cas.EndedSession) { ended = append(ended, e) }))
				require.Len(t, ended, 1)
				require.Equal(t, key, ended[0].TGT.Key)
				return ended[0]
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				key := tgtKeyOf("TGT-" + rand.Text())
				// The previous release's statement.
				_, err := db.Exec(db.Rebind(`INSERT INTO cas_tgt (id_hash, principal_id, attributes, authenticated_at, created_at, last_used_at, expires_at, idle_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
					key, "alice", `{"group":["staff"]}`, now, now, now, now.Add(8*time.Hour), now.Add(2*time.Hour))
				require.NoError(t, err)
				tgt, err := s.GetTGT(ctx, key)
				require.NoError(t, err)
				require.Nil(t, tgt.FirstService)

				// Its login's service and a later one, each with a record,
				// as the previous release stored them.
				var want []cas.SLOTarget
				for i, service := range []string{appURL, "https://portal.example.edu/x"} {
					at := now.Add(time.Duration(i) * time.Second)
					st := cas.Ticket{ID: "ST-" + rand.Text(), TGTKey: key, Service: service, CreatedAt: at, ExpiresAt: at.Add(10 * time.Second)}
					slo := cas.SLOTarget{TicketID: st.ID, ServiceID: "svc" + strconv.Itoa(i), ServiceURL: service, LogoutURL: service + "#slo"}
					require.NoError(t, s.CreateTicket(ctx, st, &slo))
					want = append(want, slo)
				}
				e := tc.end(t, key)
				require.Equal(t, tgt, e.TGT)
				require.Equal(t, want, e.Services)
			})
		}
	})
}

func diff(a, b map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range a {
		d[k] = v - b[k]
	}
	return d
}
