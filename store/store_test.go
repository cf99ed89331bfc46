package store_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/stretchr/testify/require"

	"wxcas/store"
	"wxcas/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := storetest.NewClock()

		t.Run("migrate is idempotent", func(t *testing.T) {
			n, err := db.Migrate(ctx)
			require.NoError(t, err)
			require.Zero(t, n, "a second migrate applies nothing")
		})

		t.Run("meta created once under concurrency", func(t *testing.T) {
			var wg sync.WaitGroup
			got := make([]string, 8)
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := db.Meta(ctx, "k", func() (string, error) { return string(rune('a' + i)), nil }, clock.Now())
					require.NoError(t, err)
					got[i] = v
				}()
			}
			wg.Wait()
			for _, v := range got {
				require.Equal(t, got[0], v, "every caller sees the first value written")
			}
			again, err := db.Meta(ctx, "k", func() (string, error) { return "other", nil }, clock.Now())
			require.NoError(t, err)
			require.Equal(t, got[0], again)
		})

		t.Run("meta create error is returned", func(t *testing.T) {
			_, err := db.Meta(ctx, "broken", func() (string, error) { return "", errors.New("boom") }, clock.Now())
			require.ErrorContains(t, err, "boom")
		})

		t.Run("duplicate key detected", func(t *testing.T) {
			ins := db.Rebind(`INSERT INTO wxcas_meta (name, value, created_at) VALUES (?, ?, ?)`)
			_, err := db.Exec(ins, "dup", "1", store.Time(clock.Now()))
			require.NoError(t, err)
			_, err = db.Exec(ins, "dup", "2", store.Time(clock.Now()))
			require.True(t, store.IsDuplicate(err), "got %v", err)
			require.False(t, store.IsDuplicate(errors.New("other")))
		})

		t.Run("time round-trips", func(t *testing.T) {
			want := store.Time(clock.Now().Add(123456789))
			_, err := db.Exec(db.Rebind(`INSERT INTO wxcas_meta (name, value, created_at) VALUES (?, ?, ?)`), "t", "x", want)
			require.NoError(t, err)
			var got struct {
				CreatedAt time.Time `db:"created_at"`
			}
			require.NoError(t, db.Get(&got, db.Rebind(`SELECT created_at FROM wxcas_meta WHERE name = ?`), "t"))
			require.True(t, want.Equal(got.CreatedAt), "want %v got %v", want, got.CreatedAt)
			var n int
			require.NoError(t, db.Get(&n, db.Rebind(`SELECT COUNT(*) FROM wxcas_meta WHERE name = ? AND created_at < ?`), "t", store.Time(want.Add(1000))))
			require.Equal(t, 1, n, "times compare in SQL")
		})

		t.Run("transaction rolls back on error", func(t *testing.T) {
			err := db.InTx(ctx, func(tx *sqlx.Tx) error {
				_, err := tx.Exec(db.Rebind(`INSERT INTO wxcas_meta (name, value, created_at) VALUES (?, ?, ?)`), "tx", "x", store.Time(clock.Now()))
				require.NoError(t, err)
				return errors.New("abort")
			})
			require.ErrorContains(t, err, "abort")
			var n int
			require.NoError(t, db.Get(&n, db.Rebind(`SELECT COUNT(*) FROM wxcas_meta WHERE name = ?`), "tx"))
			require.Zero(t, n)
		})
	})
}

func TestOpenSQLiteBadDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "afile")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	for _, path := range []string{filepath.Join(file, "wxcas.db"), "/proc/wxcas-test/wxcas.db"} {
		_, err := store.Open(context.Background(), store.Options{Driver: "sqlite", SQLitePath: path}, nil)
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), filepath.Dir(path)) || strings.Contains(err.Error(), path), "error names the path: %v", err)
	}
}

// IsUnavailable decides between 503 "try again in a moment" and 500 in every
// transport, so what it counts is pinned here.
func TestIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{store.ErrUnavailable, true},
		{fmt.Errorf("cas: read session: %w", driver.ErrBadConn), true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		// A database that hangs: the request's deadline is reached inside
		// the call.
		{context.DeadlineExceeded, true},
		{fmt.Errorf("journey: read: %w", context.DeadlineExceeded), true},
		// The client went away: not an outage.
		{context.Canceled, false},
		{store.ErrNotFound, false},
		{errors.New("something else"), false},
		{nil, false},
	} {
		require.Equal(t, tc.want, store.IsUnavailable(tc.err), "%v", tc.err)
	}
}

// The errors the drivers really return: a refused connection, and a query
// still running when the context's deadline passes (a hanging database).
func TestIsUnavailableDriverErrors(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close()) // nothing listens there any more
		_, err = store.Open(context.Background(), store.Options{Driver: "mysql", DSN: "root@tcp(" + addr + ")/wxcas"}, slog.New(slog.DiscardHandler))
		require.Error(t, err)
		require.True(t, store.IsUnavailable(err), "got %v", err)
	})
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		// Long enough to outlast the deadline by far, short enough to end
		// should a driver ignore it.
		slow := `SELECT SLEEP(30)`
		if db.Dialect == store.SQLite {
			slow = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT COUNT(*) FROM c`
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		var n int64
		err := db.GetContext(ctx, &n, slow)
		require.Error(t, err)
		require.Less(t, time.Since(start), 10*time.Second, "the query ends at the deadline")
		require.True(t, store.IsUnavailable(err), "got %T %v", err, err)
	})
}

// TestReturningFollowsTheServer: DELETE ... RETURNING is used where the
// server has it, and the statement really works there.
func TestReturningFollowsTheServer(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		want := true
		if db.Dialect == store.MySQL {
			var version string
			require.NoError(t, db.QueryRow(`SELECT VERSION()`).Scan(&version))
			want = strings.Contains(strings.ToLower(version), "mariadb")
		}
		require.Equal(t, want, db.Returning)
		if !db.Returning {
			return
		}
		_, err := db.Exec(db.Rebind(`INSERT INTO wxcas_meta (name, value, created_at) VALUES (?, ?, ?)`), "returning-test", "v", store.Time(time.Now()))
		require.NoError(t, err)
		var got string
		require.NoError(t, db.QueryRow(db.Rebind(`DELETE FROM wxcas_meta WHERE name = ? RETURNING value`), "returning-test").Scan(&got))
		require.Equal(t, "v", got)
	})
}
