// Package journeytest is the conformance suite every journey.Store passes:
// the SQL store on SQLite and MySQL, and the in-memory store that the unit
// tests of the engine and the transports use. Running one suite on all of
// them is what lets a unit test against MemStore stand for production.
package journeytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/journey"
	"wxcas/store"
	"wxcas/store/storetest"
)

// t0 is the suite's "now", shanghai a zone other than UTC (see storetest).
var t0, shanghai = storetest.T0, storetest.Shanghai

// Sample returns a journey with every field set to a value that tells it
// apart from the zero value (and, through n, from other samples), with times
// carrying nanoseconds and a zone other than UTC.
func Sample(id string, n int) *journey.Journey {
	return &journey.Journey{
		ID:              id,
		State:           journey.CodeSent,
		Transport:       journey.API,
		Channel:         journey.ChannelMiniProgram,
		Service:         fmt.Sprintf("https://app.example.com/%d?x=1&y=2", n),
		Return:          fmt.Sprintf(`{"service":"https://app.example.com/%d","renew":true}`, n),
		SecretHash:      fmt.Sprintf("%064x", n+1),
		WeChatStateHash: fmt.Sprintf("%064x", n+2),
		WeChatStateUsed: true,
		AppID:           "wxmini",
		OpenID:          fmt.Sprintf("o-%d", n),
		UnionID:         fmt.Sprintf("u-%d", n),
		Nickname:        "小明 🐼",
		AvatarURL:       "https://thirdwx.qlogo.cn/mmopen/x/132",
		Phone:           fmt.Sprintf("+86138%08d", n),
		UserID:          fmt.Sprintf("user-%d", n),
		Version:         7, // Create starts every journey at 0 whatever it says
		CreatedAt:       t0.In(shanghai),
		StepExpiresAt:   t0.Add(5 * time.Minute).In(shanghai),
		ExpiresAt:       t0.Add(15 * time.Minute).In(shanghai),
	}
}

// normalised is j as a store hands it back: times in UTC at microsecond
// precision (MySQL's DATETIME(6)); see store.Time.
func normalised(j journey.Journey) journey.Journey {
	j.CreatedAt, j.StepExpiresAt, j.ExpiresAt = store.Time(j.CreatedAt), store.Time(j.StepExpiresAt), store.Time(j.ExpiresAt)
	return j
}

// requireSame checks that got is want as stored: every field equal, times
// denoting the same instant at microsecond precision, in UTC.
func requireSame(t *testing.T, want, got *journey.Journey, msg string) {
	t.Helper()
	require.NotNil(t, got, msg)
	w, g := normalised(*want), *got
	for _, tm := range []time.Time{g.CreatedAt, g.StepExpiresAt, g.ExpiresAt} {
		require.Equal(t, time.UTC, tm.Location(), "%s: times come back in UTC", msg)
	}
	// Times are compared as instants (time.Time's == also compares the
	// monotonic reading and the *Location pointer), everything else as is.
	for _, p := range []struct {
		name     string
		want, gt time.Time
	}{{"CreatedAt", w.CreatedAt, g.CreatedAt}, {"StepExpiresAt", w.StepExpiresAt, g.StepExpiresAt}, {"ExpiresAt", w.ExpiresAt, g.ExpiresAt}} {
		require.True(t, p.want.Equal(p.gt), "%s: %s: want %v, got %v", msg, p.name, p.want, p.gt)
	}
	w.CreatedAt, w.StepExpiresAt, w.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	g.CreatedAt, g.StepExpiresAt, g.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	require.Equal(t, w, g, msg)
}

// Run runs the suite; newStore must return a fresh, empty store each call.
func Run(t *testing.T, newStore func(t *testing.T) journey.Store) {
	ctx := context.Background()

	t.Run("create and get round-trip every field", func(t *testing.T) {
		s := newStore(t)
		j := Sample("j-round-trip", 1)
		want := *j
		want.Version = 0
		require.NoError(t, s.Create(ctx, j))
		got, err := s.Get(ctx, j.ID)
		require.NoError(t, err)
		requireSame(t, &want, got, "read back")
		require.Zero(t, got.Version, "a new journey starts at version 0")

		// The zero values too: a journey just started has no WeChat person,
		// no phone, no user and no step deadline (Engine.Start).
		bare := &journey.Journey{ID: "j-bare", State: journey.WeChatPending, Transport: journey.Browser,
			SecretHash: "s", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		wantBare := *bare
		require.NoError(t, s.Create(ctx, bare))
		got, err = s.Get(ctx, bare.ID)
		require.NoError(t, err)
		requireSame(t, &wantBare, got, "zero values read back")
		require.True(t, got.StepExpiresAt.IsZero(), "no step deadline stays none: %v", got.StepExpiresAt)
		require.False(t, got.Expired(t0.Add(time.Minute)), "a zero step deadline does not expire the journey")
	})

	t.Run("get of an unknown journey is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Get(ctx, "j-nobody")
		require.ErrorIs(t, err, journey.ErrNotFound)
	})

	t.Run("create with an existing id fails and changes nothing", func(t *testing.T) {
		s := newStore(t)
		first := Sample("j-dup", 1)
		want := *first
		want.Version = 0
		require.NoError(t, s.Create(ctx, first))
		require.Error(t, s.Create(ctx, Sample("j-dup", 2)))
		got, err := s.Get(ctx, "j-dup")
		require.NoError(t, err)
		requireSame(t, &want, got, "the first journey is untouched")
	})

	t.Run("update applies fn, bumps the version and returns the journey as saved", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Create(ctx, Sample("j-upd", 1)))
		before, err := s.Get(ctx, "j-upd")
		require.NoError(t, err)

		// Every field an update may change, to a value of another sample,
		// including back to zero values.
		next := Sample("j-upd", 2)
		next.State, next.Transport, next.WeChatStateUsed = journey.Bound, journey.Browser, false
		next.StepExpiresAt = time.Time{}
		next.ExpiresAt = t0.Add(time.Hour).In(shanghai)
		calls := 0
		saved, err := s.Update(ctx, "j-upd", func(j *journey.Journey) error {
			calls++
			requireSame(t, before, j, "fn sees the stored journey")
			created := j.CreatedAt
			*j = *next
			j.CreatedAt = created
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, 1, calls)
		want := *next
		want.CreatedAt, want.Version = before.CreatedAt, 1
		requireSame(t, &want, saved, "Update returns the journey as saved")
		got, err := s.Get(ctx, "j-upd")
		require.NoError(t, err)
		requireSame(t, &want, got, "Get after Update")

		saved, err = s.Update(ctx, "j-upd", func(j *journey.Journey) error { return nil })
		require.NoError(t, err)
		require.Equal(t, 2, saved.Version, "every update bumps the version, even one that changes nothing")
	})

	t.Run("fn cannot change the id, the version or the creation time", func(t *testing.T) {
		// The version is the compare-and-swap's proof and the id the row's:
		// an fn that writes them (a bug) must not move another journey or
		// rewind the version.
		s := newStore(t)
		require.NoError(t, s.Create(ctx, Sample("j-fixed", 1)))
		before, err := s.Get(ctx, "j-fixed")
		require.NoError(t, err)
		saved, err := s.Update(ctx, "j-fixed", func(j *journey.Journey) error {
			j.ID, j.Version, j.CreatedAt = "j-other", 42, t0.Add(-24*time.Hour)
			j.Nickname = "changed"
			return nil
		})
		require.NoError(t, err)
		want := *before
		want.Version, want.Nickname = 1, "changed"
		requireSame(t, &want, saved, "returned")
		got, err := s.Get(ctx, "j-fixed")
		require.NoError(t, err)
		requireSame(t, &want, got, "stored")
		_, err = s.Get(ctx, "j-other")
		require.ErrorIs(t, err, journey.ErrNotFound)
	})

	t.Run("an error from fn saves nothing and comes back as is", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Create(ctx, Sample("j-err", 1)))
		before, err := s.Get(ctx, "j-err")
		require.NoError(t, err)
		errNo := errors.New("no, thanks")
		out, err := s.Update(ctx, "j-err", func(j *journey.Journey) error {
			j.State, j.Phone, j.UserID = journey.Failed, "+8613900000000", "someone"
			return fmt.Errorf("refused: %w", errNo)
		})
		require.ErrorIs(t, err, errNo)
		require.Nil(t, out)
		got, err := s.Get(ctx, "j-err")
		require.NoError(t, err)
		requireSame(t, before, got, "nothing saved")

		// A typed error keeps its type (the engine returns *journey.Error
		// from inside Update).
		_, err = s.Update(ctx, "j-err", func(*journey.Journey) error { return &journey.Error{Code: journey.CodeExpired} })
		require.NotNil(t, journey.AsError(err))
		require.Equal(t, journey.CodeExpired, journey.AsError(err).Code)
	})

	t.Run("replace saves the journey read, once: a stale or unknown one is ErrConflict", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Create(ctx, Sample("j-rep", 1)))
		read, err := s.Get(ctx, "j-rep")
		require.NoError(t, err)
		stale := *read

		next := *read
		next.State, next.Nickname, next.StepExpiresAt = journey.Identified, "replaced", time.Time{}
		require.NoError(t, s.Replace(ctx, &next))
		require.Equal(t, 1, next.Version, "the version moves on in the journey given")
		got, err := s.Get(ctx, "j-rep")
		require.NoError(t, err)
		requireSame(t, &next, got, "Get after Replace")

		stale.Phone = "+8613900000000"
		require.ErrorIs(t, s.Replace(ctx, &stale), journey.ErrConflict, "a journey read before the last write")
		require.Zero(t, stale.Version, "a refused journey keeps its version")
		got, err = s.Get(ctx, "j-rep")
		require.NoError(t, err)
		requireSame(t, &next, got, "nothing saved")

		nobody := Sample("j-nobody", 1)
		require.ErrorIs(t, s.Replace(ctx, nobody), journey.ErrConflict)
		_, err = s.Get(ctx, "j-nobody")
		require.ErrorIs(t, err, journey.ErrNotFound, "Replace never creates")
	})

	t.Run("of concurrent replaces of one read, exactly one saves", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Create(ctx, Sample("j-rep-race", 1)))
		read, err := s.Get(ctx, "j-rep-race")
		require.NoError(t, err)
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				j := *read
				j.Nickname = fmt.Sprint("writer ", i)
				errs[i] = s.Replace(ctx, &j)
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, won, "two writers saved")
				won = i
				continue
			}
			require.ErrorIs(t, err, journey.ErrConflict)
		}
		require.NotEqual(t, -1, won, "nobody saved")
		got, err := s.Get(ctx, "j-rep-race")
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint("writer ", won), got.Nickname)
		require.Equal(t, 1, got.Version)
	})

	t.Run("update of an unknown journey is ErrNotFound and does not call fn", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Update(ctx, "j-nobody", func(*journey.Journey) error {
			t.Error("fn called for a journey that does not exist")
			return nil
		})
		require.ErrorIs(t, err, journey.ErrNotFound)
		_, err = s.Get(ctx, "j-nobody")
		require.ErrorIs(t, err, journey.ErrNotFound, "Update never creates")
	})

	t.Run("concurrent updates of one journey all apply, one after the other", func(t *testing.T) {
		s := newStore(t)
		j := Sample("j-conc", 1)
		j.Nickname = ""
		require.NoError(t, s.Create(ctx, j))
		const n = 20
		letters := "abcdefghijklmnopqrst"[:n]
		var wg sync.WaitGroup
		start := make(chan struct{})
		versions := make([]int, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				var seen int
				out, err := s.Update(ctx, "j-conc", func(j *journey.Journey) error {
					seen = j.Version
					// Each fn must see the previous one's result: the
					// length of the nickname is the number of updates
					// applied before it, which is the version.
					if len(j.Nickname) != j.Version {
						return fmt.Errorf("fn saw nickname %q at version %d", j.Nickname, j.Version)
					}
					j.Nickname += letters[i : i+1]
					return nil
				})
				errs[i] = err
				if err == nil {
					versions[i] = out.Version
					if out.Version != seen+1 {
						errs[i] = fmt.Errorf("saw version %d, saved %d", seen, out.Version)
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "update %d", i)
		}
		got, err := s.Get(ctx, "j-conc")
		require.NoError(t, err)
		require.Equal(t, n, got.Version, "no update lost")
		chars := strings.Split(got.Nickname, "")
		slices.Sort(chars)
		require.Equal(t, letters, strings.Join(chars, ""), "every update applied exactly once")
		slices.Sort(versions)
		for i, v := range versions {
			require.Equal(t, i+1, v, "each update saved its own version")
		}
	})

	t.Run("get returns expired journeys too", func(t *testing.T) {
		s := newStore(t)
		j := Sample("j-old", 1)
		j.CreatedAt, j.StepExpiresAt, j.ExpiresAt = t0.Add(-2*time.Hour), t0.Add(-90*time.Minute), t0.Add(-time.Hour)
		require.NoError(t, s.Create(ctx, j))
		got, err := s.Get(ctx, j.ID)
		require.NoError(t, err, "an expired journey still tells which service to start again for")
		require.True(t, got.Expired(t0))
		require.Equal(t, j.Service, got.Service)
		out, err := s.Update(ctx, j.ID, func(j *journey.Journey) error { j.State = journey.Failed; return nil })
		require.NoError(t, err, "the store does not judge expiry; the engine does")
		require.Equal(t, journey.Failed, out.State)
	})

	t.Run("cleanup deletes only journeys expired at t and counts them", func(t *testing.T) {
		s := newStore(t)
		for i, d := range []time.Duration{-time.Hour, -time.Microsecond, 0, time.Microsecond, time.Hour} {
			j := Sample(fmt.Sprintf("j-clean-%d", i), i)
			j.CreatedAt, j.StepExpiresAt, j.ExpiresAt = t0.Add(-2*time.Hour), time.Time{}, t0.Add(d)
			require.NoError(t, s.Create(ctx, j))
		}
		n, err := s.Cleanup(ctx, t0)
		require.NoError(t, err)
		require.EqualValues(t, 3, n, "expired before t, and at t")
		for i := range 5 {
			_, err := s.Get(ctx, fmt.Sprintf("j-clean-%d", i))
			if i < 3 {
				require.ErrorIs(t, err, journey.ErrNotFound, "journey %d", i)
			} else {
				require.NoError(t, err, "journey %d is still live", i)
			}
		}
		n, err = s.Cleanup(ctx, t0)
		require.NoError(t, err)
		require.Zero(t, n, "nothing left to clean up")
		_, err = s.Update(ctx, "j-clean-0", func(*journey.Journey) error { return nil })
		require.ErrorIs(t, err, journey.ErrNotFound, "a cleaned-up journey cannot be updated")
	})

	t.Run("cleanup goes by ExpiresAt, not by the step deadline", func(t *testing.T) {
		s := newStore(t)
		j := Sample("j-step", 1)
		j.StepExpiresAt, j.ExpiresAt = t0.Add(-time.Minute), t0.Add(time.Minute)
		require.NoError(t, s.Create(ctx, j))
		n, err := s.Cleanup(ctx, t0)
		require.NoError(t, err)
		require.Zero(t, n)
		_, err = s.Get(ctx, j.ID)
		require.NoError(t, err)
	})
}
