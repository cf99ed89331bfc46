package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"wxcas/config"
	schema "wxcas/sql"
	"wxcas/store"
)

// OpenDatabase connects to the configured database once, without the
// start-up retries of wxcas serve (a preflight reports an unreachable
// server instead of waiting for it) and without migrating. An SQLite file
// that does not exist is reported, not created: opening it would leave an
// empty database behind.
func OpenDatabase(ctx context.Context, cfg config.Database, log *slog.Logger) (*store.DB, error) {
	if cfg.Driver == string(store.SQLite) {
		if _, err := os.Stat(cfg.SQLitePath); err != nil {
			return nil, fmt.Errorf("sqlite:%s: %w", cfg.SQLitePath, errors.Unwrap(err))
		}
	}
	return store.Open(ctx, store.Options{
		Driver: cfg.Driver, DSN: cfg.DSN, SQLitePath: cfg.SQLitePath, MaxOpenConns: 2,
	}, log)
}

// fixMigrate is the fix for a schema behind this binary's.
const fixMigrate = "run wxcas migrate -config FILE (wxcas serve also migrates at start-up)"

// Schema checks that the database answers and that its schema is the one
// this binary carries: every embedded goose migration applied, none
// unknown to it. It reads goose's version table and never migrates.
type Schema struct {
	// DB is the open database, nil when opening it failed with OpenErr.
	DB      *store.DB
	OpenErr error
}

// Name implements Check.
func (Schema) Name() string { return "database" }

// Run implements Check.
func (s Schema) Run(ctx context.Context) Result {
	if s.DB == nil {
		return dbUnreachable(s.OpenErr)
	}
	if err := s.DB.PingContext(ctx); err != nil {
		return dbUnreachable(err)
	}
	embedded, err := embeddedVersions(s.DB.Dialect)
	if err != nil {
		return Fail("cannot read the migrations this wxcas carries: "+err.Error(), "report this as a wxcas bug")
	}
	newest := slices.Max(embedded)
	applied, err := appliedVersions(ctx, s.DB)
	if err != nil {
		return Fail(fmt.Sprintf("%s: cannot read goose's version table: %v", s.DB.Name, err), fixMigrate)
	}
	if len(applied) == 0 {
		return Fail(fmt.Sprintf("%s is reachable but was never migrated (no %s table)", s.DB.Name, goose.DefaultTablename), fixMigrate)
	}
	var pending, unknown []int64
	for _, v := range embedded {
		if !slices.Contains(applied, v) {
			pending = append(pending, v)
		}
	}
	for _, v := range applied {
		if v != 0 && !slices.Contains(embedded, v) {
			unknown = append(unknown, v)
		}
	}
	current := slices.Max(applied)
	switch {
	case len(unknown) > 0:
		return Fail(fmt.Sprintf("%s has migration(s) %s that this wxcas does not know (its newest is %d): a newer wxcas migrated it",
			s.DB.Name, versionList(unknown), newest), "run the wxcas release that migrated this database, or a newer one")
	case len(pending) > 0:
		return Fail(fmt.Sprintf("%s is at schema version %d; %d migration(s) pending (%s)", s.DB.Name, current, len(pending), versionList(pending)), fixMigrate)
	}
	return Pass(fmt.Sprintf("%s reachable; schema at version %d, the newest this wxcas carries", s.DB.Name, current))
}

func dbUnreachable(err error) Result {
	detail := "cannot open the database"
	if err != nil {
		detail += ": " + err.Error()
	}
	if errors.Is(err, fs.ErrNotExist) {
		return Fail(detail, "check database.sqlite_path, or create the database with wxcas migrate -config FILE")
	}
	return Fail(detail, "check database.dsn (WXCAS_MYSQL_DSN): host, port, user, password and database name, and that the server accepts connections from this machine")
}

// embeddedVersions are the migration versions this binary carries, from
// the file names (00051_name.sql), as goose numbers them.
func embeddedVersions(d store.Dialect) ([]int64, error) {
	fsys, err := schema.Migrations(string(d))
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, name := range names {
		v, err := strconv.ParseInt(strings.SplitN(name, "_", 2)[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: no version number", name)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("no migrations embedded")
	}
	return out, nil
}

// appliedVersions are the versions goose recorded as applied (0 is its
// initial row); none when its table does not exist. goose's own
// GetDBVersion would create the table, so its store is only asked once
// the table is known to be there.
func appliedVersions(ctx context.Context, db *store.DB) ([]int64, error) {
	dialect, exists := database.DialectSQLite3, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if db.Dialect == store.MySQL {
		dialect, exists = database.DialectMySQL, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`
	}
	var n int
	if err := db.QueryRowContext(ctx, exists, goose.DefaultTablename).Scan(&n); err != nil || n == 0 {
		return nil, err
	}
	st, err := database.NewStore(dialect, goose.DefaultTablename)
	if err != nil {
		return nil, err
	}
	rows, err := st.ListMigrations(ctx, db.DB.DB)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, r := range rows {
		if r.IsApplied {
			out = append(out, r.Version)
		}
	}
	return out, nil
}

func versionList(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.FormatInt(v, 10)
	}
	if len(s) > 6 {
		s = append(s[:3], "…", s[len(s)-1])
	}
	return strings.Join(s, ", ")
}

// DefaultMaxSkew is the largest difference between this machine's clock and
// the database's that Clock accepts. Expiry decisions compare times written
// by one instance with the clock of another (a ticket written by one,
// validated by the next); service tickets live 10 s, so seconds matter.
const DefaultMaxSkew = 2 * time.Second

// Clock compares this machine's clock with the database server's: the
// database's current time against the midpoint of the query's round trip.
// An embedded SQLite database shares this machine's clock, so there it
// only proves the query path.
type Clock struct {
	DB *store.DB
	// Now is this machine's clock (nil: time.Now).
	Now func() time.Time
	// MaxSkew: 0 means DefaultMaxSkew.
	MaxSkew time.Duration
}

// Name implements Check.
func (Clock) Name() string { return "clock" }

// Run implements Check.
func (c Clock) Run(ctx context.Context) Result {
	if c.DB == nil {
		return Fail("cannot read the database's clock: the database is not reachable", "fix the database check first")
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	limit := c.MaxSkew
	if limit <= 0 {
		limit = DefaultMaxSkew
	}
	before := now()
	dbNow, err := databaseNow(ctx, c.DB)
	after := now()
	if err != nil {
		return Fail("cannot read the database's clock: "+err.Error(), "fix the database check first")
	}
	rtt := after.Sub(before)
	skew := dbNow.Sub(before.Add(rtt / 2))
	trip := "under 1ms"
	if rtt >= time.Millisecond {
		trip = rtt.Round(time.Millisecond).String()
	}
	detail := fmt.Sprintf("the database's clock is %s %s this machine's (round trip %s; limit %s)",
		skew.Abs().Round(time.Millisecond), aheadOrBehind(skew), trip, limit)
	if skew.Abs() < time.Millisecond {
		detail = fmt.Sprintf("the database's clock agrees with this machine's (round trip %s; limit %s)", trip, limit)
	}
	if skew.Abs() > limit {
		return Fail(detail, "synchronise both clocks with NTP (timedatectl set-ntp true, or chrony) on this machine and on the database server")
	}
	return Pass(detail)
}

func aheadOrBehind(d time.Duration) string {
	if d < 0 {
		return "behind"
	}
	return "ahead of"
}

// databaseNow is the database's current UTC time with sub-second precision.
func databaseNow(ctx context.Context, db *store.DB) (time.Time, error) {
	if db.Dialect == store.MySQL {
		var t time.Time
		err := db.QueryRowContext(ctx, `SELECT UTC_TIMESTAMP(6)`).Scan(&t)
		return t, err
	}
	var s string
	if err := db.QueryRowContext(ctx, `SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')`).Scan(&s); err != nil {
		return time.Time{}, err
	}
	return time.ParseInLocation("2006-01-02 15:04:05.999", s, time.UTC)
}
