package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/config"

	"wxcas/logx"
)

func writeConfig(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func sandboxConfig(dir string) string {
	return "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1:8080\nlog:\n  format: json\ndatabase:\n  sqlite_path: " +
		filepath.Join(dir, "db", "wxcas.db") + "\nsandbox:\n  enabled: true\n" + sandboxApps
}

const sandboxApps = "wechat:\n  apps:\n    - {appid: wxa1b2c3d4e5f60001, kind: website, secret: s1}\nlogin: {website_appid: wxa1b2c3d4e5f60001}\n"

func TestCheckConfig(t *testing.T) {
	tests := []struct {
		name     string
		args     func(t *testing.T) []string
		wantCode int
		wantOut  []string
		wantErr  []string
	}{
		{"shipped config is valid", func(t *testing.T) []string { return []string{"check-config", "-config", "config.yaml"} },
			exitOK, []string{"configuration is valid"}, nil},
		{"three mistakes, three lines", func(t *testing.T) []string {
			return []string{"check-config", "-config", writeConfig(t, "server:\n  listen: nonsense\n  public_url: ftp://x\ndatabase:\n  driver: oracle\nsandbox: {enabled: true}\n"+sandboxApps)}
		}, exitBadInput, nil, []string{"3 problem(s)", "server.listen", "server.public_url", "database.driver"}},
		{"missing file", func(t *testing.T) []string { return []string{"check-config", "-config", "/nonexistent/config.yaml"} },
			exitBadInput, nil, []string{"config file /nonexistent/config.yaml does not exist"}},
		{"unknown command", func(t *testing.T) []string { return []string{"frobnicate"} }, exitBadInput, nil, []string{"unknown command"}},
		{"stray argument", func(t *testing.T) []string { return []string{"check-config", "extra"} }, exitBadInput, nil, []string{"unexpected argument"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args(t), &out, &errb)
			require.Equal(t, tc.wantCode, code, "stdout=%s stderr=%s", out.String(), errb.String())
			for _, w := range tc.wantOut {
				require.Contains(t, out.String(), w)
			}
			for _, w := range tc.wantErr {
				require.Contains(t, errb.String(), w)
			}
		})
	}
	t.Run("one line per problem", func(t *testing.T) {
		var out, errb bytes.Buffer
		path := writeConfig(t, "server:\n  listen: nonsense\n  public_url: ftp://x\ndatabase:\n  driver: oracle\nsandbox: {enabled: true}\n"+sandboxApps)
		require.Equal(t, exitBadInput, run(context.Background(), []string{"check-config", "-config", path}, &out, &errb))
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		require.Len(t, lines, 4, "a header and one line per problem: %q", errb.String())
	})
}

func TestMigrateCommand(t *testing.T) {
	path := writeConfig(t, sandboxConfig(t.TempDir()))
	for i, want := range []string{"migration(s) applied", "0 migration(s) applied"} {
		var out, errb bytes.Buffer
		require.Equal(t, exitOK, run(context.Background(), []string{"migrate", "-config", path}, &out, &errb), errb.String())
		require.Contains(t, out.String(), want, "run %d", i)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func TestServeHealthAndShutdown(t *testing.T) {
	metricsAddr := freePort(t)
	cfg, err := config.Load(writeConfig(t, sandboxConfig(t.TempDir())+"metrics: {listen: '"+metricsAddr+"'}\n"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan string, 1)
	done := make(chan int, 1)
	logs := &logx.Buffer{}
	go func() { done <- serve(ctx, cfg, logs, listening) }()
	var addr string
	select {
	case addr = <-listening:
	case code := <-done:
		t.Fatalf("serve exited early with %d: %s", code, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.NotEmpty(t, resp.Header.Get("X-Request-Id"))
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `wxcas_http_requests_total{code="2xx",method="GET",route="/healthz"} 1`)

	cancel()
	select {
	case code := <-done:
		require.Equal(t, exitOK, code)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after cancellation")
	}
	require.Contains(t, logs.String(), "SANDBOX MODE", "the sandbox is announced loudly")
	require.Contains(t, logs.String(), `"request_id"`, "access log lines carry the request id")
}

func TestServeDatabaseUnreachable(t *testing.T) {
	body := "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1:8080\ndatabase:\n  driver: mysql\n  dsn: ${DSN}\n  startup_retry: 1s\nmetrics: {listen: ''}\nsandbox: {enabled: true}\n" + sandboxApps
	t.Setenv("DSN", "root@tcp(127.0.0.1:1)/wxcas")
	cfg, err := config.Load(writeConfig(t, body))
	require.NoError(t, err)
	var logs bytes.Buffer
	start := time.Now()
	code := serve(context.Background(), cfg, &logs, nil)
	require.Equal(t, exitFailure, code)
	require.Less(t, time.Since(start), 15*time.Second, "retries are bounded")
	require.Contains(t, logs.String(), "retrying")
	require.Contains(t, logs.String(), "cannot reach mysql:root@127.0.0.1:1/wxcas")
}

func TestServeSQLiteBadPath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plainfile")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	cfg := config.Defaults()
	cfg.Server.PublicURL = "http://127.0.0.1:8080"
	cfg.Server.Listen = "127.0.0.1:0" // serve listens first: never a fixed port
	cfg.Metrics.Listen = ""
	cfg.Sandbox.Enabled = true
	cfg.Database.SQLitePath = filepath.Join(file, "wxcas.db")
	var logs bytes.Buffer
	require.Equal(t, exitFailure, serve(context.Background(), cfg, &logs, nil))
	require.Contains(t, logs.String(), file, "the error names the path")
}

// serve -cpuprofile writes a profile of the run when serve returns, and a
// path it cannot write is a command-line error before anything starts.
func TestServeCPUProfile(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, sandboxConfig(dir))
	var out, errb bytes.Buffer
	require.Equal(t, exitBadInput, run(context.Background(), []string{"serve", "-config", path, "-cpuprofile", filepath.Join(dir, "missing", "cpu.prof")}, &out, &errb))
	require.Contains(t, errb.String(), "cpu profile")

	prof := filepath.Join(dir, "cpu.prof")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.Equal(t, exitOK, run(ctx, []string{"serve", "-config", path, "-cpuprofile", prof}, &out, &errb), errb.String())
	info, err := os.Stat(prof)
	require.NoError(t, err)
	require.Positive(t, info.Size(), "a profile was written")
}
