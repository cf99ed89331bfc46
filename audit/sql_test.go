package audit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/audit"
	"wxcas/audit/audittest"
	"wxcas/store"
	"wxcas/store/storetest"
)

func TestSQLConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		audittest.Run(t, func(t *testing.T) audit.Store { return audit.NewSQL(storetest.SQLite(t)) })
	})
	t.Run("mysql", func(t *testing.T) {
		audittest.Run(t, func(t *testing.T) audit.Store { return audit.NewSQL(storetest.MySQL(t)) })
	})
}

// TestSQLTableHoldsNoWholePhone reads every column of the raw table.
func TestSQLTableHoldsNoWholePhone(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := audit.NewSQL(db)
		require.NoError(t, s.Record(ctx, audit.Event{
			At: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC), Kind: audit.KindRefusal, Outcome: audit.UnknownPhone,
			Channel: audit.ChannelAPI, Phone: "+8613800138000",
		}))
		rows, err := db.QueryxContext(ctx, `SELECT * FROM audit_events`)
		require.NoError(t, err)
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
			r := map[string]any{}
			require.NoError(t, rows.MapScan(r))
			for col, v := range r {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				require.NotContains(t, fmt.Sprint(v), "13800138000", "column %s", col)
			}
			require.Equal(t, "+86138****8000", fmt.Sprintf("%s", r["phone"]))
		}
		require.NoError(t, rows.Err())
		require.Equal(t, 1, n)
	})
}

func TestSQLCleanupInBatches(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := audit.NewSQL(db)
		t0 := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
		const n = 5000 + 7 // more than one MySQL batch
		for start := 0; start < n; start += 500 {
			var values []string
			var args []any
			for i := start; i < min(start+500, n); i++ {
				values = append(values, "(?, 'login', 'ok')")
				args = append(args, store.Time(t0.Add(-time.Duration(i+1)*time.Second)))
			}
			_, err := db.ExecContext(ctx, `INSERT INTO audit_events (at, kind, outcome) VALUES `+strings.Join(values, ", "), args...)
			require.NoError(t, err)
		}
		require.NoError(t, s.Record(ctx, audit.Event{At: t0, Kind: audit.KindLogin, Outcome: audit.OK}))
		deleted, err := s.Cleanup(ctx, t0)
		require.NoError(t, err)
		require.EqualValues(t, n, deleted)
		left, err := s.List(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Len(t, left, 1)
	})
}

// List's selective filters and its time bounds read through an index in
// List's order, however large the log (MariaDB's plan on 3000 events).
func TestSQLListIndexed(t *testing.T) {
	db := storetest.MySQL(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	var values []string
	var args []any
	for i := range 3000 {
		kind, phone := "login", ""
		if i%100 == 0 {
			kind, phone = "unbind", fmt.Sprintf("+86138****%04d", i)
		}
		values = append(values, "(?, ?, 'ok', ?)")
		args = append(args, store.Time(t0.Add(time.Duration(i)*time.Second)), kind, phone)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO audit_events (at, kind, outcome, phone) VALUES `+strings.Join(values, ", "), args...)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `ANALYZE TABLE audit_events`)
	require.NoError(t, err)
	const sel = `SELECT id FROM audit_events WHERE `
	const order = ` ORDER BY at DESC, id DESC LIMIT 100`
	storetest.RequireIndexed(t, db, sel+`kind = ?`+order, "audit_events_kind", "unbind")
	storetest.RequireIndexed(t, db, sel+`phone = ?`+order, "audit_events_phone", "+86138****0100")
	storetest.RequireIndexed(t, db, sel+`at >= ? AND at < ?`+order, "audit_events_at", t0.Add(time.Hour-time.Minute), t0.Add(time.Hour))
	storetest.RequireIndexed(t, db, sel+`(at < ? OR at = ? AND id < ?)`+order, "audit_events_at", t0.Add(time.Minute), t0.Add(time.Minute), 61)
}
