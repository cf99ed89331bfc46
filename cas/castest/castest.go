// Package castest is the contract of cas.TicketStore: every implementation
// runs Run against each backend it supports.
package castest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/store"
)

// Run runs the suite. newStore returns a store over a migrated database; the
// subtests may share one database (each uses its own keys, and the cleanup
// tests only look at their own rows).
func Run(t *testing.T, newStore func(t *testing.T) cas.TicketStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s cas.TicketStore)
	}{
		{"TGTRoundTrip", testTGTRoundTrip},
		{"TouchTGT", testTouchTGT},
		{"TicketConsumedOnce", testTicketConsumedOnce},
		{"ProxyTicketKeepsProxies", testProxyTicket},
		{"ConcurrentConsume", testConcurrentConsume},
		{"DeleteTGTEndsEverything", testDeleteTGT},
		{"ConcurrentDeleteTGT", testConcurrentDeleteTGT},
		{"PGTRoundTrip", testPGT},
		{"CleanupTickets", testCleanupTickets},
		{"CleanupSessions", testCleanupSessions},
		{"CleanupOrphans", testCleanupOrphans},
		{"CleanupManyBatches", testCleanupManyBatches},
		{"ConcurrentCleanup", testConcurrentCleanup},
		{"TicketNeverOutlivesSession", testTicketNeverOutlivesSession},
		{"TicketCarriesPrincipal", testTicketCarriesPrincipal},
		{"TicketsEndWithTheirSession", testTicketsEndWithTheirSession},
		{"NoLiveTicketAfterConcurrentEnd", testNoLiveTicketAfterConcurrentEnd},
		{"FirstServiceLoggedOutFirst", testFirstServiceLoggedOutFirst},
		{"SessionsOfPrincipal", testSessionsOf},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// base is a fixed, non-zero instant with sub-second precision, to check
// times come back at microsecond precision.
var base = time.Date(2026, 11, 21, 8, 0, 0, 123456000, time.UTC)

func key() string {
	sum := sha256.Sum256([]byte(rand.Text()))
	return hex.EncodeToString(sum[:])
}

func newTGT(now time.Time) cas.TGT {
	return cas.TGT{
		Key:             key(),
		PrincipalID:     "alice",
		Attributes:      map[string][]string{"displayName": {"Alice Ä"}, "group": {"staff", "library"}},
		AuthenticatedAt: now.Add(-time.Minute),
		CreatedAt:       now,
		LastUsedAt:      now,
		ExpiresAt:       now.Add(8 * time.Hour),
		IdleExpiresAt:   now.Add(2 * time.Hour),
	}
}

// newST is a ticket of tgt as the server issues it: carrying the session's
// principal.
func newST(tgt cas.TGT, now time.Time) cas.Ticket {
	return cas.Ticket{
		ID:           "ST-" + rand.Text(),
		TGTKey:       tgt.Key,
		Service:      "https://app.example.edu/login?next=%2Fhome&x=1",
		FromNewLogin: true,
		CreatedAt:    now,
		ExpiresAt:    now.Add(10 * time.Second),
		Principal:    cas.Principal{ID: tgt.PrincipalID, Attributes: tgt.Attributes, AuthenticatedAt: tgt.AuthenticatedAt},
	}
}

func ctx() context.Context { return context.Background() }

func testTGTRoundTrip(t *testing.T, s cas.TicketStore) {
	noAttributes := newTGT(base)
	noAttributes.Attributes = nil
	withFirst := newTGT(base)
	withFirst.FirstService = &cas.SLOTarget{TicketID: "ST-" + rand.Text(), ServiceID: "app",
		ServiceURL: "https://app.example.edu/login?next=%2Fhome&x=1", LogoutURL: "https://app.example.edu/slo"}
	tests := []struct {
		name string
		tgt  cas.TGT
		want func(t *testing.T, got cas.TGT)
	}{
		{"attributes", newTGT(base), nil},
		{"no attributes", noAttributes, func(t *testing.T, got cas.TGT) { require.Empty(t, got.Attributes) }},
		{"first service", withFirst, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, s.CreateTGT(ctx(), tc.tgt))
			got, err := s.GetTGT(ctx(), tc.tgt.Key)
			require.NoError(t, err)
			if tc.want != nil {
				tc.want(t, got)
				return
			}
			require.Equal(t, tc.tgt, got)
		})
	}
	_, err := s.GetTGT(ctx(), key())
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testTouchTGT(t *testing.T, s cas.TicketStore) {
	tgt := newTGT(base)
	require.NoError(t, s.CreateTGT(ctx(), tgt))
	later := base.Add(30 * time.Minute)
	require.NoError(t, s.TouchTGT(ctx(), tgt.Key, later, later.Add(2*time.Hour)))
	got, err := s.GetTGT(ctx(), tgt.Key)
	require.NoError(t, err)
	require.Equal(t, later, got.LastUsedAt)
	require.Equal(t, later.Add(2*time.Hour), got.IdleExpiresAt)
	require.Equal(t, tgt.ExpiresAt, got.ExpiresAt)
}

func testTicketConsumedOnce(t *testing.T, s cas.TicketStore) {
	tgt := newTGT(base)
	require.NoError(t, s.CreateTGT(ctx(), tgt))
	st := newST(tgt, base)
	require.NoError(t, s.CreateTicket(ctx(), st, nil))

	got, err := s.ConsumeTicket(ctx(), st.ID)
	require.NoError(t, err)
	require.Equal(t, st, got)
	require.False(t, got.IsProxy())

	_, err = s.ConsumeTicket(ctx(), st.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ConsumeTicket(ctx(), "ST-unknown")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testProxyTicket(t *testing.T, s cas.TicketStore) {
	tgt := newTGT(base)
	require.NoError(t, s.CreateTGT(ctx(), tgt))
	pt := newST(tgt, base)
	pt.ID = "PT-" + rand.Text()
	pt.FromNewLogin = false
	pt.Proxies = []string{"https://p2.example.edu/cb", "https://p1.example.edu/cb"}
	require.NoError(t, s.CreateTicket(ctx(), pt, nil))
	got, err := s.ConsumeTicket(ctx(), pt.ID)
	require.NoError(t, err)
	require.Equal(t, pt, got)
	require.True(t, got.IsProxy())
}

func testConcurrentConsume(t *testing.T, s cas.TicketStore) {
	tgt := newTGT(base)
	require.NoError(t, s.CreateTGT(ctx(), tgt))
	for round := 0; round < 3; round++ {
		st := newST(tgt, base)
		require.NoError(t, s.CreateTicket(ctx(), st, nil))
		const n = 20
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			wins  int
			other []error
		)
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := s.ConsumeTicket(ctx(), st.ID)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, store.ErrNotFound):
					other = append(other, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		require.Empty(t, other)
		require.Equal(t, 1, wins, "exactly one of %d concurrent consumers must get the ticket", n)
	}
}

func testDeleteTGT(t *testing.T, s cas.TicketStore) {
	tgt := newTGT(base)
	require.NoError(t, s.CreateTGT(ctx(), tgt))
	other := newTGT(base)
	require.NoError(t, s.CreateTGT(ctx(), other))

	var want []cas.SLOTarget
	for i, svc := range []string{"https://a.example.edu/", "https://b.example.edu/x?y=1"} {
		st := newST(tgt, base.Add(time.Duration(i)*time.Second))
		st.Service = svc
		slo := &cas.SLOTarget{TicketID: st.ID, ServiceID: "svc" + string(rune('a'+i)), ServiceURL: svc, LogoutURL: svc + "#slo"}
		require.NoError(t, s.CreateTicket(ctx(), st, slo))
		want = append(want, *slo)
	}
	// A ticket without logout record (logout_type none) and a PGT.
	plain := newST(tgt, base)
	require.NoError(t, s.CreateTicket(ctx(), plain, nil))
	pgt := cas.PGT{Key: key(), TGTKey: tgt.Key, Proxies: []string{"https://p.example.edu/cb"}, CreatedAt: base}
	require.NoError(t, s.CreatePGT(ctx(), pgt))
	keep := newST(other, base)
	require.NoError(t, s.CreateTicket(ctx(), keep, &cas.SLOTarget{TicketID: keep.ID, ServiceID: "k", ServiceURL: "https://k/", LogoutURL: "https://k/"}))

	ended, err := s.DeleteTGT(ctx(), tgt.Key)
	require.NoError(t, err)
	require.Equal(t, tgt, ended.TGT)
	require.Equal(t, want, ended.Services)

	_, err = s.GetTGT(ctx(), tgt.Key)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ConsumeTicket(ctx(), plain.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "tickets die with their session")
	_, err = s.GetPGT(ctx(), pgt.Key)
	require.ErrorIs(t, err, store.ErrNotFound, "PGTs die with their session")
	_, err = s.DeleteTGT(ctx(), tgt.Key)
	require.ErrorIs(t, err, store.ErrNotFound)

	// The other session is untouched.
	_, err = s.GetTGT(ctx(), other.Key)
	require.NoError(t, err)
	endedOther, err := s.DeleteTGT(ctx(), other.Key)
	require.NoError(t, err)
	require.Len(t, endedOther.Services, 1)
	_, err = s.ConsumeTicket(ctx(), keep.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testConcurrentDeleteTGT(t *testing.T, s cas.TicketStore) {
	tgt := newTGT(base)
	require.NoError(t, s.CreateTGT(ctx(), tgt))
	st := newST(tgt, base)
	require.NoError(t, s.CreateTicket(ctx(), st, &cas.SLOTarget{TicketID: st.ID, ServiceID: "a", ServiceURL: st.Service, LogoutURL: st.Service}))
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
		errs []error
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.DeleteTGT(ctx(), tgt.Key)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrNotFound):
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Equal(t, 1, wins, "exactly one caller ends the session (and sends its single logout)")
}

func testPGT(t *testing.T, s cas.TicketStore) {
	tgt := newTGT(base)
	require.NoError(t, s.CreateTGT(ctx(), tgt))
	p := cas.PGT{Key: key(), TGTKey: tgt.Key, Proxies: []string{"https://p2/cb", "https://p1/cb"}, CreatedAt: base}
	require.NoError(t, s.CreatePGT(ctx(), p))
	for i := 0; i < 2; i++ { // multi-use
		got, err := s.GetPGT(ctx(), p.Key)
		require.NoError(t, err)
		require.Equal(t, p, got)
	}
	_, err := s.GetPGT(ctx(), key())
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testCleanupTickets(t *testing.T, s cas.TicketStore) {
	tgt := newTGT(base)
	require.NoError(t, s.CreateTGT(ctx(), tgt))
	expired := newST(tgt, base)
	expired.ExpiresAt = base.Add(10 * time.Second)
	edge := newST(tgt, base)
	edge.ExpiresAt = base.Add(20 * time.Second)
	live := newST(tgt, base)
	live.ExpiresAt = base.Add(20*time.Second + time.Microsecond)
	for _, st := range []cas.Ticket{expired, edge, live} {
		require.NoError(t, s.CreateTicket(ctx(), st, nil))
	}
	cleanup(t, s, base.Add(20*time.Second))
	_, err := s.ConsumeTicket(ctx(), expired.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ConsumeTicket(ctx(), edge.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "a ticket expiring exactly now is expired")
	_, err = s.ConsumeTicket(ctx(), live.ID)
	require.NoError(t, err)
	_, err = s.GetTGT(ctx(), tgt.Key)
	require.NoError(t, err, "a live session survives")
}

func testCleanupSessions(t *testing.T, s cas.TicketStore) {
	now := base.Add(3 * time.Hour)
	hard := newTGT(base)
	hard.ExpiresAt = now.Add(-time.Second)
	hard.IdleExpiresAt = now.Add(time.Hour)
	idle := newTGT(base)
	idle.IdleExpiresAt = now
	live := newTGT(base)
	live.IdleExpiresAt = now.Add(time.Second)
	for _, tgt := range []cas.TGT{hard, idle, live} {
		require.NoError(t, s.CreateTGT(ctx(), tgt))
	}
	st := newST(idle, now.Add(-time.Minute))
	st.ExpiresAt = now.Add(time.Hour) // still valid itself, dies with its session
	slo := &cas.SLOTarget{TicketID: st.ID, ServiceID: "app", ServiceURL: st.Service, LogoutURL: "https://app.example.edu/slo"}
	require.NoError(t, s.CreateTicket(ctx(), st, slo))

	ended := cleanup(t, s, now)
	byKey := map[string]cas.EndedSession{}
	for _, e := range ended {
		byKey[e.TGT.Key] = e
	}
	require.Contains(t, byKey, hard.Key)
	require.Contains(t, byKey, idle.Key)
	require.NotContains(t, byKey, live.Key)
	require.Equal(t, hard, byKey[hard.Key].TGT)
	require.Equal(t, []cas.SLOTarget{*slo}, byKey[idle.Key].Services)
	require.Empty(t, byKey[hard.Key].Services)

	for _, k := range []string{hard.Key, idle.Key} {
		_, err := s.GetTGT(ctx(), k)
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	_, err := s.GetTGT(ctx(), live.Key)
	require.NoError(t, err)
	_, err = s.ConsumeTicket(ctx(), st.ID)
	require.ErrorIs(t, err, store.ErrNotFound)

	ended = cleanup(t, s, now)
	for _, e := range ended {
		require.NotContains(t, []string{hard.Key, idle.Key, live.Key}, e.TGT.Key, "a second pass finds nothing of ours")
	}
}

func testCleanupOrphans(t *testing.T, s cas.TicketStore) {
	// Rows naming a session that does not exist (written while it ended).
	ghost := newTGT(base)
	st := newST(ghost, base)
	st.ExpiresAt = base.Add(time.Hour)
	require.NoError(t, s.CreateTicket(ctx(), st, &cas.SLOTarget{TicketID: st.ID, ServiceID: "a", ServiceURL: st.Service, LogoutURL: st.Service}))
	p := cas.PGT{Key: key(), TGTKey: ghost.Key, CreatedAt: base}
	require.NoError(t, s.CreatePGT(ctx(), p))

	cleanup(t, s, base)
	_, err := s.ConsumeTicket(ctx(), st.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetPGT(ctx(), p.Key)
	require.ErrorIs(t, err, store.ErrNotFound)
	// A session created afterwards with the same key has no leftovers.
	require.NoError(t, s.CreateTGT(ctx(), ghost))
	ended2, err := s.DeleteTGT(ctx(), ghost.Key)
	require.NoError(t, err)
	require.Empty(t, ended2.Services)
}

// cleanup runs one clean-up at now and returns the sessions it ended.
func cleanup(t *testing.T, s cas.TicketStore, now time.Time) []cas.EndedSession {
	t.Helper()
	var ended []cas.EndedSession
	require.NoError(t, s.Cleanup(ctx(), now, func(e cas.EndedSession) { ended = append(ended, e) }))
	return ended
}

// expiredSessions creates n sessions past their hard expiry at now, each
// with a service recorded for single logout, and returns what the clean-up
// must report for each session key. Every other session records its service
// as a login does (TGT.FirstService), the others as SSO does (CreateTicket),
// so that batches mix the two.
func expiredSessions(t *testing.T, s cas.TicketStore, n int, now time.Time) map[string][]cas.SLOTarget {
	t.Helper()
	sessions := map[string][]cas.SLOTarget{}
	for i := range n {
		tgt := newTGT(now.Add(-9 * time.Hour))
		st := newST(tgt, now.Add(-9*time.Hour))
		slo := &cas.SLOTarget{TicketID: st.ID, ServiceID: "app", ServiceURL: st.Service, LogoutURL: st.Service}
		if i%2 == 0 {
			tgt.FirstService, slo = slo, nil
		}
		require.NoError(t, s.CreateTGT(ctx(), tgt))
		require.NoError(t, s.CreateTicket(ctx(), st, slo))
		sessions[tgt.Key] = []cas.SLOTarget{{TicketID: st.ID, ServiceID: "app", ServiceURL: st.Service, LogoutURL: st.Service}}
	}
	return sessions
}

// testCleanupManyBatches: a backlog larger than any sensible batch is ended
// completely by one call, each session reported once with its services.
func testCleanupManyBatches(t *testing.T, s cas.TicketStore) {
	now := base.Add(100 * 24 * time.Hour) // after every other test's rows
	sessions := expiredSessions(t, s, 450, now)
	live := newTGT(now)
	require.NoError(t, s.CreateTGT(ctx(), live))

	seen := map[string]int{}
	for _, e := range cleanup(t, s, now) {
		seen[e.TGT.Key]++
		if want, ok := sessions[e.TGT.Key]; ok {
			require.Equal(t, want, e.Services, "single logout learns the session's service")
		}
	}
	for k := range sessions {
		require.Equal(t, 1, seen[k], "every expired session is reported exactly once")
		_, err := s.GetTGT(ctx(), k)
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	require.Zero(t, seen[live.Key])
	_, err := s.GetTGT(ctx(), live.Key)
	require.NoError(t, err, "a live session survives")
}

// testConcurrentCleanup: instances cleaning up at the same time share the
// work; no session is reported (and logged out) twice.
func testConcurrentCleanup(t *testing.T, s cas.TicketStore) {
	now := base.Add(200 * 24 * time.Hour)
	sessions := expiredSessions(t, s, 300, now)
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
		errs = make([]error, 3)
	)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Cleanup(ctx(), now, func(e cas.EndedSession) {
				mu.Lock()
				seen[e.TGT.Key]++
				mu.Unlock()
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	for k := range sessions {
		require.Equal(t, 1, seen[k], "session ended by exactly one clean-up")
	}
}

// testTicketNeverOutlivesSession: a ticket's expiry is capped at its
// session's hard and idle expiry, so the clean-up can drop tickets by their
// own expiry alone, and a ticket that still validates proves its session
// alive without reading it.
func testTicketNeverOutlivesSession(t *testing.T, s cas.TicketStore) {
	tests := []struct {
		name       string
		hard, idle time.Duration // the session's, from base
		own        time.Duration // the ticket's, from base
		want       time.Duration
	}{
		{"own expiry first", 8 * time.Hour, 2 * time.Hour, 10 * time.Second, 10 * time.Second},
		{"hard expiry first", 5 * time.Second, 2 * time.Hour, 10 * time.Second, 5 * time.Second},
		{"idle expiry first", 8 * time.Hour, 3 * time.Second, 10 * time.Second, 3 * time.Second},
		{"hard before idle", 2 * time.Second, 3 * time.Second, 10 * time.Second, 2 * time.Second},
		{"idle before hard", 3 * time.Second, 2 * time.Second, 10 * time.Second, 2 * time.Second},
		{"all at once", 4 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tgt := newTGT(base)
			tgt.ExpiresAt, tgt.IdleExpiresAt = base.Add(tc.hard), base.Add(tc.idle)
			require.NoError(t, s.CreateTGT(ctx(), tgt))
			st := newST(tgt, base)
			st.ExpiresAt = base.Add(tc.own)
			require.NoError(t, s.CreateTicket(ctx(), st, nil))
			got, err := s.ConsumeTicket(ctx(), st.ID)
			require.NoError(t, err)
			require.Equal(t, base.Add(tc.want), got.ExpiresAt)
		})
	}
}

// testTicketCarriesPrincipal: a ticket keeps the principal it was issued
// with (validation answers from it), and one stored without a principal, as
// the release before migration 00050 wrote them, comes back without one.
func testTicketCarriesPrincipal(t *testing.T, s cas.TicketStore) {
	tgt := newTGT(base)
	require.NoError(t, s.CreateTGT(ctx(), tgt))
	withoutAttributes := newST(tgt, base)
	withoutAttributes.Principal.Attributes = map[string][]string{}
	withoutPrincipal := newST(tgt, base)
	withoutPrincipal.Principal = cas.Principal{}
	proxy := newST(tgt, base)
	proxy.ID, proxy.FromNewLogin, proxy.Proxies = "PT-"+rand.Text(), false, []string{"https://p.example.edu/cb"}
	tests := []struct {
		name   string
		ticket cas.Ticket
	}{
		{"principal with attributes", newST(tgt, base)},
		{"principal without attributes", withoutAttributes},
		{"proxy ticket", proxy},
		{"no principal (old format)", withoutPrincipal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, s.CreateTicket(ctx(), tc.ticket, &cas.SLOTarget{TicketID: tc.ticket.ID, ServiceID: "app", ServiceURL: tc.ticket.Service, LogoutURL: tc.ticket.Service}))
			got, err := s.ConsumeTicket(ctx(), tc.ticket.ID)
			require.NoError(t, err)
			require.Equal(t, tc.ticket, got)
		})
	}
}

// testTicketsEndWithTheirSession: however a session ends, none of its
// tickets can be used afterwards, including a ticket written after the end
// (an issue racing a logout): it is stored expired from the start.
func testTicketsEndWithTheirSession(t *testing.T, s cas.TicketStore) {
	now := base.Add(300 * 24 * time.Hour) // after every other test's rows
	tests := []struct {
		name    string
		session func(tgt *cas.TGT) // adjusts the session before it is stored
		end     func(t *testing.T, tgt cas.TGT)
	}{
		{"DeleteTGT", nil, func(t *testing.T, tgt cas.TGT) {
			_, err := s.DeleteTGT(ctx(), tgt.Key)
			require.NoError(t, err)
		}},
		{"clean-up after hard expiry", func(tgt *cas.TGT) { tgt.ExpiresAt = now.Add(time.Second) }, func(t *testing.T, tgt cas.TGT) {
			cleanup(t, s, now.Add(time.Second))
		}},
		{"clean-up after idle expiry", func(tgt *cas.TGT) { tgt.IdleExpiresAt = now.Add(time.Second) }, func(t *testing.T, tgt cas.TGT) {
			cleanup(t, s, now.Add(time.Second))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tgt := newTGT(now)
			if tc.session != nil {
				tc.session(&tgt)
			}
			require.NoError(t, s.CreateTGT(ctx(), tgt))
			before := newST(tgt, now)
			require.NoError(t, s.CreateTicket(ctx(), before, &cas.SLOTarget{TicketID: before.ID, ServiceID: "app", ServiceURL: before.Service, LogoutURL: before.Service}))
			pt := newST(tgt, now)
			pt.ID = "PT-" + rand.Text()
			require.NoError(t, s.CreateTicket(ctx(), pt, nil))

			tc.end(t, tgt)
			for _, id := range []string{before.ID, pt.ID} {
				_, err := s.ConsumeTicket(ctx(), id)
				require.ErrorIs(t, err, store.ErrNotFound, "a ticket of an ended session is gone")
			}
			after := newST(tgt, now)
			require.NoError(t, s.CreateTicket(ctx(), after, &cas.SLOTarget{TicketID: after.ID, ServiceID: "app", ServiceURL: after.Service, LogoutURL: after.Service}))
			got, err := s.ConsumeTicket(ctx(), after.ID)
			require.NoError(t, err)
			require.True(t, got.ExpiresAt.Before(after.CreatedAt.AddDate(-1, 0, 0)), "a ticket written after its session ended is long expired on every clock: %v", got.ExpiresAt)
		})
	}
}

// testNoLiveTicketAfterConcurrentEnd: tickets issued while their session is
// being ended either go with the session or are stored expired; none is
// left that validation would accept (it does not read the session).
func testNoLiveTicketAfterConcurrentEnd(t *testing.T, s cas.TicketStore) {
	for round := 0; round < 3; round++ {
		tgt := newTGT(base)
		require.NoError(t, s.CreateTGT(ctx(), tgt))
		const issuers = 4
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			ids   []string
			errs  []error
			ended = make(chan struct{})
		)
		for range issuers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Issue until the session has ended, then once more.
				for done := false; !done; {
					select {
					case <-ended:
						done = true
					default:
					}
					st := newST(tgt, base)
					err := s.CreateTicket(ctx(), st, &cas.SLOTarget{TicketID: st.ID, ServiceID: "app", ServiceURL: st.Service, LogoutURL: st.Service})
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					} else {
						ids = append(ids, st.ID)
					}
					mu.Unlock()
				}
			}()
		}
		time.Sleep(5 * time.Millisecond) // some tickets before the end
		_, err := s.DeleteTGT(ctx(), tgt.Key)
		close(ended)
		wg.Wait()
		require.NoError(t, err)
		require.Empty(t, errs)
		for _, id := range ids {
			got, err := s.ConsumeTicket(ctx(), id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			require.NoError(t, err)
			require.False(t, got.ExpiresAt.After(got.CreatedAt), "round %d: ticket %s of an ended session is still valid", round, id)
		}
	}
}

// testFirstServiceLoggedOutFirst: the service a session was started for,
// recorded with the session (TGT.FirstService), is reported by every way the
// session ends, before the services recorded later by CreateTicket and
// whatever their ids and times, which come in the order they were recorded.
// A session without a first service (an API client's, or one stored before
// the store knew of it) reports the later ones alone.
func testFirstServiceLoggedOutFirst(t *testing.T, s cas.TicketStore) {
	now := base.Add(400 * 24 * time.Hour) // after every other test's rows
	ends := []struct {
		name    string
		session func(tgt *cas.TGT) // adjusts the session before it is stored
		end     func(t *testing.T, tgt cas.TGT) cas.EndedSession
	}{
		{"DeleteTGT", nil, func(t *testing.T, tgt cas.TGT) cas.EndedSession {
			e, err := s.DeleteTGT(ctx(), tgt.Key)
			require.NoError(t, err)
			return e
		}},
		{"clean-up after hard expiry", func(tgt *cas.TGT) { tgt.ExpiresAt = now.Add(time.Hour) }, func(t *testing.T, tgt cas.TGT) cas.EndedSession {
			return endedBy(t, cleanup(t, s, now.Add(time.Hour)), tgt.Key)
		}},
		{"clean-up after idle expiry", func(tgt *cas.TGT) { tgt.IdleExpiresAt = now.Add(time.Hour) }, func(t *testing.T, tgt cas.TGT) cas.EndedSession {
			return endedBy(t, cleanup(t, s, now.Add(time.Hour)), tgt.Key)
		}},
	}
	sessions := []struct {
		name  string
		first bool // started for a service that is logged out
		later int  // services recorded afterwards
	}{
		{"first service only", true, 0},
		{"first service and later ones", true, 3},
		{"no first service (API client)", false, 2},
		{"no service at all", false, 0},
	}
	for _, end := range ends {
		for _, sc := range sessions {
			t.Run(end.name+"/"+sc.name, func(t *testing.T) {
				tgt := newTGT(now)
				if end.session != nil {
					end.session(&tgt)
				}
				var (
					want  []cas.SLOTarget
					first cas.Ticket
				)
				if sc.first {
					// Its id sorts after the later ones' and a later one
					// shares its time: it still comes first.
					first = newST(tgt, now)
					first.ID = "ST-ZZZ" + rand.Text()
					tgt.FirstService = &cas.SLOTarget{TicketID: first.ID, ServiceID: "first", ServiceURL: first.Service, LogoutURL: "https://app.example.edu/slo"}
					want = append(want, *tgt.FirstService)
				}
				require.NoError(t, s.CreateTGT(ctx(), tgt))
				if sc.first {
					require.NoError(t, s.CreateTicket(ctx(), first, nil))
				}
				for i := range sc.later {
					// Recorded later, ids in descending order: the order is
					// the order of recording, not of ids.
					st := newST(tgt, now.Add(time.Duration(i)*time.Second))
					st.ID = "ST-" + string(rune('Y'-i)) + rand.Text()
					st.Service = "https://sso" + string(rune('a'+i)) + ".example.edu/"
					slo := &cas.SLOTarget{TicketID: st.ID, ServiceID: "sso" + string(rune('a'+i)), ServiceURL: st.Service, LogoutURL: st.Service + "slo"}
					require.NoError(t, s.CreateTicket(ctx(), st, slo))
					want = append(want, *slo)
				}
				// A ticket of a service that is not logged out, in between.
				require.NoError(t, s.CreateTicket(ctx(), newST(tgt, now), nil))

				e := end.end(t, tgt)
				require.Equal(t, tgt, e.TGT)
				require.Equal(t, want, e.Services)
				if sc.first {
					_, err := s.ConsumeTicket(ctx(), first.ID)
					require.ErrorIs(t, err, store.ErrNotFound, "the login's ticket goes with its session")
				}
				_, err := s.DeleteTGT(ctx(), tgt.Key)
				require.ErrorIs(t, err, store.ErrNotFound, "the session is ended once")
			})
		}
	}
}

// endedBy returns the session with key among ended, failing the test when
// it is not there.
func endedBy(t *testing.T, ended []cas.EndedSession, key string) cas.EndedSession {
	t.Helper()
	for _, e := range ended {
		if e.TGT.Key == key {
			return e
		}
	}
	require.Failf(t, "session not ended", "%s", key)
	return cas.EndedSession{}
}

// SessionsOf lists the principal's live sessions, newest first, and no one
// else's nor any past its hard or idle expiry.
func testSessionsOf(t *testing.T, s cas.TicketStore) {
	older, newer := newTGT(base), newTGT(base.Add(time.Minute))
	hardExpired, idleExpired, bob := newTGT(base), newTGT(base), newTGT(base)
	hardExpired.ExpiresAt = base.Add(time.Hour)
	idleExpired.IdleExpiresAt = base.Add(time.Hour)
	// Names of their own: the suite's other tests may share the store.
	alice, bobID := "alice-"+rand.Text(), "bob-"+rand.Text()
	for _, tgt := range []*cas.TGT{&older, &newer, &hardExpired, &idleExpired} {
		tgt.PrincipalID = alice
	}
	bob.PrincipalID = bobID
	for _, tgt := range []cas.TGT{older, newer, hardExpired, idleExpired, bob} {
		require.NoError(t, s.CreateTGT(ctx(), tgt))
	}
	tests := []struct {
		principal string
		now       time.Time
		want      []string
	}{
		{alice, base.Add(2 * time.Minute), []string{newer.Key, older.Key, hardExpired.Key, idleExpired.Key}},
		{alice, base.Add(time.Hour), []string{newer.Key, older.Key}},
		{bobID, base.Add(time.Hour), []string{bob.Key}},
		{"carol-" + rand.Text(), base, nil},
	}
	for _, tc := range tests {
		got, err := s.SessionsOf(ctx(), tc.principal, tc.now)
		require.NoError(t, err)
		if tc.now.Equal(base.Add(2 * time.Minute)) {
			// The three created at base share created_at: only the newest's place is fixed.
			require.Equal(t, tc.want[0], got[0])
			require.ElementsMatch(t, tc.want, got)
			continue
		}
		require.Equal(t, tc.want, got, "%s at %s", tc.principal, tc.now)
	}
}
