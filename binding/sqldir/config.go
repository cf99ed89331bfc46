package sqldir

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// KeyPrefix is where Config sits in config.yaml; Validate names keys under it.
const KeyPrefix = "directory.sql."

// Phone formats the organisation's database stores numbers in.
const (
	// PhoneE164 passes and reads numbers as "+8613800138000".
	PhoneE164 = "e164"
	// PhoneNational passes mainland China numbers without the country code
	// ("13800138000") and reads stored numbers back as E.164. Numbers of other
	// countries are passed in E.164 unchanged.
	PhoneNational = "national"
)

// Config is the external SQL directory: the organisation's own user database
// reached through SQL the operator writes, as CAS operators already do for
// JDBC authentication. It is embedded as directory.sql.
//
// The find queries must return the columns id and phone (use aliases: SELECT
// uid AS id, mobile AS phone, ...); every other column becomes a user
// attribute (NULL values are left out; numbers, decimals and times become
// text, times in RFC 3339 UTC — format them in SQL for another form).
type Config struct {
	// Driver is mysql or sqlite (for tests and small setups; DSN is then the
	// database file's path, which must exist).
	Driver string `yaml:"driver"`
	// DSN is the go-sql-driver DSN, e.g. ${WXCAS_DIRECTORY_DSN}. A DSN with a
	// password must come from the environment.
	DSN string `yaml:"dsn"`
	// FindByPhone is a SELECT with one ? for the phone number.
	FindByPhone string `yaml:"find_by_phone"`
	// FindByID is a SELECT with one ? for the user id.
	FindByID string `yaml:"find_by_id"`
	// Create is an INSERT with one ? for the phone number; the new user is
	// read back with FindByPhone. Empty: this directory cannot create users,
	// so login.on_unknown_phone must be refuse. On MySQL the session runs in
	// strict mode: the INSERT must give every NOT NULL column without a
	// default a value (start-up prepares it, which checks names, not values).
	//
	// The phone column should have a unique constraint: it is what makes
	// concurrent creates for one number give one user. Without it two rows can
	// be inserted, and the number is then refused as ambiguous until one is
	// removed.
	Create string `yaml:"create"`
	// PrincipalColumn names the column whose value is the CAS principal
	// (default id). The find queries must return it, and every user must have
	// a value in it: a user without one cannot log in.
	PrincipalColumn string `yaml:"principal_column"`
	// PhoneFormat is e164 (default) or national.
	PhoneFormat string `yaml:"phone_format"`
	// QueryTimeout bounds each query (default 3s).
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// MaxOpenConns caps the pool on the organisation's database (default 5).
	MaxOpenConns int `yaml:"max_open_conns"`
	// StartupRetry bounds how long start-up waits for an unreachable server
	// (default 0: fail at once).
	StartupRetry time.Duration `yaml:"startup_retry"`
}

// Defaults for keys left out or set to zero.
const (
	DefaultQueryTimeout = 3 * time.Second
	DefaultMaxOpenConns = 5
)

// DefaultConfig returns the defaults (driver mysql, principal id, e164, 3s).
func DefaultConfig() Config {
	return Config{
		Driver:          "mysql",
		PrincipalColumn: "id",
		PhoneFormat:     PhoneE164,
		QueryTimeout:    DefaultQueryTimeout,
		MaxOpenConns:    DefaultMaxOpenConns,
	}
}

// withDefaults fills zero values with the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Driver == "" {
		c.Driver = d.Driver
	}
	if c.PrincipalColumn == "" {
		c.PrincipalColumn = d.PrincipalColumn
	}
	if c.PhoneFormat == "" {
		c.PhoneFormat = d.PhoneFormat
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = d.QueryTimeout
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = d.MaxOpenConns
	}
	return c
}

// CanCreate reports whether the directory can create users (create is set).
// When it cannot, the unknown-phone policy must refuse.
func (c Config) CanCreate() bool { return strings.TrimSpace(c.Create) != "" }

var (
	identifier  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	startSelect = regexp.MustCompile(`(?i)^select\s`)
	startInsert = regexp.MustCompile(`(?i)^insert\s`)
)

// Validate lists every problem, with key paths under directory.sql. sandbox
// allows a password written in the DSN; fromEnv reports whether a key's value
// came from the environment (nil: none did). Zero values stand for defaults.
func (c Config) Validate(sandbox bool, fromEnv func(path string) bool) []string {
	if fromEnv == nil {
		fromEnv = func(string) bool { return false }
	}
	c = c.withDefaults()
	var p []string
	add := func(bad bool, key, format string, args ...any) {
		if bad {
			p = append(p, KeyPrefix+key+": "+fmt.Sprintf(format, args...))
		}
	}

	switch c.Driver {
	case "mysql":
		if c.DSN == "" {
			add(true, "dsn", "required (e.g. ${WXCAS_DIRECTORY_DSN})")
			break
		}
		cfg, err := mysql.ParseDSN(c.DSN)
		if err != nil {
			// The parse error may echo the DSN, password included.
			add(true, "dsn", "not a valid DSN (expected user:password@tcp(host:3306)/dbname)")
			break
		}
		add(cfg.DBName == "", "dsn", "names no database (…@tcp(host:3306)/dbname)")
		add(cfg.Passwd != "" && !sandbox && !fromEnv(KeyPrefix+"dsn"),
			"dsn", "contains a password; take it from the environment with ${WXCAS_DIRECTORY_DSN}")
	case "sqlite":
		add(c.DSN == "", "dsn", "required: the path of the SQLite database file")
	default:
		add(true, "driver", "%q must be mysql or sqlite", c.Driver)
	}

	for _, q := range []struct {
		key, sql string
		start    *regexp.Regexp
		verb     string
		required bool
	}{
		{"find_by_phone", c.FindByPhone, startSelect, "a SELECT", true},
		{"find_by_id", c.FindByID, startSelect, "a SELECT", true},
		{"create", c.Create, startInsert, "an INSERT", false},
	} {
		sql := strings.TrimSpace(q.sql)
		if sql == "" {
			add(q.required, q.key, "required (%s with one ? placeholder)", q.verb)
			continue
		}
		add(!q.start.MatchString(sql), q.key, "must be %s statement", q.verb)
		n, semicolon := scanSQL(sql, c.Driver)
		add(n != 1, q.key, "must have exactly one ? placeholder, has %d", n)
		add(semicolon, q.key, "must be a single statement without ';'")
	}

	add(!identifier.MatchString(c.PrincipalColumn), "principal_column", "%q is not a column name", c.PrincipalColumn)
	add(c.PhoneFormat != PhoneE164 && c.PhoneFormat != PhoneNational, "phone_format", "%q must be e164 or national", c.PhoneFormat)
	add(c.QueryTimeout < 0, "query_timeout", "must be positive")
	add(c.MaxOpenConns < 0, "max_open_conns", "must be at least 1")
	add(c.StartupRetry < 0, "startup_retry", "must not be negative")
	return p
}

// scanSQL counts the ? placeholders of a statement outside string literals,
// quoted identifiers and comments, and reports whether it contains a ';'
// there (more than one statement).
func scanSQL(s, driver string) (placeholders int, semicolon bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' || c == '"' || c == '`':
			// Skip to the closing quote; a doubled quote or (MySQL) a
			// backslash escapes it.
			for i++; i < len(s); i++ {
				if s[i] == '\\' && driver == "mysql" && c != '`' {
					i++
					continue
				}
				if s[i] == c {
					if i+1 < len(s) && s[i+1] == c {
						i++
						continue
					}
					break
				}
			}
		case c == '-' && strings.HasPrefix(s[i:], "--"), c == '#' && driver == "mysql":
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return placeholders, semicolon
			}
			i += end + 3
		case c == '?':
			placeholders++
		case c == ';':
			semicolon = true
		}
	}
	return placeholders, semicolon
}
