package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/doctor"
)

// TestDoctorCommand runs wxcas doctor on a sandbox whose WeChat is a
// `wxcas emulator` process: it passes once the database is migrated, and
// exits 1 with a fix when a check fails.
func TestDoctorCommand(t *testing.T) {
	listen, dir := freePort(t), t.TempDir()
	emBase, _ := startEmulatorCommand(t, emulatorPairConfig(listen, dir, "http://127.0.0.1:0"))
	path := writeConfig(t, emulatorPairConfig(listen, dir, emBase))
	check := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"doctor", "-config", path}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}

	// Before the first start: no database yet.
	code, out, _ := check()
	require.Equal(t, exitFailure, code, out)
	require.Contains(t, out, "FAIL  database")
	require.Contains(t, out, "fix: check database.sqlite_path, or create the database with wxcas migrate")
	require.NoFileExists(t, dir+"/wxcas.db", "doctor creates no database")

	var migrated bytes.Buffer
	require.Equal(t, exitOK, run(context.Background(), []string{"migrate", "-config", path}, &migrated, &migrated), migrated.String())

	code, out, errs := check("--json")
	require.Equal(t, exitOK, code, "stdout=%s stderr=%s", out, errs)
	got := map[string]string{}
	for _, row := range strings.Split(strings.TrimSpace(out), "\n") {
		var l struct{ Name, Status, Detail, Fix string }
		require.NoError(t, json.Unmarshal([]byte(row), &l), row)
		got[l.Name] = l.Status
	}
	require.Equal(t, map[string]string{
		"database": "PASS", "clock": "PASS", "secrets": "SKIP", "public_url": "SKIP",
		"wechat_credentials/wxa1b2c3d4e5f60001": "PASS", "wechat_callback/wxa1b2c3d4e5f60001": "PASS", "sms": "SKIP",
	}, got)

	// The emulator knows the app by another secret.
	wrong := writeConfig(t, strings.Replace(emulatorPairConfig(listen, dir, emBase), "secret: emulator-test-secret", "secret: another-secret", 1))
	var out2, errb bytes.Buffer
	require.Equal(t, exitFailure, run(context.Background(), []string{"doctor", "-config", wrong}, &out2, &errb), errb.String())
	require.Contains(t, out2.String(), "FAIL  wechat_credentials/wxa1b2c3d4e5f60001")
	require.Contains(t, out2.String(), "errcode 40125")
	require.NotContains(t, out2.String(), "another-secret")
	require.Contains(t, out2.String(), "1 failed, ")
}

func TestDoctorCommandLine(t *testing.T) {
	good := writeConfig(t, sandboxConfig(t.TempDir()))
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"unknown flag", []string{"doctor", "-config", good, "-verbose"}, exitBadInput, "flag provided but not defined: -verbose"},
		{"stray argument", []string{"doctor", "-config", good, "now"}, exitBadInput, `unexpected argument "now"`},
		{"missing config", []string{"doctor", "-config", "/nonexistent/config.yaml"}, exitBadInput, "does not exist"},
		{"invalid config", []string{"doctor", "-config", writeConfig(t, "server: {listen: nonsense}\nsandbox: {enabled: true}\n"+sandboxApps)},
			exitBadInput, "server.listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			require.Equal(t, tt.code, run(context.Background(), tt.args, &out, &errb), "stdout=%s stderr=%s", out.String(), errb.String())
			require.Contains(t, errb.String(), tt.err)
			require.Empty(t, out.String(), "no check ran")
		})
	}
	t.Run("help", func(t *testing.T) {
		var out, errb bytes.Buffer
		require.Equal(t, exitOK, run(context.Background(), []string{"doctor", "-h"}, &out, &errb))
		require.Contains(t, out.String(), "usage: wxcas doctor", "asked-for help goes to stdout")
		require.NotRegexp(t, `(?m)^(PASS|FAIL|SKIP)`, out.String(), "no check ran")
	})
}

// TestDoctorChecksWhatWxcasSends: the redirect_uri doctor loads WeChat's
// pages with is the one wxcas's login page sends, and the event URL it
// names is where wxcas receives a platform's pushes.
func TestDoctorChecksWhatWxcasSends(t *testing.T) {
	_, base := startSandbox(t)
	env := &flowEnv{t: t, base: base, service: base + "/sandbox/app/"}
	qr := env.browser("").start()
	m := iframeSrc.FindStringSubmatch(qr.body)
	require.NotNil(t, m, qr.body)
	src, err := url.Parse(html.UnescapeString(m[1]))
	require.NoError(t, err)
	require.Equal(t, doctor.CallbackURL(base), src.Query().Get("redirect_uri"))
	require.Equal(t, base+platformEventsPath("campus"), doctor.PlatformEventURL(base+"/", "campus"))
}

// TestDoctorWithoutTheServicesEnvironment: the README's sandbox started
// with WXCAS_LISTEN on another port, doctor run without it, looks for the
// emulator at the file's server.listen: each WeChat check fails with a fix
// that says where it looked and to run doctor with the same environment.
func TestDoctorWithoutTheServicesEnvironment(t *testing.T) {
	listen := freePort(t) // nothing listens there
	dir := t.TempDir()
	path := writeConfig(t, strings.Replace(sandboxConfig(dir), "listen: 127.0.0.1:0", "listen: "+listen, 1))
	var migrated bytes.Buffer
	require.Equal(t, exitOK, run(context.Background(), []string{"migrate", "-config", path}, &migrated, &migrated), migrated.String())
	var out, errb bytes.Buffer
	require.Equal(t, exitFailure, run(context.Background(), []string{"doctor", "-config", path, "-json"}, &out, &errb), errb.String())
	failed := 0
	for _, row := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var l struct{ Name, Status, Fix string }
		require.NoError(t, json.Unmarshal([]byte(row), &l), row)
		if l.Status != "FAIL" {
			continue
		}
		failed++
		require.True(t, strings.HasPrefix(l.Name, "wechat_"), row)
		require.Contains(t, l.Fix, "at http://"+listen+"/sandbox/wechat (server.listen "+listen+")")
		require.Contains(t, l.Fix, "run wxcas doctor with the same environment as the service (WXCAS_LISTEN=")
	}
	require.Equal(t, 2, failed, out.String())
}
