package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/config"
	"wxcas/logx"
)

// TestServeHealthWhileWaitingForTheDatabase: an instance that starts during a
// database outage answers its liveness probe at once, and says why it is not
// ready; no path is a 404 meanwhile.
func TestServeHealthWhileWaitingForTheDatabase(t *testing.T) {
	addr := freePort(t)
	body := "server:\n  listen: " + addr + "\n  public_url: http://127.0.0.1:8080\nlog: {format: json}\n" +
		"database:\n  driver: mysql\n  dsn: ${DSN}\n  startup_retry: 2m\nmetrics: {listen: ''}\nsandbox: {enabled: true}\n" + sandboxApps
	t.Setenv("DSN", "root@tcp(127.0.0.1:1)/wxcas") // nothing listens on port 1
	cfg, err := config.Load(writeConfig(t, body))
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	logs := &logx.Buffer{}
	go func() { done <- serve(ctx, cfg, logs, nil) }()
	client := &http.Client{Timeout: 5 * time.Second}
	require.Eventually(t, func() bool {
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "/healthz answers while start-up waits: %s", logs.String())

	tests := []struct {
		path       string
		wantStatus int
		wantReason string
	}{
		{"/healthz", http.StatusOK, ""},
		{"/readyz", http.StatusServiceUnavailable, "starting: waiting for the database"},
		{"/cas/login?service=x", http.StatusServiceUnavailable, "starting: waiting for the database"},
		{"/no/such/page", http.StatusServiceUnavailable, "starting: waiting for the database"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := client.Get("http://" + addr + tc.path)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.wantStatus, resp.StatusCode)
			var got struct{ Status, Reason string }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
			require.Equal(t, tc.wantReason, got.Reason)
		})
	}
	// The first failed attempt is logged once the driver gives up on it,
	// which may come after the probes above answered.
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "retrying") }, 10*time.Second, 50*time.Millisecond,
		"start-up is still waiting for the database: %s", logs.String())

	cancel()
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, "stopping while waiting is not a failure: %s", logs.String())
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after cancellation while waiting for the database")
	}
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "the listener is closed")
}

// TestRunShippedSandboxOnAnotherPort runs the real command line with the
// shipped config.yaml, moved with WXCAS_LISTEN alone while the metrics port
// is taken: it starts, and the demo site's first redirect reaches a login,
// not "unknown service".
func TestRunShippedSandboxOnAnotherPort(t *testing.T) {
	shipped, err := filepath.Abs("config.yaml")
	require.NoError(t, err)
	if held, err := net.Listen("tcp", "127.0.0.1:9464"); err == nil {
		defer held.Close()
	} // else something else holds it already, which is the point
	addr := freePort(t)
	t.Setenv("WXCAS_LISTEN", addr)
	for _, v := range []string{"WXCAS_PUBLIC_URL", "WXCAS_METRICS_LISTEN", "WXCAS_SECRET_KEY", "WXCAS_ALLOW_SANDBOX"} {
		t.Setenv(v, "")
	}
	t.Chdir(t.TempDir()) // the sandbox's ./data/wxcas.db goes there

	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var code int
	logs := &logx.Buffer{}
	go func() { defer close(exited); code = run(ctx, []string{"-config", shipped}, logs, logs) }()
	defer func() {
		cancel()
		select {
		case <-exited:
			require.Equal(t, exitOK, code, logs.String())
		case <-time.After(20 * time.Second):
			t.Error("wxcas did not stop")
		}
	}()
	base := "http://" + addr
	require.Eventually(t, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond)
	select {
	case <-exited:
		t.Fatalf("wxcas exited with %d: %s", code, logs.String())
	default:
	}

	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(base + "/sandbox/app/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	login, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, base+"/cas/login", login.Scheme+"://"+login.Host+login.Path)
	require.True(t, strings.HasPrefix(login.Query().Get("service"), base+"/sandbox/app/"), login.String())

	resp, err = noFollow.Get(login.String())
	require.NoError(t, err)
	resp.Body.Close()
	require.Contains(t, []int{http.StatusFound, http.StatusSeeOther}, resp.StatusCode, "the service is registered: %s", logs.String())
	next, err := login.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, base+"/login", next.Scheme+"://"+next.Host+next.Path, "on to the login page")
	require.NotEmpty(t, next.Query().Get("flow"))
	require.NotContains(t, logs.String(), "metrics listening", "the shipped sandbox needs one port only")
}

// TestRunHelp: every spelling of help lists each command on its own line.
func TestRunHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}, {"check-config", "-h"}, {"migrate", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb strings.Builder
			require.Equal(t, exitOK, run(context.Background(), args, &out, &errb), errb.String())
			for _, cmd := range []string{"serve", "check-config", "migrate", "help"} {
				require.Regexp(t, `(?m)^  `+cmd+` +\S`, out.String(), "one line for %s", cmd)
			}
			require.Empty(t, errb.String())
		})
	}
}
