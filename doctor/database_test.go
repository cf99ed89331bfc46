package doctor_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/config"
	"wxcas/doctor"
	"wxcas/store"
	"wxcas/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// freshDB opens an empty, never migrated database on a backend.
func freshDB(t *testing.T, backend string) *store.DB {
	t.Helper()
	opts := store.Options{Driver: "sqlite", SQLitePath: filepath.Join(t.TempDir(), "wxcas.db"), MaxOpenConns: 2}
	if backend == "mysql" {
		opts = store.Options{Driver: "mysql", DSN: storetest.NewMySQLDatabase(t), MaxOpenConns: 2}
	}
	db, err := store.Open(context.Background(), opts, quiet)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func forBackends(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range []string{"sqlite", "mysql"} {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

func gooseTableExists(t *testing.T, db *store.DB) bool {
	t.Helper()
	q := `SELECT COUNT(*) FROM sqlite_master WHERE name = 'goose_db_version'`
	if db.Dialect == store.MySQL {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'goose_db_version'`
	}
	var n int
	require.NoError(t, db.QueryRow(q).Scan(&n))
	return n > 0
}

func TestSchema(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		tests := []struct {
			name   string
			db     func(t *testing.T) *store.DB
			status doctor.Status
			detail string
			fix    string
		}{
			{"migrated", func(t *testing.T) *store.DB { return migrated(t, backend) }, doctor.StatusPass, "the newest this wxcas carries", ""},
			{"never migrated", func(t *testing.T) *store.DB { return freshDB(t, backend) }, doctor.StatusFail, "never migrated", "wxcas migrate"},
			{"one migration pending", func(t *testing.T) *store.DB {
				db := migrated(t, backend)
				_, err := db.Exec(`DELETE FROM goose_db_version WHERE version_id = (SELECT v FROM (SELECT MAX(version_id) AS v FROM goose_db_version) AS newest)`)
				require.NoError(t, err)
				return db
			}, doctor.StatusFail, "1 migration(s) pending", "wxcas migrate"},
			{"migrated by a newer wxcas", func(t *testing.T) *store.DB {
				db := migrated(t, backend)
				_, err := db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, 1)`)
				require.NoError(t, err)
				return db
			}, doctor.StatusFail, "migration(s) 99999 that this wxcas does not know", "newer one"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db := tt.db(t)
				had := gooseTableExists(t, db)
				r := doctor.Schema{DB: db}.Run(ctx)
				require.Equal(t, tt.status, r.Status, r.Detail)
				require.Contains(t, r.Detail, tt.detail)
				require.Contains(t, r.Fix, tt.fix)
				require.Equal(t, had, gooseTableExists(t, db), "the check changes nothing")
			})
		}
	})
}

func migrated(t *testing.T, backend string) *store.DB {
	if backend == "mysql" {
		return storetest.MySQL(t)
	}
	return storetest.SQLite(t)
}

func TestSchemaUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	missing := filepath.Join(t.TempDir(), "absent", "wxcas.db")
	tests := []struct {
		name string
		cfg  config.Database
		fix  string
	}{
		{"sqlite file missing", config.Database{Driver: "sqlite", SQLitePath: missing}, "database.sqlite_path"},
		{"mysql refuses", config.Database{Driver: "mysql", DSN: "wxcas:pw@tcp(127.0.0.1:1)/wxcas"}, "database.dsn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := doctor.OpenDatabase(ctx, tt.cfg, quiet)
			require.Error(t, err)
			require.Nil(t, db)
			r := doctor.Schema{OpenErr: err}.Run(ctx)
			require.Equal(t, doctor.StatusFail, r.Status)
			require.Contains(t, r.Fix, tt.fix)
			require.NotContains(t, r.Detail, "pw", "no password in the output")
		})
	}
	require.NoFileExists(t, missing, "a missing SQLite file is not created")
	require.NoDirExists(t, filepath.Dir(missing))
}

func TestClock(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		db := migrated(t, backend)
		tests := []struct {
			name   string
			offset time.Duration // of this machine's clock
			status doctor.Status
			word   string
		}{
			{"in step", 0, doctor.StatusPass, "limit 2s"},
			{"this machine 5 s ahead", 5 * time.Second, doctor.StatusFail, "behind this machine's"},
			{"this machine 5 s behind", -5 * time.Second, doctor.StatusFail, "ahead of this machine's"},
			{"1.5 s is within the limit", 1500 * time.Millisecond, doctor.StatusPass, "limit 2s"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				now := func() time.Time { return time.Now().Add(tt.offset) }
				r := doctor.Clock{DB: db, Now: now}.Run(context.Background())
				require.Equal(t, tt.status, r.Status, r.Detail)
				require.Contains(t, r.Detail, tt.word)
				if tt.status == doctor.StatusFail {
					require.Contains(t, r.Fix, "NTP")
				}
			})
		}
	})
	r := doctor.Clock{}.Run(context.Background())
	require.Equal(t, doctor.StatusFail, r.Status)
	require.Contains(t, r.Fix, "database check first")
}
