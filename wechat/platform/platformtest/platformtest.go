// Package platformtest is the conformance suite for platform.Store: Run
// drives fresh stores through the contract (newest wins, replays change
// nothing, platforms and authorizers are separate, racing saves end with the
// newest). Each backend's test only builds stores and calls Run.
package platformtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/store/storetest"
	"wxcas/wechat/platform"
)

// Appids the suite uses.
const (
	Component      = "wxcomponent00000001"
	OtherComponent = "wxcomponent00000002"
	Authorizer     = "wxauthorizer0000001"
	OtherAuthor    = "wxauthorizer0000002"
)

// t0 is a CreateTime as WeChat sends it: whole seconds.
var t0 = time.Unix(storetest.T0.Unix(), 0).UTC()

// at is t0 plus n seconds.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

// Run runs the suite; newStore returns an empty store on a fresh database
// for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) platform.Store) {
	t.Run("tickets", func(t *testing.T) { runTickets(t, newStore) })
	t.Run("authorizations", func(t *testing.T) { runAuthorizations(t, newStore) })
	t.Run("validation", func(t *testing.T) { runValidation(t, newStore) })
	t.Run("concurrency", func(t *testing.T) { runConcurrency(t, newStore) })
}

func runTickets(t *testing.T, newStore func(t *testing.T) platform.Store) {
	ctx := context.Background()

	t.Run("no ticket yet", func(t *testing.T) {
		s := newStore(t)
		_, _, err := s.Ticket(ctx, Component)
		require.ErrorIs(t, err, platform.ErrNoTicket)
	})

	t.Run("save and load", func(t *testing.T) {
		s := newStore(t)
		ok, err := s.SaveTicket(ctx, Component, "ticket@@@first", t0)
		require.NoError(t, err)
		require.True(t, ok)
		got, created, err := s.Ticket(ctx, Component)
		require.NoError(t, err)
		require.Equal(t, "ticket@@@first", got)
		require.True(t, created.Equal(t0), "created %v, want %v", created, t0)
		require.Equal(t, time.UTC, created.Location())
	})

	t.Run("times come back in UTC to the microsecond", func(t *testing.T) {
		s := newStore(t)
		in := storetest.T0.In(storetest.Shanghai)
		_, err := s.SaveTicket(ctx, Component, "ticket", in)
		require.NoError(t, err)
		_, created, err := s.Ticket(ctx, Component)
		require.NoError(t, err)
		require.Equal(t, time.UTC, created.Location())
		require.True(t, created.Equal(in.Truncate(time.Microsecond)), "created %v, want %v", created, in)
	})

	// Each case saves "stored" at t0, then "next" at t0+offset.
	for _, tc := range []struct {
		name    string
		offset  int
		applied bool
	}{
		{"a newer ticket replaces the stored one", 600, true},
		{"one second newer is newer", 1, true},
		{"the same CreateTime (a replay) changes nothing", 0, false},
		{"an older ticket changes nothing", -600, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			_, err := s.SaveTicket(ctx, Component, "stored", t0)
			require.NoError(t, err)
			ok, err := s.SaveTicket(ctx, Component, "next", at(tc.offset))
			require.NoError(t, err)
			require.Equal(t, tc.applied, ok)
			want, wantAt := "stored", t0
			if tc.applied {
				want, wantAt = "next", at(tc.offset)
			}
			got, created, err := s.Ticket(ctx, Component)
			require.NoError(t, err)
			require.Equal(t, want, got)
			require.True(t, created.Equal(wantAt), "created %v, want %v", created, wantAt)
		})
	}

	t.Run("a replay of the very same push changes nothing", func(t *testing.T) {
		s := newStore(t)
		for i, want := range []bool{true, false, false} {
			ok, err := s.SaveTicket(ctx, Component, "same", t0)
			require.NoError(t, err)
			require.Equal(t, want, ok, "save %d", i)
		}
	})

	t.Run("platforms are separate", func(t *testing.T) {
		s := newStore(t)
		_, err := s.SaveTicket(ctx, Component, "mine", at(10))
		require.NoError(t, err)
		_, _, err = s.Ticket(ctx, OtherComponent)
		require.ErrorIs(t, err, platform.ErrNoTicket)
		// The other platform's older ticket is stored: "newer" is per
		// platform.
		ok, err := s.SaveTicket(ctx, OtherComponent, "theirs", t0)
		require.NoError(t, err)
		require.True(t, ok)
		mine, _, err := s.Ticket(ctx, Component)
		require.NoError(t, err)
		require.Equal(t, "mine", mine)
		theirs, _, err := s.Ticket(ctx, OtherComponent)
		require.NoError(t, err)
		require.Equal(t, "theirs", theirs)
	})

	t.Run("a long ticket fits", func(t *testing.T) {
		s := newStore(t)
		long := make([]byte, platform.MaxTicketLen)
		for i := range long {
			long[i] = "ticket@0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"[i%71]
		}
		_, err := s.SaveTicket(ctx, Component, string(long), t0)
		require.NoError(t, err)
		got, _, err := s.Ticket(ctx, Component)
		require.NoError(t, err)
		require.Equal(t, string(long), got)
	})
}

func runAuthorizations(t *testing.T, newStore func(t *testing.T) platform.Store) {
	ctx := context.Background()

	t.Run("unknown until an event is recorded", func(t *testing.T) {
		s := newStore(t)
		st, err := s.Authorization(ctx, Component, Authorizer)
		require.NoError(t, err)
		require.Equal(t, platform.StatusUnknown, st)
	})

	type step struct {
		infoType   string
		authorized bool
		offset     int  // seconds after t0
		applied    bool // whether the save reports it stored the event
		want       platform.Status
	}
	auth := func(off int, applied bool, want platform.Status) step {
		return step{platform.InfoAuthorized, true, off, applied, want}
	}
	update := func(off int, applied bool, want platform.Status) step {
		return step{platform.InfoUpdateAuthorized, true, off, applied, want}
	}
	unauth := func(off int, applied bool, want platform.Status) step {
		return step{platform.InfoUnauthorized, false, off, applied, want}
	}
	const (
		yes = platform.StatusAuthorized
		no  = platform.StatusUnauthorized
	)
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"authorized", []step{auth(0, true, yes)}},
		{"unauthorized", []step{unauth(0, true, no)}},
		{"authorized, withdrawn, granted again", []step{auth(0, true, yes), unauth(60, true, no), auth(120, true, yes)}},
		{"an update keeps it authorized", []step{auth(0, true, yes), update(60, true, yes)}},
		{"an update after a withdrawal authorizes", []step{unauth(0, true, no), update(60, true, yes)}},
		{"granting again needs a newer CreateTime", []step{auth(0, true, yes), unauth(60, true, no), auth(60, false, no), auth(30, false, no), auth(61, true, yes)}},
		{"a late older withdrawal changes nothing", []step{auth(120, true, yes), unauth(60, false, yes)}},
		{"a replayed withdrawal changes nothing", []step{unauth(60, true, no), auth(120, true, yes), unauth(60, false, yes)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			for i, st := range tc.steps {
				ok, err := s.SaveAuthorization(ctx, Component, Authorizer, st.authorized, st.infoType, at(st.offset))
				require.NoError(t, err, "step %d", i)
				require.Equal(t, st.applied, ok, "step %d: stored", i)
				got, err := s.Authorization(ctx, Component, Authorizer)
				require.NoError(t, err, "step %d", i)
				require.Equal(t, st.want, got, "step %d: status", i)
			}
		})
	}

	t.Run("authorizers and platforms are separate", func(t *testing.T) {
		s := newStore(t)
		_, err := s.SaveAuthorization(ctx, Component, Authorizer, true, platform.InfoAuthorized, at(60))
		require.NoError(t, err)
		ok, err := s.SaveAuthorization(ctx, OtherComponent, Authorizer, false, platform.InfoUnauthorized, t0)
		require.NoError(t, err)
		require.True(t, ok, "an older event of another platform is still the first there")
		for _, c := range []struct {
			component, authorizer string
			want                  platform.Status
		}{
			{Component, Authorizer, platform.StatusAuthorized},
			{OtherComponent, Authorizer, platform.StatusUnauthorized},
			{Component, OtherAuthor, platform.StatusUnknown},
			{OtherComponent, OtherAuthor, platform.StatusUnknown},
		} {
			got, err := s.Authorization(ctx, c.component, c.authorizer)
			require.NoError(t, err)
			require.Equal(t, c.want, got, "%s / %s", c.component, c.authorizer)
		}
	})

	t.Run("tickets and authorizations do not mix", func(t *testing.T) {
		s := newStore(t)
		_, err := s.SaveAuthorization(ctx, Component, Authorizer, true, platform.InfoAuthorized, at(60))
		require.NoError(t, err)
		_, _, err = s.Ticket(ctx, Component)
		require.ErrorIs(t, err, platform.ErrNoTicket)
		ok, err := s.SaveTicket(ctx, Component, "ticket", t0)
		require.NoError(t, err)
		require.True(t, ok)
	})
}

func runValidation(t *testing.T, newStore func(t *testing.T) platform.Store) {
	ctx := context.Background()
	s := newStore(t)
	long := func(n int) string { return fmt.Sprintf("%0*d", n, 0) }

	for _, tc := range []struct {
		name string
		save func() (bool, error)
	}{
		{"empty ticket", func() (bool, error) { return s.SaveTicket(ctx, Component, "", t0) }},
		{"ticket too long", func() (bool, error) { return s.SaveTicket(ctx, Component, long(platform.MaxTicketLen+1), t0) }},
		{"empty component appid", func() (bool, error) { return s.SaveTicket(ctx, "", "ticket", t0) }},
		{"component appid too long", func() (bool, error) { return s.SaveTicket(ctx, long(platform.MaxAppIDLen+1), "ticket", t0) }},
		{"zero time", func() (bool, error) { return s.SaveTicket(ctx, Component, "ticket", time.Time{}) }},
		{"empty authorizer", func() (bool, error) {
			return s.SaveAuthorization(ctx, Component, "", true, platform.InfoAuthorized, t0)
		}},
		{"empty info type", func() (bool, error) { return s.SaveAuthorization(ctx, Component, Authorizer, true, "", t0) }},
		{"authorization at zero time", func() (bool, error) {
			return s.SaveAuthorization(ctx, Component, Authorizer, true, platform.InfoAuthorized, time.Time{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := tc.save()
			require.ErrorIs(t, err, platform.ErrInvalid)
			require.False(t, ok)
		})
	}
	_, _, err := s.Ticket(ctx, Component)
	require.ErrorIs(t, err, platform.ErrNoTicket, "nothing was stored")
	st, err := s.Authorization(ctx, Component, Authorizer)
	require.NoError(t, err)
	require.Equal(t, platform.StatusUnknown, st, "nothing was stored")
}

func runConcurrency(t *testing.T, newStore func(t *testing.T) platform.Store) {
	ctx := context.Background()
	const n = 8

	t.Run("racing tickets end with the newest", func(t *testing.T) {
		s := newStore(t)
		// Several rounds: each race starts from a different state (no row,
		// then a row older than every racer).
		for round := range 3 {
			base := round * 100
			errs := storetest.Race(n, func(i int) error {
				_, err := s.SaveTicket(ctx, Component, fmt.Sprintf("ticket-%d-%d", round, i), at(base+i))
				return err
			})
			for i, err := range errs {
				require.NoError(t, err, "round %d, saver %d", round, i)
			}
			got, created, err := s.Ticket(ctx, Component)
			require.NoError(t, err)
			require.Equal(t, fmt.Sprintf("ticket-%d-%d", round, n-1), got, "round %d", round)
			require.True(t, created.Equal(at(base+n-1)), "round %d: created %v", round, created)
		}
	})

	t.Run("racing replays store once", func(t *testing.T) {
		s := newStore(t)
		stored := 0
		results := make([]bool, n)
		errs := storetest.Race(n, func(i int) error {
			var err error
			results[i], err = s.SaveTicket(ctx, Component, "same", t0)
			return err
		})
		for i, err := range errs {
			require.NoError(t, err, "saver %d", i)
			if results[i] {
				stored++
			}
		}
		require.Equal(t, 1, stored, "exactly one of the identical pushes is stored")
	})

	t.Run("racing authorizer events end with the newest", func(t *testing.T) {
		s := newStore(t)
		// The newest is a withdrawal; every other racer authorizes.
		errs := storetest.Race(n, func(i int) error {
			authorized, infoType := true, platform.InfoAuthorized
			if i == n-1 {
				authorized, infoType = false, platform.InfoUnauthorized
			}
			_, err := s.SaveAuthorization(ctx, Component, Authorizer, authorized, infoType, at(i))
			return err
		})
		for i, err := range errs {
			require.NoError(t, err, "saver %d", i)
		}
		got, err := s.Authorization(ctx, Component, Authorizer)
		require.NoError(t, err)
		require.Equal(t, platform.StatusUnauthorized, got)
	})
}
