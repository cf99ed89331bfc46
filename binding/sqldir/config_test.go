package sqldir_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/binding/sqldir"
)

func TestValidate(t *testing.T) {
	valid := func() sqldir.Config {
		c := sqldir.DefaultConfig()
		c.DSN = "wx:secret@tcp(db.example.edu:3306)/hr"
		c.FindByPhone = "SELECT uid AS id, mobile AS phone FROM people WHERE mobile = ?"
		c.FindByID = "select uid as id, mobile as phone from people where uid = ?"
		c.Create = "INSERT INTO people (mobile) VALUES (?)"
		return c
	}
	dsnFromEnv := func(path string) bool { return path == "directory.sql.dsn" }

	for _, tc := range []struct {
		name    string
		edit    func(c *sqldir.Config)
		sandbox bool
		fromEnv func(string) bool
		want    []string
	}{
		{name: "valid", fromEnv: dsnFromEnv},
		{name: "zero values mean defaults", edit: func(c *sqldir.Config) {
			c.Driver, c.PrincipalColumn, c.PhoneFormat, c.QueryTimeout, c.MaxOpenConns = "", "", "", 0, 0
		}, fromEnv: dsnFromEnv},
		{name: "no create is allowed", edit: func(c *sqldir.Config) { c.Create = "" }, fromEnv: dsnFromEnv},
		{name: "password written in the file", want: []string{"directory.sql.dsn: contains a password; take it from the environment"}},
		{name: "password in the file is fine in the sandbox", sandbox: true},
		{name: "DSN without password", edit: func(c *sqldir.Config) { c.DSN = "wx@tcp(db:3306)/hr" }},
		{name: "DSN missing", edit: func(c *sqldir.Config) { c.DSN = "" }, want: []string{"directory.sql.dsn: required"}},
		{name: "DSN malformed, password not echoed", edit: func(c *sqldir.Config) { c.DSN = "wx:hunter2@db/hr?x" }, fromEnv: dsnFromEnv,
			want: []string{"directory.sql.dsn: not a valid DSN"}},
		{name: "DSN without database", edit: func(c *sqldir.Config) { c.DSN = "wx@tcp(db:3306)/" },
			want: []string{"directory.sql.dsn: names no database"}},
		{name: "sqlite path", edit: func(c *sqldir.Config) { c.Driver, c.DSN = "sqlite", "/srv/hr.db" }},
		{name: "sqlite path missing", edit: func(c *sqldir.Config) { c.Driver, c.DSN = "sqlite", "" }, want: []string{"directory.sql.dsn: required"}},
		{name: "unknown driver", edit: func(c *sqldir.Config) { c.Driver = "postgres" }, want: []string{`directory.sql.driver: "postgres" must be mysql or sqlite`}},
		{name: "find queries required", edit: func(c *sqldir.Config) { c.FindByPhone, c.FindByID = "", "  " }, fromEnv: dsnFromEnv,
			want: []string{"directory.sql.find_by_phone: required", "directory.sql.find_by_id: required"}},
		{name: "find must be SELECT", edit: func(c *sqldir.Config) { c.FindByID = "DELETE FROM people WHERE uid = ?" }, fromEnv: dsnFromEnv,
			want: []string{"directory.sql.find_by_id: must be a SELECT statement"}},
		{name: "create must be INSERT", edit: func(c *sqldir.Config) { c.Create = "UPDATE people SET mobile = ?" }, fromEnv: dsnFromEnv,
			want: []string{"directory.sql.create: must be an INSERT statement"}},
		{name: "no placeholder", edit: func(c *sqldir.Config) { c.FindByPhone = "SELECT uid AS id, mobile AS phone FROM people" }, fromEnv: dsnFromEnv,
			want: []string{"directory.sql.find_by_phone: must have exactly one ? placeholder, has 0"}},
		{name: "two placeholders", edit: func(c *sqldir.Config) { c.Create = "INSERT INTO people (mobile, username) VALUES (?, ?)" }, fromEnv: dsnFromEnv,
			want: []string{"directory.sql.create: must have exactly one ? placeholder, has 2"}},
		{name: "question marks in literals and comments do not count", edit: func(c *sqldir.Config) {
			c.FindByPhone = "SELECT uid AS id, mobile AS phone, 'why?' AS q, `a?` AS \"b?\" FROM people -- what?\n WHERE /* ? */ mobile = ? AND note <> 'it''s ?' # ?"
		}, fromEnv: dsnFromEnv},
		{name: "two statements", edit: func(c *sqldir.Config) {
			c.FindByID = "SELECT uid AS id, mobile AS phone FROM people WHERE uid = ?; DROP TABLE people"
		},
			fromEnv: dsnFromEnv, want: []string{"directory.sql.find_by_id: must be a single statement without ';'"}},
		{name: "semicolon inside a literal is fine", edit: func(c *sqldir.Config) {
			c.FindByID = "SELECT uid AS id, mobile AS phone, ';' AS x FROM people WHERE uid = ?"
		},
			fromEnv: dsnFromEnv},
		{name: "principal column", edit: func(c *sqldir.Config) { c.PrincipalColumn = "user name" }, fromEnv: dsnFromEnv,
			want: []string{`directory.sql.principal_column: "user name" is not a column name`}},
		{name: "phone format", edit: func(c *sqldir.Config) { c.PhoneFormat = "E.164" }, fromEnv: dsnFromEnv,
			want: []string{`directory.sql.phone_format: "E.164" must be e164 or national`}},
		{name: "negative numbers", edit: func(c *sqldir.Config) {
			c.QueryTimeout, c.MaxOpenConns, c.StartupRetry = -time.Second, -1, -time.Second
		}, fromEnv: dsnFromEnv, want: []string{"directory.sql.query_timeout:", "directory.sql.max_open_conns:", "directory.sql.startup_retry:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			if tc.edit != nil {
				tc.edit(&c)
			}
			p := c.Validate(tc.sandbox, tc.fromEnv)
			require.Len(t, p, len(tc.want), "problems: %q", p)
			for i, want := range tc.want {
				require.Contains(t, p[i], want)
			}
			for _, problem := range p {
				require.NotContains(t, problem, "hunter2")
				require.NotContains(t, problem, "secret")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	d := sqldir.DefaultConfig()
	require.Equal(t, "mysql", d.Driver)
	require.Equal(t, "id", d.PrincipalColumn)
	require.Equal(t, sqldir.PhoneE164, d.PhoneFormat)
	require.Equal(t, 3*time.Second, d.QueryTimeout)
	require.False(t, d.CanCreate())
}
