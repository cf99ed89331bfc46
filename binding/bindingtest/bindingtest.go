// Package bindingtest is the conformance suite every binding.Store and
// binding.Directory implementation must pass.
package bindingtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/binding"
)

// Impl is a fresh store and directory for one test. Inventory reads the
// bindings Store makes, and Phones changes the phones of Directory's users.
type Impl struct {
	Store     binding.Store
	Directory binding.Directory
	Inventory binding.Inventory
	Phones    binding.PhoneChanger
}

var t0 = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

// Run runs the suite; newImpl must return empty, independent storage.
func Run(t *testing.T, newImpl func(t *testing.T) Impl) {
	ctx := context.Background()
	web := func(openid, unionid string) binding.Account {
		return binding.Account{AppID: "wxweb", OpenID: openid, UnionID: unionid}
	}
	oa := func(openid, unionid string) binding.Account {
		return binding.Account{AppID: "wxoa", OpenID: openid, UnionID: unionid}
	}

	t.Run("unbound person is recorded", func(t *testing.T) {
		s := newImpl(t).Store
		_, err := s.Seen(ctx, binding.Account{AppID: "wxweb", OpenID: "o1", UnionID: "u1", Nickname: "小明 🐼", AvatarURL: "https://a/0"}, t0)
		require.ErrorIs(t, err, binding.ErrNotFound)
		_, err = s.Seen(ctx, web("o1", ""), t0.Add(time.Hour))
		require.ErrorIs(t, err, binding.ErrNotFound)
		accts, err := s.Accounts(ctx, web("o1", ""))
		require.NoError(t, err)
		require.Len(t, accts, 1)
		a := accts[0]
		require.Equal(t, "u1", a.UnionID, "a later sighting without unionid keeps it")
		require.Equal(t, "小明 🐼", a.Nickname, "an empty nickname does not erase the stored one")
		require.True(t, a.FirstSeen.Equal(t0), "first seen %v", a.FirstSeen)
		require.True(t, a.LastSeen.Equal(t0.Add(time.Hour)), "last seen %v", a.LastSeen)
	})

	t.Run("a sighting that adds nothing within the precision records nothing; anything new is recorded", func(t *testing.T) {
		s := newImpl(t).Store
		require.NoError(t, s.Bind(ctx, binding.Account{AppID: "wxweb", OpenID: "o1", UnionID: "u1", Nickname: "A"}, "alice", false, t0))
		lastSeen := func() (time.Time, string) {
			accts, err := s.Accounts(ctx, web("o1", ""))
			require.NoError(t, err)
			require.Len(t, accts, 1)
			return accts[0].LastSeen, accts[0].Nickname
		}
		for _, c := range []struct {
			name     string
			acct     binding.Account
			at       time.Time
			wantSeen time.Time
			wantNick string
		}{
			{"same answer within the precision", web("o1", "u1"), t0.Add(binding.SeenPrecision - time.Second), t0, "A"},
			{"without unionid (snsapi_base)", web("o1", ""), t0.Add(time.Minute), t0, "A"},
			{"a new nickname is recorded at once", binding.Account{AppID: "wxweb", OpenID: "o1", Nickname: "B"}, t0.Add(2 * time.Minute), t0.Add(2 * time.Minute), "B"},
			{"the last sighting is kept to the precision", web("o1", ""), t0.Add(2*time.Minute + binding.SeenPrecision), t0.Add(2*time.Minute + binding.SeenPrecision), "B"},
		} {
			got, err := s.Seen(ctx, c.acct, c.at)
			require.NoError(t, err, c.name)
			require.Equal(t, "alice", got, c.name)
			seen, nick := lastSeen()
			require.True(t, seen.Equal(c.wantSeen), "%s: last seen %v, want %v", c.name, seen, c.wantSeen)
			require.Equal(t, c.wantNick, nick, c.name)
		}
		_, err := s.Seen(ctx, web("o2", ""), t0)
		require.ErrorIs(t, err, binding.ErrNotFound, "a stranger")
		_, err = s.Seen(ctx, web("o2", ""), t0.Add(time.Minute))
		require.ErrorIs(t, err, binding.ErrNotFound, "a stranger seen before is still one")
	})

	t.Run("a binding under the openid follows a unionid learnt by the account row alone", func(t *testing.T) {
		s := newImpl(t).Store
		require.NoError(t, s.Bind(ctx, oa("o-oa", ""), "carol", false, t0))
		_, err := s.Seen(ctx, web("o-web", "u3"), t0)
		require.ErrorIs(t, err, binding.ErrNotFound)
		// The OA account's row learns u3 from a userinfo login: the binding
		// moves to the unionid key, and the website app finds carol.
		got, err := s.Seen(ctx, oa("o-oa", "u3"), t0.Add(time.Minute))
		require.NoError(t, err)
		require.Equal(t, "carol", got)
		got, err = s.Seen(ctx, oa("o-oa", ""), t0.Add(2*time.Minute))
		require.NoError(t, err)
		require.Equal(t, "carol", got, "found again from the row's unionid, within the precision")
		got, err = s.Seen(ctx, web("o-web", ""), t0.Add(3*time.Minute))
		require.NoError(t, err)
		require.Equal(t, "carol", got)
	})

	t.Run("invalid accounts refused", func(t *testing.T) {
		s := newImpl(t).Store
		_, err := s.Seen(ctx, binding.Account{AppID: "wxweb"}, t0)
		require.ErrorIs(t, err, binding.ErrInvalidAccount)
		require.ErrorIs(t, s.Bind(ctx, web("o1", ""), "", false, t0), binding.ErrInvalidAccount)
	})

	t.Run("bound person recognised across apps by unionid", func(t *testing.T) {
		s := newImpl(t).Store
		require.NoError(t, s.Bind(ctx, web("o-web", "u1"), "alice", false, t0))
		got, err := s.Seen(ctx, web("o-web", ""), t0)
		require.NoError(t, err)
		require.Equal(t, "alice", got)
		got, err = s.Seen(ctx, oa("o-oa", "u1"), t0)
		require.NoError(t, err)
		require.Equal(t, "alice", got, "another app of the same open-platform account")
		got, err = s.Seen(ctx, oa("o-oa", ""), t0)
		require.NoError(t, err)
		require.Equal(t, "alice", got, "snsapi_base login without unionid, app account known")
		_, err = s.Seen(ctx, oa("o-other", ""), t0)
		require.ErrorIs(t, err, binding.ErrNotFound, "unknown openid without unionid is a stranger")
		accts, err := s.Accounts(ctx, oa("o-oa", ""))
		require.NoError(t, err)
		require.Len(t, accts, 2, "every app's openid is kept")
		require.NoError(t, s.Bind(ctx, oa("o-oa", ""), "alice", false, t0), "binding the same pair again is fine")
	})

	t.Run("binding made before the unionid is known follows it", func(t *testing.T) {
		s := newImpl(t).Store
		require.NoError(t, s.Bind(ctx, oa("o-oa", ""), "bob", false, t0))
		got, err := s.Seen(ctx, oa("o-oa", "u2"), t0)
		require.NoError(t, err)
		require.Equal(t, "bob", got)
		got, err = s.Seen(ctx, web("o-web", "u2"), t0)
		require.NoError(t, err)
		require.Equal(t, "bob", got, "the website app now finds the person by unionid")
	})

	t.Run("one user per person and one person per user", func(t *testing.T) {
		s := newImpl(t).Store
		require.NoError(t, s.Bind(ctx, web("o1", "u1"), "alice", false, t0))
		require.ErrorIs(t, s.Bind(ctx, oa("o-oa", "u1"), "bob", false, t0), binding.ErrPersonBound)
		require.ErrorIs(t, s.Bind(ctx, web("o2", "u2"), "alice", false, t0), binding.ErrUserBound)
		require.NoError(t, s.Bind(ctx, web("o2", "u2"), "alice", true, t0), "replace policy")
		got, err := s.Seen(ctx, web("o2", "u2"), t0)
		require.NoError(t, err)
		require.Equal(t, "alice", got)
		_, err = s.Seen(ctx, web("o1", "u1"), t0)
		require.ErrorIs(t, err, binding.ErrNotFound, "the replaced person is unbound")
		require.NoError(t, s.Unbind(ctx, web("o2", "")))
		_, err = s.Seen(ctx, web("o2", ""), t0)
		require.ErrorIs(t, err, binding.ErrNotFound)
	})

	t.Run("concurrent binds: exactly one wins", func(t *testing.T) {
		s := newImpl(t).Store
		const n = 12
		results := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Different persons racing for one user...
				results[i] = s.Bind(ctx, web(fmt.Sprintf("o%d", i), fmt.Sprintf("u%d", i)), "carol", false, t0)
			}()
		}
		wg.Wait()
		requireOneWinner(t, results, binding.ErrUserBound)

		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// ...and one person racing for different users.
				results[i] = s.Bind(ctx, web("o-race", "u-race"), fmt.Sprintf("user%d", i), false, t0)
			}()
		}
		wg.Wait()
		requireOneWinner(t, results, binding.ErrPersonBound)
	})

	t.Run("directory", func(t *testing.T) {
		RunDirectory(t, func(t *testing.T) binding.Directory { return newImpl(t).Directory })
	})
	t.Run("inventory", func(t *testing.T) { runInventory(t, newImpl) })
	t.Run("phone change", func(t *testing.T) { runPhoneChange(t, newImpl) })
}

// RunDirectory runs the directory checks alone, for directories that come
// without a Store (an organisation's own user database); newDirectory must
// return an empty directory that can create users.
func RunDirectory(t *testing.T, newDirectory func(t *testing.T) binding.Directory) {
	ctx := context.Background()
	d := newDirectory(t)
	_, err := d.FindByPhone(ctx, "+8613800138000")
	require.ErrorIs(t, err, binding.ErrNotFound)
	u, err := d.Create(ctx, "+8613800138000", t0)
	require.NoError(t, err)
	require.NotEmpty(t, u.ID)
	require.NotContains(t, u.ID, "13800138000", "ids do not reveal the phone")
	require.Equal(t, "+8613800138000", u.Phone)
	got, err := d.FindByPhone(ctx, "+8613800138000")
	require.NoError(t, err)
	require.Equal(t, u, got)
	got, err = d.FindByID(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, u, got)
	_, err = d.FindByID(ctx, "nobody")
	require.ErrorIs(t, err, binding.ErrNotFound)
	if batch, ok := d.(binding.BatchDirectory); ok {
		other, err := d.Create(ctx, "+8613800138001", t0)
		require.NoError(t, err)
		got, err := batch.FindByIDs(ctx, []string{u.ID, "nobody", other.ID})
		require.NoError(t, err)
		require.Equal(t, map[string]binding.User{u.ID: u, other.ID: other}, got, "the users it has, by id")
		got, err = batch.FindByIDs(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, got)
	}

	var wg sync.WaitGroup
	ids := make([]string, 10)
	errs := make([]error, len(ids))
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := d.Create(ctx, "+8613900139000", t0)
			ids[i], errs[i] = u.ID, err
		}()
	}
	wg.Wait()
	for i, id := range ids {
		require.NoError(t, errs[i])
		require.Equal(t, ids[0], id, "concurrent creates for one phone give one user")
	}
}

func requireOneWinner(t *testing.T, results []error, loser error) {
	t.Helper()
	wins := 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, loser):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	require.Equal(t, 1, wins, "exactly one concurrent bind succeeds")
}
