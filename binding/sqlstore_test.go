package binding_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/binding"
	"wxcas/binding/bindingtest"
	"wxcas/store"
	"wxcas/store/storetest"
)

func TestSQLStoreConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		bindingtest.Run(t, func(t *testing.T) bindingtest.Impl { return impl(storetest.SQLite(t)) })
	})
	t.Run("mysql", func(t *testing.T) {
		bindingtest.Run(t, func(t *testing.T) bindingtest.Impl { return impl(storetest.MySQL(t)) })
	})
}

func impl(db *store.DB) bindingtest.Impl {
	s := binding.NewSQLStore(db)
	return bindingtest.Impl{Store: s, Directory: s, Inventory: s, Phones: s}
}

// SeenUser answers from the one read a returning login makes, and leaves
// every case that needs more to Seen and the directory.
func TestSeenUser(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
		s := binding.NewSQLStore(db)
		acct := binding.Account{AppID: "wxweb", OpenID: "o1", UnionID: "u1"}

		_, ok, err := s.SeenUser(ctx, acct, now)
		require.NoError(t, err)
		require.False(t, ok, "not the directory: not answered")
		s.UseAsDirectory()

		_, ok, err = s.SeenUser(ctx, acct, now)
		require.NoError(t, err)
		require.False(t, ok, "a first sighting is for Seen to record")

		u, err := s.Create(ctx, "+8613800000001", now)
		require.NoError(t, err)
		require.NoError(t, s.Bind(ctx, acct, u.ID, false, now))
		got, ok, err := s.SeenUser(ctx, acct, now.Add(time.Minute))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, u, got, "the user, phone and all, from one read")

		stranger := binding.Account{AppID: "wxweb", OpenID: "o2"}
		_, err = s.Seen(ctx, stranger, now)
		require.ErrorIs(t, err, binding.ErrNotFound)
		_, ok, err = s.SeenUser(ctx, stranger, now.Add(time.Minute))
		require.True(t, ok)
		require.ErrorIs(t, err, binding.ErrNotFound, "known and unbound")

		// A bound user the users table lost is for the directory's
		// answer (login unbinds it).
		_, err = db.Exec(`DELETE FROM users WHERE id = ?`, u.ID)
		require.NoError(t, err)
		_, ok, err = s.SeenUser(ctx, acct, now.Add(2*time.Minute))
		require.NoError(t, err)
		require.False(t, ok)
	})
}

// The operator's lookups by openid alone and by user read through indexes.
func TestInventoryLookupsIndexed(t *testing.T) {
	db := storetest.MySQL(t)
	s := binding.NewSQLStore(db)
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	for i := range 20 {
		acct := binding.Account{AppID: "wxweb", OpenID: fmt.Sprintf("o%d", i), UnionID: fmt.Sprintf("u%d", i)}
		require.NoError(t, s.Bind(context.Background(), acct, fmt.Sprintf("user%d", i), false, now))
	}
	storetest.RequireIndexed(t, db, `SELECT appid FROM wechat_accounts WHERE openid = ?`, "wechat_accounts_openid", "o1")
	storetest.RequireIndexed(t, db, `SELECT identity_key FROM wechat_bindings WHERE user_id = ?`, "wechat_bindings_user", "user1")
}
