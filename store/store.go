// Package store opens wxcas's database — MySQL in production, an embedded
// SQLite file by default — and applies the schema migrations under sql/.
// Feature packages (otp, cas, binding, ...) build their own small stores on
// top of *DB; every piece of shared state lives here, never only in memory.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	schema "wxcas/sql"
)

// Dialect names the SQL flavour a query must be written in.
type Dialect string

const (
	MySQL  Dialect = "mysql"
	SQLite Dialect = "sqlite"
)

// ErrNotFound is returned by stores when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrUnavailable marks a failure to reach the database; the HTTP layer turns
// it into a clean 503.
var ErrUnavailable = errors.New("database unavailable")

// IsUnavailable reports whether err means the database could not be reached
// (ErrUnavailable, a dropped or refused connection) or did not answer in time
// (context.DeadlineExceeded: a database that hangs holds the request until
// its deadline), which every transport answers with 503 "try again in a
// moment" rather than 500. context.Canceled is not counted: the client went
// away, and nobody is waiting for the answer.
func IsUnavailable(err error) bool {
	if errors.Is(err, ErrUnavailable) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne *net.OpError
	return errors.As(err, &ne)
}

// Options say which database to open.
type Options struct {
	Driver       string // "mysql" or "sqlite"
	DSN          string // MySQL DSN (go-sql-driver format)
	SQLitePath   string
	MaxOpenConns int
	// StartupRetry bounds how long Open keeps retrying an unreachable server.
	StartupRetry time.Duration
}

// DB is a database handle that knows its dialect.
type DB struct {
	*sqlx.DB
	Dialect Dialect
	// Name describes the database for logs without credentials.
	Name string
	// Returning: the server takes DELETE ... RETURNING (SQLite 3.35+,
	// MariaDB 10.0.5+; not MySQL), so a single-use row is read and used
	// up in one statement.
	Returning bool

	// prepared: the statements P keeps (nil: none are kept).
	prepared *preparedCache
}

// Open connects, retrying an unreachable MySQL server with backoff for at most
// opts.StartupRetry, and returns a handle. It does not migrate; call Migrate.
func Open(ctx context.Context, opts Options, log *slog.Logger) (*DB, error) {
	var (
		db  *DB
		err error
	)
	switch opts.Driver {
	case "sqlite":
		db, err = openSQLite(opts)
	case "mysql":
		// The driver reports dropped connections through a logger of its
		// own that writes plain text to stderr, which breaks a JSON log
		// (seen during a database outage): send it through ours, at WARN.
		_ = mysql.SetLogger(slog.NewLogLogger(log.Handler(), slog.LevelWarn))
		db, err = openMySQL(opts)
	default:
		return nil, fmt.Errorf("unknown database driver %q", opts.Driver)
	}
	if err != nil {
		return nil, err
	}
	if opts.MaxOpenConns > 0 {
		db.SetMaxOpenConns(opts.MaxOpenConns)
		db.SetMaxIdleConns(opts.MaxOpenConns)
	}
	db.SetConnMaxLifetime(30 * time.Minute)

	deadline := time.Now().Add(opts.StartupRetry)
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = db.PingContext(pingCtx)
		cancel()
		if err == nil {
			return db, db.detectReturning(ctx)
		}
		if db.Dialect == SQLite || time.Now().Add(backoff).After(deadline) || ctx.Err() != nil {
			db.Close()
			return nil, fmt.Errorf("cannot reach %s after %d attempt(s): %w", db.Name, attempt, err)
		}
		log.Warn("database not reachable yet, retrying", "db", db.Name, "attempt", attempt, "retry_in", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// detectReturning sets Returning from the server's version.
func (db *DB) detectReturning(ctx context.Context) error {
	if db.Dialect == SQLite {
		db.Returning = true
		return nil
	}
	var version string
	if err := db.QueryRowContext(ctx, `SELECT VERSION()`).Scan(&version); err != nil {
		db.Close()
		return fmt.Errorf("read the server version of %s: %w", db.Name, err)
	}
	db.Returning = strings.Contains(strings.ToLower(version), "mariadb")
	return nil
}

func openSQLite(opts Options) (*DB, error) {
	path := opts.SQLitePath
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: cannot create directory for %s: %w", path, err)
	}
	// WAL lets readers run beside a writer; IMMEDIATE transactions take the write
	// lock at BEGIN so concurrent read-modify-write transactions queue on
	// busy_timeout instead of failing half-way with SQLITE_BUSY.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	raw, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	db := &DB{DB: sqlx.NewDb(raw, "sqlite"), Dialect: SQLite, Name: "sqlite:" + path, prepared: &preparedCache{}}
	// Touch the file now so a read-only directory is reported with its path.
	if _, err := db.Exec("PRAGMA user_version"); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: cannot open %s: %w", path, err)
	}
	return db, nil
}

// MySQLConfig is the driver configuration of a DSN with the session every
// wxcas connection runs in: UTC times, strict SQL mode, binary collation,
// arguments escaped into the statement (see below), a connect timeout. The
// load test's seeding connects with it too.
func MySQLConfig(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql: invalid DSN: %v", redactDSNError(err))
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Params["sql_mode"] = "'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION'"
	cfg.Collation = "utf8mb4_bin"
	// Arguments are escaped into the statement by the driver instead of a
	// server-side prepare, execute and close for every statement: one
	// round trip where there were three (measured at 10-15 % of wxcas's CPU
	// and most of its statements per login). The connection's character set
	// is utf8mb4, which the driver's escaping is safe for, and it follows
	// the server's NO_BACKSLASH_ESCAPES flag. The statements every login
	// runs are prepared once per connection instead (DB.P).
	cfg.InterpolateParams = true
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return cfg, nil
}

func openMySQL(opts Options) (*DB, error) {
	cfg, err := MySQLConfig(opts.DSN)
	if err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	name := fmt.Sprintf("mysql:%s@%s/%s", cfg.User, cfg.Addr, cfg.DBName)
	return &DB{DB: sqlx.NewDb(sql.OpenDB(conn), "mysql"), Dialect: MySQL, Name: name, prepared: &preparedCache{}}, nil
}

// redactDSNError keeps a DSN parse error from echoing the password.
func redactDSNError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "@"); i >= 0 {
		return "malformed DSN (expected user:password@tcp(host:3306)/dbname)"
	}
	return msg
}

// Migrate applies every pending migration of the dialect. On MySQL several
// instances starting together serialise on a lock table.
func (db *DB) Migrate(ctx context.Context) (applied int, err error) {
	fsys, err := schema.Migrations(string(db.Dialect))
	if err != nil {
		return 0, err
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if db.Dialect == MySQL {
		dialect = goose.DialectMySQL
		locker, err := lock.NewMySQLTableLocker()
		if err != nil {
			return 0, err
		}
		opts = append(opts, goose.WithLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.DB.DB, fsys, opts...)
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("migrations on %s: %w", db.Name, err)
	}
	return len(res), nil
}

// InTx runs fn in a transaction, committing when it returns nil. Inside
// Atomic it joins the transaction the context carries instead, so a store
// method that needs a transaction of its own (a binding, a journey update)
// can also be one step of a larger atomic change.
func (db *DB) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	if tx := db.txOf(ctx); tx != nil {
		return fn(tx)
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

type txKey struct{}

type ctxTx struct {
	db *DB
	tx *sqlx.Tx
}

func (db *DB) txOf(ctx context.Context) *sqlx.Tx {
	if t, ok := ctx.Value(txKey{}).(ctxTx); ok && t.db == db {
		return t.tx
	}
	return nil
}

// InAtomic reports whether ctx carries a transaction of db (see Atomic).
func (db *DB) InAtomic(ctx context.Context) bool { return db.txOf(ctx) != nil }

// Querier is what both *sqlx.DB and *sqlx.Tx offer.
type Querier interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
	NamedExecContext(ctx context.Context, query string, arg any) (sql.Result, error)
}

// Q is the transaction ctx carries (see Atomic), else the database: store
// methods read and write through it to take part in an atomic change.
func (db *DB) Q(ctx context.Context) Querier {
	if tx := db.txOf(ctx); tx != nil {
		return tx
	}
	return db.DB
}

// atomicAttempts bounds how often Atomic runs fn again after MySQL chose its
// transaction as a deadlock victim or a unique key was taken meanwhile.
const atomicAttempts = 3

// Atomic runs fn in one transaction that every store method given fn's
// context joins (through InTx or Q): all of their writes commit together or
// none does. A deadlock or duplicate-key failure (two requests racing to
// create the same row) rolls everything back and runs fn again, on fresh
// data; fn must therefore have no effect outside the database. Nested calls
// join the outer transaction.
func (db *DB) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	if db.txOf(ctx) != nil {
		return fn(ctx)
	}
	for attempt := 1; ; attempt++ {
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		err = fn(context.WithValue(ctx, txKey{}, ctxTx{db: db, tx: tx}))
		if err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
		if err != nil && attempt < atomicAttempts && (IsDeadlock(err) || IsDuplicate(err)) {
			continue
		}
		return err
	}
}

// IsDuplicate reports whether err is a unique-key violation on either backend.
func IsDuplicate(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Time normalises a time for storage: UTC, microsecond precision (MySQL
// DATETIME(6)), so a value read back compares equal to the one written.
func Time(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Meta returns the value stored under name, creating it with create() the
// first time. Concurrent callers on any instance all get the same value.
func (db *DB) Meta(ctx context.Context, name string, create func() (string, error), now time.Time) (string, error) {
	var v string
	err := db.GetContext(ctx, &v, db.Rebind(`SELECT value FROM wxcas_meta WHERE name = ?`), name)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	fresh, err := create()
	if err != nil {
		return "", err
	}
	_, err = db.ExecContext(ctx, db.Rebind(`INSERT INTO wxcas_meta (name, value, created_at) VALUES (?, ?, ?)`), name, fresh, Time(now))
	if err != nil && !IsDuplicate(err) {
		return "", err
	}
	err = db.GetContext(ctx, &v, db.Rebind(`SELECT value FROM wxcas_meta WHERE name = ?`), name)
	return v, err
}
