package binding_test

import (
	"testing"

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
	return bindingtest.Impl{Store: s, Directory: s}
}
