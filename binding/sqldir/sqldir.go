// Package sqldir is the external user directory: the organisation's existing
// user database, reached with its own DSN through SQL the operator writes in
// config (find by phone, find by id, and optionally create).
//
// wxcas never migrates or otherwise changes that database except through the
// create query. At start-up every query is checked against the database
// without changing data, so a typo stops the service with the query's key.
// Phone numbers never appear whole in logs or errors.
package sqldir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers/v2"

	"wxcas/binding"
	"wxcas/otp"
	"wxcas/store"
)

// ErrCannotCreate is returned by Create when no create query is configured.
var ErrCannotCreate = errors.New("sqldir: this directory cannot create users (directory.sql.create is not set)")

// Directory implements binding.Directory on the organisation's database.
type Directory struct {
	cfg Config
	db  *store.DB
	log *slog.Logger
}

var _ binding.Directory = (*Directory)(nil)

// Values used by the start-up checks; they cannot match a real user.
const (
	impossiblePhone = "+999000000000000"
	impossibleID    = "-1"
)

// Open connects to the organisation's database (no migrations), checks every
// configured query against it and returns the directory. A nil log discards.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Directory, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg = cfg.withDefaults()
	if p := cfg.Validate(true, nil); len(p) > 0 {
		return nil, fmt.Errorf("user directory: %s", strings.Join(p, "; "))
	}
	opts := store.Options{Driver: cfg.Driver, MaxOpenConns: cfg.MaxOpenConns, StartupRetry: cfg.StartupRetry}
	if cfg.Driver == "sqlite" {
		// Opening a missing file would create an empty database.
		if _, err := os.Stat(cfg.DSN); err != nil {
			return nil, fmt.Errorf("%sdsn: %w", KeyPrefix, err)
		}
		opts.SQLitePath = cfg.DSN
	} else {
		opts.DSN = cfg.DSN
	}
	db, err := store.Open(ctx, opts, log)
	if err != nil {
		return nil, fmt.Errorf("user directory: %w", err)
	}
	d := &Directory{cfg: cfg, db: db, log: log}
	if err := d.check(ctx); err != nil {
		db.Close()
		return nil, err
	}
	log.Info("external user directory ready", "db", db.Name, "can_create", cfg.CanCreate(),
		"principal_column", cfg.PrincipalColumn, "phone_format", cfg.PhoneFormat)
	return d, nil
}

// Close closes the connection pool.
func (d *Directory) Close() error { return d.db.Close() }

// CanCreate reports whether Create is configured.
func (d *Directory) CanCreate() bool { return d.cfg.CanCreate() }

// check runs each find query with a value no user has and prepares the
// create statement: the database reports unknown tables and columns and bad
// syntax, and nothing is written. Every failing query is reported.
func (d *Directory) check(ctx context.Context) error {
	var errs []error
	for _, q := range []struct{ key, sql, arg string }{
		{"find_by_phone", d.cfg.FindByPhone, d.toDB(impossiblePhone)},
		{"find_by_id", d.cfg.FindByID, impossibleID},
	} {
		users, cols, err := d.query(ctx, q.sql, q.arg)
		if err == nil {
			err = d.checkColumns(cols)
		}
		if err == nil && len(users) > 0 {
			err = errors.New("returned a user for a value no user has; the query must select by its ? placeholder")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", KeyPrefix, q.key, err))
		}
	}
	if d.cfg.CanCreate() {
		if err := d.prepare(ctx, d.cfg.Create); err != nil {
			errs = append(errs, fmt.Errorf("%screate: %w", KeyPrefix, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("user directory %s: query check failed:\n%w", d.db.Name, errors.Join(errs...))
	}
	return nil
}

func (d *Directory) checkColumns(cols []string) error {
	have := map[string]bool{}
	for _, c := range cols {
		have[strings.ToLower(c)] = true
	}
	var missing []string
	for _, want := range []string{"id", "phone", strings.ToLower(d.cfg.PrincipalColumn)} {
		if !have[want] && !contains(missing, want) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("must return the column(s) %s (use aliases, e.g. SELECT uid AS id, mobile AS phone), returns %s",
			strings.Join(missing, ", "), strings.Join(cols, ", "))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (d *Directory) prepare(ctx context.Context, q string) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.QueryTimeout)
	defer cancel()
	stmt, err := d.db.PrepareContext(ctx, q)
	if err != nil {
		return d.dbError(ctx, err)
	}
	return stmt.Close()
}

// FindByPhone implements binding.Directory; phone is E.164.
func (d *Directory) FindByPhone(ctx context.Context, phone string) (binding.User, error) {
	return d.findOne(ctx, "find_by_phone", d.cfg.FindByPhone, d.toDB(phone), otp.Phone(phone).Masked())
}

// FindByID implements binding.Directory.
func (d *Directory) FindByID(ctx context.Context, id string) (binding.User, error) {
	return d.findOne(ctx, "find_by_id", d.cfg.FindByID, id, "id "+id)
}

// findOne runs a find query; more than one row is an error rather than a
// guess, since binding the wrong person would give away their account.
func (d *Directory) findOne(ctx context.Context, key, q, arg, what string) (binding.User, error) {
	users, _, err := d.query(ctx, q, arg)
	switch {
	case err != nil:
		return binding.User{}, fmt.Errorf("user directory %s%s: %w", KeyPrefix, key, err)
	case len(users) == 0:
		return binding.User{}, binding.ErrNotFound
	case len(users) > 1:
		return binding.User{}, fmt.Errorf("user directory %s%s: several users match %s; refusing to choose one", KeyPrefix, key, what)
	}
	return users[0], nil
}

// Create implements binding.Directory: it runs the create query and reads the
// user back with find_by_phone, which also picks up an id the database
// assigned. It is idempotent by phone: a user the phone already finds is
// returned without running create (a binding that failed after creating the
// user finds it again), and a duplicate-key error means another request
// created the user first; that user is returned.
func (d *Directory) Create(ctx context.Context, phone string, _ time.Time) (binding.User, error) {
	if !d.cfg.CanCreate() {
		return binding.User{}, ErrCannotCreate
	}
	if phone == "" {
		return binding.User{}, errors.New("sqldir: phone required")
	}
	if u, err := d.FindByPhone(ctx, phone); err == nil {
		return u, nil
	} else if !errors.Is(err, binding.ErrNotFound) {
		return binding.User{}, err
	}
	qctx, cancel := context.WithTimeout(ctx, d.cfg.QueryTimeout)
	_, err := d.db.ExecContext(qctx, d.cfg.Create, d.toDB(phone))
	err = d.dbError(qctx, err)
	cancel()
	created := err == nil
	if err != nil && !store.IsDuplicate(err) {
		return binding.User{}, fmt.Errorf("user directory %screate: %w", KeyPrefix, err)
	}
	u, err := d.FindByPhone(ctx, phone)
	if errors.Is(err, binding.ErrNotFound) {
		return binding.User{}, fmt.Errorf("user directory %screate: the new user of %s is not found by find_by_phone; do both queries use the same table, column and phone format?",
			KeyPrefix, otp.Phone(phone).Masked())
	}
	if err != nil {
		return binding.User{}, err
	}
	if created {
		d.log.InfoContext(ctx, "user created in the external directory", "user", u.ID, "phone", otp.Phone(phone).Masked())
	}
	return u, nil
}

// query runs a find query and converts at most two rows to users.
func (d *Directory) query(ctx context.Context, q, arg string) ([]binding.User, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.QueryTimeout)
	defer cancel()
	rows, err := d.db.QueryContext(ctx, q, arg)
	if err != nil {
		return nil, nil, d.dbError(ctx, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	var users []binding.User
	for len(users) < 2 && rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, cols, d.dbError(ctx, err)
		}
		u, err := d.user(cols, vals)
		if err != nil {
			return nil, cols, err
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, cols, d.dbError(ctx, err)
	}
	return users, cols, nil
}

// user converts one row: id and phone fill the user, the principal column
// its principal, and every non-NULL column other than id and phone becomes an
// attribute under the column's name.
func (d *Directory) user(cols []string, vals []any) (binding.User, error) {
	var (
		u             binding.User
		principal     string
		havePrincipal bool
	)
	pcol := strings.ToLower(d.cfg.PrincipalColumn)
	for i, col := range cols {
		v, ok := text(vals[i])
		name := strings.ToLower(col)
		if name == pcol {
			principal, havePrincipal = v, ok && v != ""
		}
		switch {
		case name == "id":
			u.ID = v
		case name == "phone":
			if ok {
				u.Phone = d.fromDB(v)
			}
		case ok:
			if u.Attributes == nil {
				u.Attributes = map[string]string{}
			}
			u.Attributes[col] = v
		}
	}
	if u.ID == "" {
		return binding.User{}, errors.New("a row has no id")
	}
	if pcol != "id" {
		if !havePrincipal {
			// Falling back to the id could make it collide with another
			// user's principal: refuse instead.
			return binding.User{}, fmt.Errorf("user %s has no value in principal column %q", u.ID, d.cfg.PrincipalColumn)
		}
		u.Principal = principal
	}
	return u, nil
}

// text renders a column value as a string; ok is false for NULL.
func text(v any) (s string, ok bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case []byte:
		return string(v), true
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), true
	case bool:
		return strconv.FormatBool(v), true
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), true
	default:
		return fmt.Sprint(v), true
	}
}

// toDB converts an E.164 number to the database's format.
func (d *Directory) toDB(phone string) string {
	if d.cfg.PhoneFormat == PhoneNational {
		if national, ok := strings.CutPrefix(phone, "+86"); ok {
			return national
		}
	}
	return phone
}

// fromDB converts a stored number to E.164. National numbers are read as
// mainland China numbers; a value that does not parse is kept as it is.
func (d *Directory) fromDB(phone string) string {
	phone = strings.TrimSpace(phone)
	if d.cfg.PhoneFormat != PhoneNational || strings.HasPrefix(phone, "+") {
		return phone
	}
	num, err := phonenumbers.Parse(phone, "CN")
	if err != nil {
		return phone
	}
	return phonenumbers.Format(num, phonenumbers.E164)
}

// dbError marks a query that ran out of time as the database being
// unavailable (answered with 503, not 500).
func (d *Directory) dbError(ctx context.Context, err error) error {
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: no answer within %v: %w", store.ErrUnavailable, d.cfg.QueryTimeout, err)
	}
	return err
}
