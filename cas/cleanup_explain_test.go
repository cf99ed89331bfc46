package cas_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/store/storetest"
)

// TestCleanupUsesIndexes checks on MariaDB/MySQL that every statement of
// the CAS clean-up reads through an index, never a whole table: the plans
// behind issue 11 item 6 (a NOT IN over the whole table stalled logins).
func TestCleanupUsesIndexes(t *testing.T) {
	db := storetest.MySQL(t)
	now := storetest.NewClock().Now()
	seedSessions(t, db, "l", 5000, now.Add(8*time.Hour))
	seedSessions(t, db, "e", 50, now.Add(-time.Minute))
	_, err := db.Exec(`ANALYZE TABLE cas_tgt, cas_tickets, cas_pgt, cas_tgt_services`)
	require.NoError(t, err)
	key := "e" + "000000000000000000000000000000000000000000000000000000000000001"

	tests := []struct {
		name, stmt, index string
		args              []any
	}{
		{"hard-expired sessions", `SELECT id_hash FROM cas_tgt WHERE expires_at <= ? ORDER BY expires_at LIMIT 200`, "cas_tgt_expires_at", []any{now}},
		{"idle-expired sessions", `SELECT id_hash FROM cas_tgt WHERE idle_expires_at <= ? ORDER BY idle_expires_at LIMIT 200`, "cas_tgt_idle_expires_at", []any{now}},
		{"a session's services", `SELECT st_id FROM cas_tgt_services WHERE tgt_hash IN (?) ORDER BY created_at, st_id`, "cas_tgt_services_tgt", []any{key}},
		{"a session's tickets", `DELETE FROM cas_tickets WHERE tgt_hash IN (?)`, "cas_tickets_tgt", []any{key}},
		{"a session's PGTs", `DELETE FROM cas_pgt WHERE tgt_hash IN (?)`, "cas_pgt_tgt", []any{key}},
		{"expired tickets", `DELETE FROM cas_tickets WHERE expires_at <= ? LIMIT 1000`, "cas_tickets_expires_at", []any{now}},
		{"expired PGTs", `DELETE FROM cas_pgt WHERE expires_at <= ? LIMIT 1000`, "cas_pgt_expires_at", []any{now}},
		{"expired service records", `DELETE FROM cas_tgt_services WHERE expires_at <= ? LIMIT 1000`, "cas_tgt_services_expires_at", []any{now}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { storetest.RequireIndexed(t, db, tc.stmt, tc.index, tc.args...) })
	}
}
