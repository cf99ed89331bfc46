// Package storetest gives conformance suites a fresh, migrated database on
// every backend: an SQLite file and a MySQL/MariaDB database.
//
// The MySQL server comes from WXCAS_TEST_MYSQL_DSN (default: root with no
// password on 127.0.0.1:3306). Each call creates its own database and drops it
// afterwards. Without a server the MySQL run is skipped — except under CI=true,
// where it fails, so CI can never pass without having exercised MySQL.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"wxcas/store"
)

// DefaultMySQLDSN is used when WXCAS_TEST_MYSQL_DSN is not set.
const DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/"

// ForEach runs fn as a subtest once per backend, each with a fresh database.
func ForEach(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("mysql", func(t *testing.T) { fn(t, MySQL(t)) })
}

// SQLite returns a migrated database in a fresh file under t.TempDir().
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	return open(t, store.Options{Driver: "sqlite", SQLitePath: filepath.Join(t.TempDir(), "wxcas.db"), MaxOpenConns: 8})
}

// MySQLDSN returns the server DSN tests use (without a database name).
func MySQLDSN() string {
	if v := os.Getenv("WXCAS_TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return DefaultMySQLDSN
}

// MySQL creates a fresh database on the test server, migrates it, and drops it
// when the test ends.
func MySQL(t testing.TB) *store.DB {
	t.Helper()
	dsn := NewMySQLDatabase(t)
	return open(t, store.Options{Driver: "mysql", DSN: dsn, MaxOpenConns: 16})
}

// NewMySQLDatabase creates an empty, uniquely named database on the test server
// (dropped at the end of the test) and returns a DSN for it. Tests that need
// two store instances over one database open the DSN twice.
func NewMySQLDatabase(t testing.TB) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(MySQLDSN())
	if err != nil {
		t.Fatalf("WXCAS_TEST_MYSQL_DSN is not a valid DSN: %v", err)
	}
	cfg.DBName = ""
	admin, err := store.Open(context.Background(), store.Options{Driver: "mysql", DSN: cfg.FormatDSN(), MaxOpenConns: 2}, quiet())
	if err != nil {
		unavailable(t, err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "wxcas_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		drop, err := store.Open(context.Background(), store.Options{Driver: "mysql", DSN: cfg.FormatDSN(), MaxOpenConns: 1}, quiet())
		if err == nil {
			_, _ = drop.Exec("DROP DATABASE IF EXISTS " + name)
			drop.Close()
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// OpenMySQL opens (and migrates) another handle on an existing test database,
// as a second wxcas instance would.
func OpenMySQL(t testing.TB, dsn string) *store.DB {
	t.Helper()
	return open(t, store.Options{Driver: "mysql", DSN: dsn, MaxOpenConns: 16})
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("MySQL test server unavailable under CI=true (set WXCAS_TEST_MYSQL_DSN): %v", err)
	}
	t.Skipf("MySQL test server unavailable (set WXCAS_TEST_MYSQL_DSN; CI fails instead of skipping): %v", err)
}

func open(t testing.TB, opts store.Options) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := store.Open(ctx, opts, quiet())
	if err != nil {
		if opts.Driver == "mysql" {
			unavailable(t, err)
		}
		t.Fatalf("open %s: %v", opts.Driver, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", db.Name, err)
	}
	return db
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Clock is a settable clock for expiry tests; the zero value starts at a fixed,
// non-zero instant (MySQL rejects Go's zero time).
// It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// T0 is the conformance suites' "now": an instant with nanoseconds, so that
// a store that keeps more precision than the database can is caught.
var T0 = time.Date(2026, 11, 21, 8, 0, 0, 123456789, time.UTC)

// Shanghai is a zone other than UTC: times handed to a store in it must
// come back in UTC, denoting the same instant.
var Shanghai = time.FixedZone("CST", 8*60*60)

// Race runs fn n times at once (all released together) and returns their
// errors, in order: the suites' way of racing n callers on one row.
func Race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// RequireIndexed checks on MySQL/MariaDB that stmt's plan reads through
// index, never the whole table: the clean-up and logout statements must
// not stall everything else on large tables.
func RequireIndexed(t *testing.T, db *store.DB, stmt, index string, args ...any) {
	t.Helper()
	rows, err := db.Queryx(`EXPLAIN `+stmt, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", stmt, err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("EXPLAIN %s: no plan", stmt)
	}
	plan := map[string]any{}
	if err := rows.MapScan(plan); err != nil {
		t.Fatalf("EXPLAIN %s: %v", stmt, err)
	}
	str := func(k string) string {
		switch v := plan[k].(type) {
		case []byte:
			return string(v)
		case string:
			return v
		}
		return ""
	}
	if str("type") == "ALL" || str("key") != index {
		t.Fatalf("%s: reads %s (type %s, key %q, rows %s), want index %s", stmt, str("table"), str("type"), str("key"), str("rows"), index)
	}
}

// TwoHandles opens one fresh database twice ("mysql" or "sqlite"), as two
// wxcas instances share it: each handle has its own connections.
func TwoHandles(t *testing.T, backend string) (*store.DB, *store.DB) {
	t.Helper()
	if backend == "mysql" {
		dsn := NewMySQLDatabase(t)
		return OpenMySQL(t, dsn), OpenMySQL(t, dsn)
	}
	path := filepath.Join(t.TempDir(), "wxcas.db")
	open := func() *store.DB {
		db, err := store.Open(context.Background(), store.Options{Driver: "sqlite", SQLitePath: path, MaxOpenConns: 4}, quiet())
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(context.Background()); err != nil {
			t.Fatalf("migrate sqlite: %v", err)
		}
		return db
	}
	return open(), open()
}
