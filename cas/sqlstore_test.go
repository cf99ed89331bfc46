package cas_test

import (
	"testing"

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
