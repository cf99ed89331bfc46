package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/audit"
	"wxcas/binding"
	"wxcas/cas"
	"wxcas/config"
	"wxcas/store"
	"wxcas/store/storetest"
)

// forEachOperatorDB runs fn once per backend with a sandbox configuration
// (and the YAML extra) on a fresh, migrated database, and a handle on that
// database to seed and inspect it.
func forEachOperatorDB(t *testing.T, extra string, fn func(t *testing.T, configPath string, db *store.DB)) {
	t.Helper()
	const apps = "wechat:\n  apps:\n    - {appid: wxa1b2c3d4e5f60001, kind: website, secret: s1}\nlogin: {website_appid: wxa1b2c3d4e5f60001}\n"
	base := "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1:8080\nlog:\n  format: json\nsandbox:\n  enabled: true\n" + apps + extra
	t.Run("sqlite", func(t *testing.T) {
		db := storetest.SQLite(t)
		fn(t, writeConfig(t, base+"database:\n  sqlite_path: "+strings.TrimPrefix(db.Name, "sqlite:")+"\n"), db)
	})
	t.Run("mysql", func(t *testing.T) {
		dsn := storetest.NewMySQLDatabase(t)
		db := storetest.OpenMySQL(t, dsn)
		// Through the environment, as a DSN with a password must be.
		t.Setenv("WXCAS_TEST_OPERATOR_DSN", dsn)
		fn(t, writeConfig(t, base+"database:\n  driver: mysql\n  dsn: ${WXCAS_TEST_OPERATOR_DSN}\n"), db)
	})
}

// cmdResult is what a command printed and its exit code.
type cmdResult struct {
	code           int
	stdout, stderr string
}

func runCmd(args ...string) cmdResult {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return cmdResult{code, out.String(), errb.String()}
}

// seedPeople binds two people: alice (phone +8613800138000, two apps of
// one unionid) and bob (bound under an openid key). A third person who
// shares alice's website openid in another app is seen but not bound.
func seedPeople(t *testing.T, db *store.DB) (alice, bob binding.User) {
	t.Helper()
	ctx := context.Background()
	s := binding.NewSQLStore(db)
	s.UseAsDirectory()
	t0 := storetest.T0
	alice, err := s.Create(ctx, "+8613800138000", t0)
	require.NoError(t, err)
	bob, err = s.Create(ctx, "+8613900139000", t0)
	require.NoError(t, err)
	require.NoError(t, s.Bind(ctx, binding.Account{AppID: "wxweb", OpenID: "o-alice", UnionID: "un-alice", Nickname: "Alice \x1b[31m"}, alice.ID, false, t0))
	_, err = s.Seen(ctx, binding.Account{AppID: "wxmini", OpenID: "o-alice-mini", UnionID: "un-alice"}, t0.Add(time.Hour))
	require.NoError(t, err)
	require.NoError(t, s.Bind(ctx, binding.Account{AppID: "wxoa", OpenID: "o-bob"}, bob.ID, false, t0))
	_, err = s.Seen(ctx, binding.Account{AppID: "wxoa", OpenID: "o-alice"}, t0)
	require.ErrorIs(t, err, binding.ErrNotFound)
	return alice, bob
}

func TestUsersFind(t *testing.T) {
	forEachOperatorDB(t, "", func(t *testing.T, cfg string, db *store.DB) {
		alice, bob := seedPeople(t, db)
		_, err := db.Exec(`INSERT INTO wechat_bindings (identity_key, user_id, created_at) VALUES ('u:un-gone', 'u-gone', ?)`, store.Time(storetest.T0))
		require.NoError(t, err)

		for _, c := range []struct {
			name    string
			args    []string
			code    int
			want    []string // in stdout
			wantErr string
		}{
			{"by phone without country code", []string{"--phone", "138 0013 8000"}, exitOK,
				[]string{"user:     " + alice.ID, "+86138****8000", "principal " + alice.ID, "binding:  u:un-alice", "wxweb", "o-alice-mini", "Alice \uFFFD[31m"}, ""},
			{"by user id", []string{"--user", bob.ID}, exitOK, []string{"binding:  o:wxoa:o-bob", "+86139****9000"}, ""},
			{"by unionid", []string{"--unionid", "un-alice"}, exitOK, []string{alice.ID, "wxmini"}, ""},
			{"an openid of two persons", []string{"--openid", "o-alice"}, exitOK,
				[]string{"user:     (none: this WeChat person is not bound)", "binding:  (none)", "user:     " + alice.ID}, ""},
			{"bound, but gone from the directory", []string{"--user", "u-gone"}, exitOK, []string{"u-gone (bound, but not in the directory)", "u:un-gone", "accounts: (none)"}, ""},
			{"a user without binding", []string{"--phone", "+8613900139000"}, exitOK, nil, ""},
			{"unknown phone", []string{"--phone", "13700137000"}, exitNotFound, nil, "not found"},
			{"unknown user", []string{"--user", "nobody"}, exitNotFound, nil, "not found"},
			{"unknown openid", []string{"--openid", "o-nobody"}, exitNotFound, nil, "not found"},
			{"unknown unionid", []string{"--unionid", "un-nobody"}, exitNotFound, nil, "not found"},
			{"an invalid phone", []string{"--phone", "12345"}, exitBadInput, nil, "invalid phone number"},
			{"no selector", nil, exitBadInput, nil, "exactly one of"},
			{"two selectors", []string{"--user", "a", "--openid", "b"}, exitBadInput, nil, "exactly one of"},
			{"a stray argument", []string{"--user", "a", "extra"}, exitBadInput, nil, `unexpected argument "extra"`},
			{"an unknown flag", []string{"--name", "a"}, exitBadInput, nil, "flag provided but not defined"},
		} {
			r := runCmd(append([]string{"users", "find", "-config", cfg}, c.args...)...)
			require.Equal(t, c.code, r.code, "%s: stdout=%s stderr=%s", c.name, r.stdout, r.stderr)
			for _, w := range c.want {
				require.Contains(t, r.stdout, w, c.name)
			}
			require.Contains(t, r.stderr, c.wantErr, c.name)
			require.NotContains(t, r.stdout+r.stderr, "13800138000", "%s: no whole phone number", c.name)
			require.NotContains(t, r.stdout, "\x1b", "%s: no terminal escape", c.name)
		}

		r := runCmd("users", "find", "-config", cfg, "--json", "--phone", "+8613800138000")
		require.Equal(t, exitOK, r.code, r.stderr)
		var got struct{ Results []personView }
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
		require.Len(t, got.Results, 1)
		p := got.Results[0]
		require.Equal(t, &userView{ID: alice.ID, Phone: "+86138****8000", Principal: alice.ID}, p.User)
		require.Equal(t, "u:un-alice", p.Binding.IdentityKey)
		require.True(t, p.Binding.BoundAt.Equal(store.Time(storetest.T0)), "bound at %v", p.Binding.BoundAt)
		require.Len(t, p.Accounts, 2)
		require.Equal(t, accountView{AppID: "wxweb", OpenID: "o-alice", UnionID: "un-alice", Nickname: "Alice \x1b[31m",
			FirstSeen: store.Time(storetest.T0), LastSeen: store.Time(storetest.T0)}, p.Accounts[0], "JSON carries the text as stored")

		r = runCmd("users", "find", "-config", cfg, "--json", "--openid", "o-nobody")
		require.Equal(t, exitNotFound, r.code)
		require.JSONEq(t, `{"results": []}`, r.stdout)
	})
}

func TestUsersUsageAndRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
		out  string // in stdout
		err  string // in stderr
	}{
		{"users -h", []string{"users", "-h"}, exitOK, "wxcas users <command>", ""},
		{"no command", []string{"users"}, exitBadInput, "", "wxcas users <command>"},
		{"unknown command", []string{"users", "frob"}, exitBadInput, "", `unknown command "frob"`},
		{"find -h", []string{"users", "find", "-h"}, exitOK, "-unionid", ""},
		{"unbind --help", []string{"users", "unbind", "--help"}, exitOK, "-reason", ""},
		{"export -h", []string{"users", "export", "-h"}, exitOK, "-reveal-phones", ""},
		{"audit -h", []string{"audit", "-h"}, exitOK, "-before-id", ""},
		{"unbind without reason", []string{"users", "unbind", "--user", "u1"}, exitBadInput, "", "--reason is required"},
		{"unbind without user", []string{"users", "unbind", "--reason", "x"}, exitBadInput, "", "--user is required"},
		{"unbind with a reason too long", []string{"users", "unbind", "--user", "u1", "--reason", strings.Repeat("长", 257)}, exitBadInput, "", "longer than 256"},
		{"export in another format", []string{"users", "export", "--format", "xml"}, exitBadInput, "", "want csv or jsonl"},
		{"a missing configuration", []string{"users", "find", "--user", "u1", "-config", "/nonexistent/config.yaml"}, exitBadInput, "", "does not exist"},
	} {
		r := runCmd(c.args...)
		require.Equal(t, c.code, r.code, "%s: stdout=%s stderr=%s", c.name, r.stdout, r.stderr)
		require.Contains(t, r.stdout, c.out, c.name)
		require.Contains(t, r.stderr, c.err, c.name)
	}
}

// A database behind this binary's schema is refused, never migrated.
func TestOperatorCommandsRefuseAnOldSchema(t *testing.T) {
	forEachOperatorDB(t, "", func(t *testing.T, cfg string, db *store.DB) {
		_, err := db.Exec(`DELETE FROM goose_db_version WHERE version_id = 52`)
		require.NoError(t, err)
		for _, args := range [][]string{
			{"users", "find", "--user", "u1"},
			{"users", "unbind", "--user", "u1", "--reason", "test"},
			{"users", "export"},
			{"audit"},
		} {
			r := runCmd(append(args, "-config", cfg)...)
			require.Equal(t, exitFailure, r.code, "%v: %s", args, r.stderr)
			require.Contains(t, r.stderr, "migration(s) pending (52)", args)
			require.Contains(t, r.stderr, "wxcas migrate", args)
		}
		var n int
		require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM goose_db_version WHERE version_id = 52`))
		require.Zero(t, n, "not migrated")
	})
}

func TestUsersExport(t *testing.T) {
	forEachOperatorDB(t, "", func(t *testing.T, cfg string, db *store.DB) {
		alice, bob := seedPeople(t, db)

		r := runCmd("users", "export", "-config", cfg)
		require.Equal(t, exitOK, r.code, r.stderr)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.Equal(t, []string{
			"user_id,principal,phone,in_directory,identity_key,unionid,bound_at,accounts",
			bob.ID + "," + bob.ID + ",+86139****9000,true,o:wxoa:o-bob,,2026-11-21T08:00:00Z,wxoa:o-bob",
			alice.ID + "," + alice.ID + ",+86138****8000,true,u:un-alice,un-alice,2026-11-21T08:00:00Z,wxweb:o-alice wxmini:o-alice-mini",
		}, lines, "identity key order, phones masked")

		path := t.TempDir() + "/export.jsonl"
		r = runCmd("users", "export", "-config", cfg, "--format", "jsonl", "--reveal-phones", "--out", path)
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Empty(t, r.stdout)
		require.Contains(t, r.stderr, "2 binding(s) written to "+path+" (phones revealed)")
		f, err := os.Open(path)
		require.NoError(t, err)
		defer f.Close()
		st, err := f.Stat()
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "an export of phones is readable by its owner alone")
		dec := json.NewDecoder(f)
		var recs []exportRecord
		for dec.More() {
			var rec exportRecord
			require.NoError(t, dec.Decode(&rec))
			recs = append(recs, rec)
		}
		require.Len(t, recs, 2)
		require.Equal(t, "+8613800138000", recs[1].Phone, "revealed")
		require.Equal(t, "un-alice", recs[1].UnionID)
		require.Equal(t, []string{"o-alice", "o-alice-mini"}, []string{recs[1].Accounts[0].OpenID, recs[1].Accounts[1].OpenID})

		events, err := audit.NewSQL(db).List(context.Background(), audit.Filter{Kind: audit.KindAdmin})
		require.NoError(t, err)
		require.Len(t, events, 2, "every export is audited")
		require.Equal(t, cliActor(), events[0].Actor)
		require.True(t, strings.HasPrefix(events[0].Actor, "cli:"))
		require.Equal(t, audit.OK, events[0].Outcome)
		require.Equal(t, "export bindings (phones revealed, jsonl): 2 binding(s) to "+path, events[0].Detail)
		require.Equal(t, "export bindings (phones masked, csv): 2 binding(s) to standard output", events[1].Detail)
	})
}

func TestUsersUnbind(t *testing.T) {
	// The OpenID provider on, as in the sandbox's config.yaml: its library
	// logs each route it registers at INFO.
	const oidc = "oidc:\n  enabled: true\n  clients:\n    - {id: app, type: native, redirect_uris: ['com.example.app:/cb'], first_party: true, claims: [userId]}\n"
	forEachOperatorDB(t, oidc, func(t *testing.T, cfgPath string, db *store.DB) {
		ctx := context.Background()
		alice, bob := seedPeople(t, db)
		// alice has an SSO session the unbind must end.
		cfg, err := config.Load(cfgPath)
		require.NoError(t, err)
		a, err := newApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, err)
		_, _, err = a.cas.CreateSession(ctx, cas.Principal{ID: alice.ID})
		require.NoError(t, err)
		closeApp(a)

		// What libraries log through slog's default, the command's too.
		var libraries bytes.Buffer
		prev := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(&libraries, &slog.HandlerOptions{Level: slog.LevelDebug})))
		r := runCmd("users", "unbind", "-config", cfgPath, "--user", alice.ID, "--reason", "  lost her phone, ticket #42 ")
		slog.SetDefault(prev)
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Equal(t, "user "+alice.ID+": WeChat binding u:un-alice (bound 2026-11-21T08:00:00Z, 2 account(s)) removed; 1 SSO session(s) ended\n", r.stdout)
		require.Empty(t, r.stderr, "warnings and errors only: no INFO of the service's start-up (registered route …)")
		require.Empty(t, libraries.String(), "the libraries log through the command's logger")
		_, err = binding.NewSQLStore(db).BindingOf(ctx, alice.ID)
		require.ErrorIs(t, err, binding.ErrNotFound)
		events, err := audit.NewSQL(db).List(ctx, audit.Filter{UserID: alice.ID, Kind: audit.KindUnbind})
		require.NoError(t, err)
		require.Len(t, events, 1)
		e := events[0]
		require.Equal(t, cliActor(), e.Actor)
		require.Equal(t, "lost her phone, ticket #42", e.Detail)
		require.Equal(t, "+86138****8000", e.Phone)
		require.Equal(t, "un-alice", e.UnionID)

		r = runCmd("users", "unbind", "-config", cfgPath, "--user", bob.ID, "--reason", "test", "--json")
		require.Equal(t, exitOK, r.code, r.stderr)
		require.JSONEq(t, `{"user_id": "`+bob.ID+`", "removed": {"identity_key": "o:wxoa:o-bob", "bound_at": "2026-11-21T08:00:00.123456Z"},
			"accounts": [{"appid": "wxoa", "openid": "o-bob", "first_seen": "2026-11-21T08:00:00.123456Z", "last_seen": "2026-11-21T08:00:00.123456Z"}],
			"ended_sessions": 0}`, r.stdout)

		for _, c := range []struct {
			user, err string
		}{
			{alice.ID, "user " + alice.ID + " has no WeChat binding"},
			{"nobody", "no user nobody in the directory"},
		} {
			r := runCmd("users", "unbind", "-config", cfgPath, "--user", c.user, "--reason", "again")
			require.Equal(t, exitNotFound, r.code, r.stderr)
			require.Contains(t, r.stderr, c.err)
			require.Empty(t, r.stdout)
		}
	})
}

// With the organisation's directory, users, phones and principals come
// from it; bindings from wxcas's database.
func TestUsersWithTheOrganisationsDirectory(t *testing.T) {
	orgPath := t.TempDir() + "/org.db"
	org, err := store.Open(context.Background(), store.Options{Driver: "sqlite", SQLitePath: orgPath}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer org.Close()
	_, err = org.Exec(`CREATE TABLE people (uid INTEGER PRIMARY KEY, mobile TEXT UNIQUE, username TEXT NOT NULL);
INSERT INTO people VALUES (1, '13800138000', 'alice'), (2, '13900139000', 'bob')`)
	require.NoError(t, err)
	const cols = `SELECT CAST(uid AS TEXT) AS id, mobile AS phone, username FROM people `
	directory := "directory:\n  type: sql\n  sql:\n    driver: sqlite\n    dsn: " + orgPath +
		"\n    find_by_phone: \"" + cols + "WHERE mobile = ?\"\n    find_by_id: \"" + cols + "WHERE uid = ?\"" +
		"\n    create: \"INSERT INTO people (mobile, username) VALUES (?, 'new')\"\n    principal_column: username\n    phone_format: national\n"

	forEachOperatorDB(t, directory, func(t *testing.T, cfg string, db *store.DB) {
		ctx := context.Background()
		s := binding.NewSQLStore(db)
		require.NoError(t, s.Bind(ctx, binding.Account{AppID: "wxweb", OpenID: "o-a", UnionID: "un-a"}, "1", false, storetest.T0))
		require.NoError(t, s.Bind(ctx, binding.Account{AppID: "wxweb", OpenID: "o-gone", UnionID: "un-gone"}, "99", false, storetest.T0))

		r := runCmd("users", "find", "-config", cfg, "--phone", "13800138000")
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stdout, "user:     1  phone +86138****8000  principal alice\nbinding:  u:un-a")
		r = runCmd("users", "find", "-config", cfg, "--unionid", "un-gone")
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stdout, "user:     99 (bound, but not in the directory)")
		r = runCmd("users", "find", "-config", cfg, "--user", "2")
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stdout, "principal bob\nbinding:  (none)")

		r = runCmd("users", "export", "-config", cfg, "--reveal-phones")
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Equal(t, "user_id,principal,phone,in_directory,identity_key,unionid,bound_at,accounts\n"+
			"1,alice,+8613800138000,true,u:un-a,un-a,2026-11-21T08:00:00Z,wxweb:o-a\n"+
			"99,,,false,u:un-gone,un-gone,2026-11-21T08:00:00Z,wxweb:o-gone\n", r.stdout)
	})
}
