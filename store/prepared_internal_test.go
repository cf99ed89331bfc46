package store

// The prepared statements' own test lives in the package: it looks at the
// cache. It runs on SQLite; the MySQL side is exercised (and counted) by
// cas's TestStatementsPerTicket.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPrepared(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, Options{Driver: "sqlite", SQLitePath: filepath.Join(t.TempDir(), "p.db")}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	kept := func() int {
		db.prepared.mu.Lock()
		defer db.prepared.mu.Unlock()
		return len(db.prepared.stmts)
	}
	now := Time(time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC))

	insert := `INSERT INTO wxcas_meta (name, value, created_at) VALUES (?, ?, ?)`
	for i := range 3 {
		_, err := db.P(ctx).ExecContext(ctx, insert, fmt.Sprint("k", i), "v", now)
		require.NoError(t, err)
	}
	var value string
	require.NoError(t, db.P(ctx).GetContext(ctx, &value, `SELECT value FROM wxcas_meta WHERE name = ?`, "k1"))
	require.Equal(t, "v", value)
	require.Equal(t, 2, kept(), "one statement per query text, however often it runs")

	// Inside Atomic, P is the transaction: a rolled-back write is gone.
	boom := errors.New("boom")
	err = db.Atomic(ctx, func(ctx context.Context) error {
		if _, err := db.P(ctx).ExecContext(ctx, insert, "in-tx", "v", now); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	var n int
	require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM wxcas_meta WHERE name = 'in-tx'`))
	require.Zero(t, n)

	// Past maxPrepared, queries run unprepared and the cache stops growing.
	for i := range maxPrepared + 10 {
		var got int
		require.NoError(t, db.P(ctx).GetContext(ctx, &got, fmt.Sprintf(`SELECT %d`, i)))
		require.Equal(t, i, got)
	}
	require.Equal(t, maxPrepared, kept())

	// A query that does not prepare is an error, not a panic.
	_, err = db.P(ctx).ExecContext(ctx, `INSERT INTO no_such_table VALUES (?)`, 1)
	require.Error(t, err)
	require.Error(t, db.P(ctx).QueryRowxContext(ctx, `SELECT nothing FROM no_such_table`).Scan(&n))
}
