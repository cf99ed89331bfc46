package sqldir_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/binding"
	"wxcas/binding/bindingtest"
	"wxcas/binding/sqldir"
	"wxcas/logx"
	"wxcas/store"
	"wxcas/store/storetest"
)

// org is the organisation's own database: separate from wxcas's, with a
// schema wxcas knows nothing about.
type org struct {
	driver string
	dsn    string
	db     *store.DB // an administrator's handle, to set up and inspect rows
}

var schema = map[string][]string{
	"sqlite": {
		`CREATE TABLE people (
  uid      INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT UNIQUE,
  mobile   TEXT NOT NULL UNIQUE,
  dept     TEXT,
  grade    INTEGER,
  hired    DATETIME
)`,
		`CREATE TABLE members (
  member_no INTEGER PRIMARY KEY AUTOINCREMENT,
  phone     TEXT NOT NULL UNIQUE
)`,
		`CREATE TABLE legacy (uid INTEGER PRIMARY KEY AUTOINCREMENT, mobile TEXT NOT NULL)`,
	},
	"mysql": {
		`CREATE TABLE people (
  uid      BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username VARCHAR(64) NULL UNIQUE,
  mobile   VARCHAR(20) NOT NULL UNIQUE,
  dept     VARCHAR(64) NULL,
  grade    INT NULL,
  hired    DATETIME NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		`CREATE TABLE members (
  member_no BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  phone     VARCHAR(20) NOT NULL UNIQUE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		`CREATE TABLE legacy (uid BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, mobile VARCHAR(20) NOT NULL) ENGINE=InnoDB`,
	},
}

// createWithUsername gives new people a generated username in each dialect.
var createWithUsername = map[string]string{
	"sqlite": `INSERT INTO people (mobile, username) VALUES (?, 'wx' || lower(hex(randomblob(6))))`,
	"mysql":  `INSERT INTO people (mobile, username) VALUES (?, CONCAT('wx', LEFT(MD5(RAND()), 12)))`,
}

func forEachOrg(t *testing.T, fn func(t *testing.T, o org)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "org.db")
		fn(t, newOrg(t, "sqlite", path, store.Options{Driver: "sqlite", SQLitePath: path}))
	})
	t.Run("mysql", func(t *testing.T) {
		dsn := storetest.NewMySQLDatabase(t)
		fn(t, newOrg(t, "mysql", dsn, store.Options{Driver: "mysql", DSN: dsn}))
	})
}

func newOrg(t *testing.T, driver, dsn string, opts store.Options) org {
	t.Helper()
	db, err := store.Open(context.Background(), opts, logx.Discard())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	for _, ddl := range schema[driver] {
		_, err := db.Exec(ddl)
		require.NoError(t, err)
	}
	return org{driver: driver, dsn: dsn, db: db}
}

const (
	peopleCols = `SELECT uid AS id, mobile AS phone, username, dept FROM people `
)

// peopleConfig is a directory over the people table, which keeps mainland
// numbers without +86.
func (o org) peopleConfig() sqldir.Config {
	return sqldir.Config{
		Driver:      o.driver,
		DSN:         o.dsn,
		FindByPhone: peopleCols + `WHERE mobile = ?`,
		FindByID:    peopleCols + `WHERE uid = ?`,
		Create:      `INSERT INTO people (mobile) VALUES (?)`,
		PhoneFormat: sqldir.PhoneNational,
	}
}

func (o org) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	_, err := o.db.Exec(q, args...)
	require.NoError(t, err)
}

func (o org) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	require.NoError(t, o.db.Get(&n, "SELECT COUNT(*) FROM "+table))
	return n
}

func open(t *testing.T, cfg sqldir.Config) *sqldir.Directory {
	t.Helper()
	d, err := sqldir.Open(context.Background(), cfg, logx.Discard())
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

var ctx = context.Background()

func TestConformance(t *testing.T) {
	forEachOrg(t, func(t *testing.T, o org) {
		t.Run("national numbers, auto-increment ids", func(t *testing.T) {
			bindingtest.RunDirectory(t, func(t *testing.T) binding.Directory { return open(t, o.peopleConfig()) })
		})
		t.Run("e164 numbers", func(t *testing.T) {
			bindingtest.RunDirectory(t, func(t *testing.T) binding.Directory {
				return open(t, sqldir.Config{
					Driver:      o.driver,
					DSN:         o.dsn,
					FindByPhone: `SELECT member_no AS id, phone FROM members WHERE phone = ?`,
					FindByID:    `SELECT member_no AS id, phone FROM members WHERE member_no = ?`,
					Create:      `INSERT INTO members (phone) VALUES (?)`,
				})
			})
		})
	})
}

func TestStartupChecks(t *testing.T) {
	forEachOrg(t, func(t *testing.T, o org) {
		o.exec(t, `INSERT INTO people (username, mobile) VALUES ('alice', '13800138000')`)
		for _, tc := range []struct {
			name string
			edit func(c *sqldir.Config)
			want []string
		}{
			{"table typo", func(c *sqldir.Config) { c.FindByPhone = strings.Replace(c.FindByPhone, "people", "peple", 1) },
				[]string{"directory.sql.find_by_phone:", "peple"}},
			{"column typo", func(c *sqldir.Config) { c.FindByID = strings.Replace(c.FindByID, "WHERE uid", "WHERE uidd", 1) },
				[]string{"directory.sql.find_by_id:", "uidd"}},
			{"id and phone not aliased", func(c *sqldir.Config) { c.FindByID = `SELECT uid, mobile FROM people WHERE uid = ?` },
				[]string{"directory.sql.find_by_id: must return the column(s) id, phone"}},
			{"principal column not returned", func(c *sqldir.Config) { c.PrincipalColumn = "login" },
				[]string{"directory.sql.find_by_phone: must return the column(s) login", "directory.sql.find_by_id: must return the column(s) login"}},
			{"create column typo", func(c *sqldir.Config) { c.Create = `INSERT INTO people (mobil) VALUES (?)` },
				[]string{"directory.sql.create:", "mobil"}},
			{"create table typo", func(c *sqldir.Config) { c.Create = `INSERT INTO peoples (mobile) VALUES (?)` },
				[]string{"directory.sql.create:", "peoples"}},
			{"query ignores its placeholder", func(c *sqldir.Config) { c.FindByPhone = peopleCols + `WHERE ? IS NOT NULL` },
				[]string{"directory.sql.find_by_phone: returned a user for a value no user has"}},
			{"every failing query reported", func(c *sqldir.Config) {
				c.FindByPhone = strings.Replace(c.FindByPhone, "people", "peple", 1)
				c.Create = `INSERT INTO people (mobil) VALUES (?)`
			}, []string{"directory.sql.find_by_phone:", "directory.sql.create:"}},
			{"invalid config", func(c *sqldir.Config) { c.FindByID = peopleCols }, []string{"directory.sql.find_by_id: must have exactly one ? placeholder"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := o.peopleConfig()
				tc.edit(&cfg)
				_, err := sqldir.Open(ctx, cfg, logx.Discard())
				require.Error(t, err)
				for _, want := range tc.want {
					require.Contains(t, err.Error(), want)
				}
			})
		}
		require.Equal(t, 1, o.count(t, "people"), "start-up checks write nothing")
		d := open(t, o.peopleConfig())
		require.True(t, d.CanCreate())
		require.Equal(t, 1, o.count(t, "people"), "start-up checks write nothing")
	})
}

func TestSQLiteFileMustExist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	_, err := sqldir.Open(ctx, sqldir.Config{
		Driver: "sqlite", DSN: path,
		FindByPhone: `SELECT id, phone FROM users WHERE phone = ?`, FindByID: `SELECT id, phone FROM users WHERE id = ?`,
	}, nil)
	require.ErrorContains(t, err, "directory.sql.dsn:")
	_, err = os.Stat(path)
	require.True(t, os.IsNotExist(err), "no empty database is created")
}

func TestPrincipalColumn(t *testing.T) {
	forEachOrg(t, func(t *testing.T, o org) {
		o.exec(t, `INSERT INTO people (username, mobile, dept) VALUES ('alice', '13800138000', 'physics')`)
		o.exec(t, `INSERT INTO people (mobile) VALUES ('13900139000')`)
		cfg := o.peopleConfig()
		cfg.PrincipalColumn = "username"
		cfg.Create = createWithUsername[o.driver]
		d := open(t, cfg)

		u, err := d.FindByPhone(ctx, "+8613800138000")
		require.NoError(t, err)
		require.Equal(t, "alice", u.Principal)
		require.NotEqual(t, "alice", u.ID)
		require.Equal(t, map[string]string{"username": "alice", "dept": "physics"}, u.Attributes)

		_, err = d.FindByPhone(ctx, "+8613900139000")
		require.ErrorContains(t, err, `no value in principal column "username"`, "no silent fall-back to the id")

		u, err = d.Create(ctx, "+8613700137000", time.Now())
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(u.Principal, "wx"), "principal %q", u.Principal)

		// With the default principal column the principal is the id.
		d = open(t, o.peopleConfig())
		u, err = d.FindByPhone(ctx, "+8613800138000")
		require.NoError(t, err)
		require.Empty(t, u.Principal)
	})
}

func TestPhoneFormat(t *testing.T) {
	forEachOrg(t, func(t *testing.T, o org) {
		o.exec(t, `INSERT INTO people (mobile) VALUES ('13800138000')`)
		o.exec(t, `INSERT INTO people (mobile) VALUES ('+14155552671')`)
		d := open(t, o.peopleConfig())

		u, err := d.FindByPhone(ctx, "+8613800138000")
		require.NoError(t, err)
		require.Equal(t, "+8613800138000", u.Phone, "read back as E.164")
		byID, err := d.FindByID(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, u, byID)

		u, err = d.FindByPhone(ctx, "+14155552671")
		require.NoError(t, err, "numbers of other countries pass unchanged")
		require.Equal(t, "+14155552671", u.Phone)

		u, err = d.Create(ctx, "+8613700137000", time.Now())
		require.NoError(t, err)
		require.Equal(t, "+8613700137000", u.Phone)
		var stored string
		require.NoError(t, o.db.Get(&stored, `SELECT mobile FROM people WHERE uid = ?`, u.ID))
		require.Equal(t, "13700137000", stored, "written without +86")

		// In e164 format the number is passed as it is, so a national column
		// does not match.
		cfg := o.peopleConfig()
		cfg.PhoneFormat = sqldir.PhoneE164
		_, err = open(t, cfg).FindByPhone(ctx, "+8613800138000")
		require.ErrorIs(t, err, binding.ErrNotFound)
	})
}

func TestAttributes(t *testing.T) {
	forEachOrg(t, func(t *testing.T, o org) {
		o.exec(t, `INSERT INTO people (username, mobile, dept, grade, hired) VALUES ('alice', '13800138000', '物理系', 3, '2020-09-01 08:30:00')`)
		o.exec(t, `INSERT INTO people (mobile) VALUES ('13900139000')`)
		cfg := o.peopleConfig()
		cols := `SELECT uid AS id, mobile AS phone, username, dept AS Department, grade, hired, 2.5 AS ratio FROM people `
		cfg.FindByPhone = cols + `WHERE mobile = ?`
		cfg.FindByID = cols + `WHERE uid = ?`
		d := open(t, cfg)

		u, err := d.FindByPhone(ctx, "+8613800138000")
		require.NoError(t, err)
		require.Equal(t, map[string]string{
			"username":   "alice",
			"Department": "物理系", // the column's own name, case kept
			"grade":      "3",
			"hired":      "2020-09-01T08:30:00Z",
			"ratio":      "2.5",
		}, u.Attributes)

		u, err = d.FindByPhone(ctx, "+8613900139000")
		require.NoError(t, err)
		require.Equal(t, map[string]string{"ratio": "2.5"}, u.Attributes, "NULL columns are left out")
	})
}

func TestNoCreate(t *testing.T) {
	forEachOrg(t, func(t *testing.T, o org) {
		cfg := o.peopleConfig()
		cfg.Create = ""
		require.False(t, cfg.CanCreate())
		d := open(t, cfg)
		require.False(t, d.CanCreate())
		_, err := d.Create(ctx, "+8613800138000", time.Now())
		require.ErrorIs(t, err, sqldir.ErrCannotCreate)
		require.Equal(t, 0, o.count(t, "people"))
	})
}

func TestAmbiguousPhoneRefused(t *testing.T) {
	forEachOrg(t, func(t *testing.T, o org) {
		// A table without a unique constraint on the number.
		o.exec(t, `INSERT INTO legacy (mobile) VALUES ('13800138000')`)
		o.exec(t, `INSERT INTO legacy (mobile) VALUES ('13800138000')`)
		d := open(t, sqldir.Config{
			Driver: o.driver, DSN: o.dsn, PhoneFormat: sqldir.PhoneNational,
			FindByPhone: `SELECT uid AS id, mobile AS phone FROM legacy WHERE mobile = ?`,
			FindByID:    `SELECT uid AS id, mobile AS phone FROM legacy WHERE uid = ?`,
		})
		_, err := d.FindByPhone(ctx, "+8613800138000")
		require.ErrorContains(t, err, "several users match +86138****8000")
		require.NotContains(t, err.Error(), "13800138000")
	})
}

func TestLogsMaskPhone(t *testing.T) {
	forEachOrg(t, func(t *testing.T, o org) {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		d, err := sqldir.Open(ctx, o.peopleConfig(), log)
		require.NoError(t, err)
		defer d.Close()
		_, err = d.Create(ctx, "+8613800138000", time.Now())
		require.NoError(t, err)
		require.Contains(t, buf.String(), "+86138****8000")
		require.NotContains(t, buf.String(), "13800138000")
	})
}

func TestQueryTimeout(t *testing.T) {
	dsn := storetest.NewMySQLDatabase(t)
	o := newOrg(t, "mysql", dsn, store.Options{Driver: "mysql", DSN: dsn})
	o.exec(t, `INSERT INTO people (mobile) VALUES ('13800138000')`)
	cfg := o.peopleConfig()
	cfg.FindByPhone = peopleCols + `WHERE mobile = ? AND SLEEP(3) = 0`
	cfg.QueryTimeout = 300 * time.Millisecond
	d := open(t, cfg)
	start := time.Now()
	_, err := d.FindByPhone(ctx, "+8613800138000")
	require.ErrorIs(t, err, store.ErrUnavailable, "a slow directory is unavailable (503), not an internal error")
	require.Less(t, time.Since(start), 2*time.Second)
}
