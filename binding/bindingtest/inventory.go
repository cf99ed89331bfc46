package bindingtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/binding"
	"wxcas/store/storetest"
)

// accountIDs lists the accounts as "appid/openid", in their order.
func accountIDs(accts []binding.SeenAccount) []string {
	out := []string{}
	for _, a := range accts {
		out = append(out, a.AppID+"/"+a.OpenID)
	}
	return out
}

func runInventory(t *testing.T, newImpl func(t *testing.T) Impl) {
	ctx := context.Background()
	acct := func(appid, openid, unionid string) binding.Account {
		return binding.Account{AppID: appid, OpenID: openid, UnionID: unionid, Nickname: "nick-" + openid}
	}

	t.Run("a user's binding with every account of the person, first seen first", func(t *testing.T) {
		impl := newImpl(t)
		s, inv := impl.Store, impl.Inventory
		_, err := inv.BindingOf(ctx, "alice")
		require.ErrorIs(t, err, binding.ErrNotFound)

		// Recorded in another order than first seen.
		require.NoError(t, s.Bind(ctx, acct("wxweb", "o-web", "u1"), "alice", false, t0))
		_, err = s.Seen(ctx, acct("wxoa", "o-oa", "u1"), t0.Add(-time.Hour))
		require.NoError(t, err)
		_, err = s.Seen(ctx, acct("wxmini", "o-mini", "u1"), t0.Add(time.Hour))
		require.NoError(t, err)
		require.NoError(t, s.Bind(ctx, acct("wxweb", "o-bob", "u2"), "bob", false, t0))

		b, err := inv.BindingOf(ctx, "alice")
		require.NoError(t, err)
		require.Equal(t, "u:u1", b.IdentityKey)
		require.Equal(t, "alice", b.UserID)
		require.True(t, b.BoundAt.Equal(t0), "bound at %v", b.BoundAt)
		require.Equal(t, []string{"wxoa/o-oa", "wxweb/o-web", "wxmini/o-mini"}, accountIDs(b.Accounts))
		oa := b.Accounts[0]
		require.Equal(t, "u1", oa.UnionID)
		require.Equal(t, "nick-o-oa", oa.Nickname)
		require.True(t, oa.FirstSeen.Equal(t0.Add(-time.Hour)), "first seen %v", oa.FirstSeen)
		require.True(t, b.Accounts[2].LastSeen.Equal(t0.Add(time.Hour)), "last seen %v", b.Accounts[2].LastSeen)
	})

	t.Run("a binding under an openid key", func(t *testing.T) {
		impl := newImpl(t)
		require.NoError(t, impl.Store.Bind(ctx, acct("wxoa", "o-oa", ""), "carol", false, t0))
		b, err := impl.Inventory.BindingOf(ctx, "carol")
		require.NoError(t, err)
		require.Equal(t, "o:wxoa:o-oa", b.IdentityKey)
		require.Equal(t, []string{"wxoa/o-oa"}, accountIDs(b.Accounts))
	})

	t.Run("find by openid: every person with an account of that openid, bound or not", func(t *testing.T) {
		impl := newImpl(t)
		s, inv := impl.Store, impl.Inventory
		got, err := inv.FindByOpenID(ctx, "o-same")
		require.NoError(t, err)
		require.NotNil(t, got, "an empty slice, not nil")
		require.Empty(t, got)

		// Two apps gave the same openid to two different persons.
		require.NoError(t, s.Bind(ctx, acct("wxweb", "o-same", "u1"), "alice", false, t0))
		_, err = s.Seen(ctx, acct("wxmini", "o-other", "u1"), t0.Add(time.Minute))
		require.NoError(t, err)
		_, err = s.Seen(ctx, acct("wxoa", "o-same", ""), t0)
		require.ErrorIs(t, err, binding.ErrNotFound)

		got, err = inv.FindByOpenID(ctx, "o-same")
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, "o:wxoa:o-same", got[0].IdentityKey, "by identity key")
		require.Empty(t, got[0].UserID, "not bound")
		require.True(t, got[0].BoundAt.IsZero())
		require.Equal(t, []string{"wxoa/o-same"}, accountIDs(got[0].Accounts))
		require.Equal(t, "u:u1", got[1].IdentityKey)
		require.Equal(t, "alice", got[1].UserID)
		require.Equal(t, []string{"wxweb/o-same", "wxmini/o-other"}, accountIDs(got[1].Accounts), "the person's other apps too")
	})

	t.Run("find by unionid", func(t *testing.T) {
		impl := newImpl(t)
		s, inv := impl.Store, impl.Inventory
		for _, u := range []string{"u1", ""} {
			_, err := inv.FindByUnionID(ctx, u)
			require.ErrorIs(t, err, binding.ErrNotFound, "unionid %q", u)
		}
		_, err := s.Seen(ctx, acct("wxweb", "o1", "u1"), t0)
		require.ErrorIs(t, err, binding.ErrNotFound)
		b, err := inv.FindByUnionID(ctx, "u1")
		require.NoError(t, err)
		require.Equal(t, binding.Binding{IdentityKey: "u:u1", Accounts: b.Accounts}, b, "known, not bound")
		require.Equal(t, []string{"wxweb/o1"}, accountIDs(b.Accounts))

		require.NoError(t, s.Bind(ctx, acct("wxweb", "o1", ""), "alice", false, t0.Add(time.Minute)))
		b, err = inv.FindByUnionID(ctx, "u1")
		require.NoError(t, err)
		require.Equal(t, "alice", b.UserID)
		require.True(t, b.BoundAt.Equal(t0.Add(time.Minute)))
	})

	t.Run("a binding left under the openid key is the person's when its unionid key is free", func(t *testing.T) {
		impl := newImpl(t)
		s, inv := impl.Store, impl.Inventory
		// carol was bound before WeChat revealed the unionid; alice then
		// bound the same person from another app under the unionid.
		require.NoError(t, s.Bind(ctx, acct("wxoa", "o-oa", ""), "carol", false, t0))
		b, err := inv.FindByUnionID(ctx, "u3")
		require.ErrorIs(t, err, binding.ErrNotFound, "no account has u3 yet: %+v", b)
		require.NoError(t, s.Bind(ctx, acct("wxweb", "o-web", "u3"), "alice", false, t0.Add(time.Minute)))
		got, err := s.Seen(ctx, acct("wxoa", "o-oa", "u3"), t0.Add(2*time.Minute))
		require.NoError(t, err)
		require.Equal(t, "alice", got, "the unionid key wins; carol's binding stays under the openid key")

		b, err = inv.FindByUnionID(ctx, "u3")
		require.NoError(t, err)
		require.Equal(t, "alice", b.UserID)
		carol, err := inv.BindingOf(ctx, "carol")
		require.NoError(t, err)
		require.Equal(t, "o:wxoa:o-oa", carol.IdentityKey)
		require.Equal(t, []string{"wxoa/o-oa", "wxweb/o-web"}, accountIDs(carol.Accounts), "the account's unionid joins the person's other apps")

		// Without the unionid key bound, the person's binding is the one
		// under the openid key.
		_, err = inv.UnbindUser(ctx, "alice")
		require.NoError(t, err)
		b, err = inv.FindByUnionID(ctx, "u3")
		require.NoError(t, err)
		require.Equal(t, "carol", b.UserID)
		require.Equal(t, "o:wxoa:o-oa", b.IdentityKey)
		found, err := inv.FindByOpenID(ctx, "o-web")
		require.NoError(t, err)
		require.Len(t, found, 1)
		require.Equal(t, "carol", found[0].UserID)
	})

	t.Run("unbind a user: what was removed, once", func(t *testing.T) {
		impl := newImpl(t)
		s, inv := impl.Store, impl.Inventory
		require.NoError(t, s.Bind(ctx, acct("wxweb", "o1", "u1"), "alice", false, t0))
		require.NoError(t, s.Bind(ctx, acct("wxweb", "o2", "u2"), "bob", false, t0))
		_, err := inv.UnbindUser(ctx, "nobody")
		require.ErrorIs(t, err, binding.ErrNotFound)

		removed, err := inv.UnbindUser(ctx, "alice")
		require.NoError(t, err)
		require.Equal(t, "u:u1", removed.IdentityKey)
		require.Equal(t, "alice", removed.UserID)
		require.True(t, removed.BoundAt.Equal(t0))
		require.Equal(t, []string{"wxweb/o1"}, accountIDs(removed.Accounts))

		_, err = inv.UnbindUser(ctx, "alice")
		require.ErrorIs(t, err, binding.ErrNotFound)
		_, err = inv.BindingOf(ctx, "alice")
		require.ErrorIs(t, err, binding.ErrNotFound)
		_, err = s.Seen(ctx, acct("wxweb", "o1", ""), t0.Add(time.Minute))
		require.ErrorIs(t, err, binding.ErrNotFound, "the person is unbound")
		b, err := inv.FindByUnionID(ctx, "u1")
		require.NoError(t, err)
		require.Empty(t, b.UserID)
		require.Len(t, b.Accounts, 1, "the accounts are kept")
		got, err := s.Seen(ctx, acct("wxweb", "o2", ""), t0)
		require.NoError(t, err)
		require.Equal(t, "bob", got, "other bindings untouched")
	})

	t.Run("concurrent unbinds of one user: exactly one removes it", func(t *testing.T) {
		impl := newImpl(t)
		require.NoError(t, impl.Store.Bind(ctx, acct("wxweb", "o1", "u1"), "alice", false, t0))
		errs := storetest.Race(8, func(int) error {
			b, err := impl.Inventory.UnbindUser(ctx, "alice")
			if err == nil && b.IdentityKey != "u:u1" {
				err = fmt.Errorf("removed %+v", b)
			}
			return err
		})
		requireOneWinner(t, errs, binding.ErrNotFound)
	})

	t.Run("every binding, in key order, across batches", func(t *testing.T) {
		impl := newImpl(t)
		s, inv := impl.Store, impl.Inventory
		const n = 1001 // more than two of the SQL store's batches
		want := map[string]string{}
		for i := range n {
			a := acct("wxweb", fmt.Sprintf("o%04d", i), fmt.Sprintf("u%04d", i))
			if i%3 == 0 {
				a = acct("wxoa", fmt.Sprintf("o%04d", i), "")
			}
			user := fmt.Sprintf("user%04d", i)
			require.NoError(t, s.Bind(ctx, a, user, false, t0))
			want[a.Key()] = user
		}
		_, err := s.Seen(ctx, acct("wxmini", "o-mini", "u0001"), t0.Add(time.Minute))
		require.NoError(t, err)
		_, err = s.Seen(ctx, acct("wxweb", "o-stranger", "u-stranger"), t0)
		require.ErrorIs(t, err, binding.ErrNotFound)

		var keys []string
		err = inv.EachBinding(ctx, func(b binding.Binding) error {
			require.Equal(t, want[b.IdentityKey], b.UserID, b.IdentityKey)
			require.True(t, b.BoundAt.Equal(t0))
			wantAccounts := 1
			if b.IdentityKey == "u:u0001" {
				wantAccounts = 2
			}
			require.Len(t, b.Accounts, wantAccounts, b.IdentityKey)
			keys = append(keys, b.IdentityKey)
			return nil
		})
		require.NoError(t, err)
		require.Len(t, keys, n, "every binding once, no unbound person")
		require.IsIncreasing(t, keys)

		stop := errors.New("stop")
		calls := 0
		err = inv.EachBinding(ctx, func(binding.Binding) error {
			calls++
			if calls == 3 {
				return stop
			}
			return nil
		})
		require.ErrorIs(t, err, stop)
		require.Equal(t, 3, calls, "fn's error stops the walk")
	})

	t.Run("no bindings: fn is never called", func(t *testing.T) {
		err := newImpl(t).Inventory.EachBinding(ctx, func(b binding.Binding) error {
			return fmt.Errorf("called with %+v", b)
		})
		require.NoError(t, err)
	})
}

func runPhoneChange(t *testing.T, newImpl func(t *testing.T) Impl) {
	ctx := context.Background()
	impl := newImpl(t)
	d, p := impl.Directory, impl.Phones
	alice, err := d.Create(ctx, "+8613800000001", t0)
	require.NoError(t, err)
	bob, err := d.Create(ctx, "+8613800000002", t0)
	require.NoError(t, err)

	for _, c := range []struct {
		name, user, phone string
		want              error
	}{
		{"a new number", alice.ID, "+8613800000003", nil},
		{"the same number again", alice.ID, "+8613800000003", nil},
		{"another user's number", alice.ID, bob.Phone, binding.ErrPhoneTaken},
		{"an unknown user", "nobody", "+8613800000009", binding.ErrNotFound},
	} {
		err := p.ChangePhone(ctx, c.user, c.phone)
		if c.want == nil {
			require.NoError(t, err, c.name)
		} else {
			require.ErrorIs(t, err, c.want, c.name)
		}
	}
	got, err := d.FindByPhone(ctx, "+8613800000003")
	require.NoError(t, err)
	require.Equal(t, alice.ID, got.ID)
	_, err = d.FindByPhone(ctx, "+8613800000001")
	require.ErrorIs(t, err, binding.ErrNotFound, "the old number is free")
	got, err = d.FindByID(ctx, bob.ID)
	require.NoError(t, err)
	require.Equal(t, bob, got, "bob keeps his number")

	t.Run("users racing for one number: exactly one gets it", func(t *testing.T) {
		const n = 8
		ids := make([]string, n)
		for i := range ids {
			u, err := d.Create(ctx, fmt.Sprintf("+86139000000%02d", i), t0)
			require.NoError(t, err)
			ids[i] = u.ID
		}
		errs := storetest.Race(n, func(i int) error { return p.ChangePhone(ctx, ids[i], "+8613700000000") })
		requireOneWinner(t, errs, binding.ErrPhoneTaken)
	})
}
