package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAgainstARealSandbox builds the repository's wxcas, runs it in the
// sandbox on SQLite (no MySQL needed), and drives the tool through binding,
// a second binding run and every load; then again with the emulator served
// apart by `wxcas emulator`, as docs/loadtest.md measures. It is the only
// test here that talks to wxcas itself, so it runs unless -short (and
// always under CI).
func TestAgainstARealSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs wxcas; skipped with -short")
	}
	bin := buildWxcas(t)
	t.Run("emulator inside wxcas", func(t *testing.T) { againstInProcessEmulator(t, bin) })
	t.Run("wxcas emulator apart", func(t *testing.T) { againstEmulatorApart(t, bin) })
}

func againstInProcessEmulator(t *testing.T, bin string) {
	base := startSandbox(t, bin, "")
	ctx := context.Background()
	tg := newTarget(base, base+"/sandbox/app/", base+"/sandbox/sms", 2)

	people, err := tg.bindAll(ctx, makePeople("e2e", 2, 13700000000), 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range people {
		if !p.isNew || p.user == "" {
			t.Errorf("first binding of %s: new %t, user %q", p.name, p.isNew, p.user)
		}
	}
	if got := tg.emulatorReport(); !strings.HasPrefix(got, "emulator: inside wxcas ("+base+")") {
		t.Errorf("report %q", got)
	}
	// A second run finds them bound, as the same users.
	again, err := tg.bindAll(ctx, makePeople("e2e", 2, 13700000000), 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range again {
		if p.isNew || p.user != people[i].user {
			t.Errorf("second run for %s: new %t, user %q (was %q)", p.name, p.isNew, p.user, people[i].user)
		}
	}

	l := &loadRun{t: tg, people: people, workers: 2, warmup: 300 * time.Millisecond, duration: 2 * time.Second, fill: 500 * time.Millisecond}
	for load, requests := range map[string]float64{"returning": 5, "sso": 2, "validate": 1} {
		r := l.run(ctx, load)
		if r.errors != 0 || r.rate() <= 0 || r.requestsPerOp() != requests {
			t.Errorf("%s: %.1f/s, %d errors (first: %v), %.2f requests/op (want %v)", load, r.rate(), r.errors, r.firstErr, r.requestsPerOp(), requests)
		}
	}

	// Told that wxcas uses an emulator apart, the tool refuses this one's
	// QR codes rather than measure the emulator inside it.
	other := newTarget(base, base+"/sandbox/app/", base+"/sandbox/sms", 1)
	other.emulator = "http://127.0.0.1:1"
	if _, err := other.qrLogin(ctx, other.newBrowser(), "e2e0"); err == nil || !strings.Contains(err.Error(), "not from -emulator http://127.0.0.1:1") {
		t.Errorf("a QR code of the emulator inside wxcas with -emulator: %v", err)
	}

	// The command itself, as a person runs it.
	var out, errs bytes.Buffer
	code := run(ctx, []string{"-base", base, "-people", "2", "-prefix", "e2e", "-workers", "2", "-duration", "1s",
		"-warmup", "200ms", "-pairs", "1", "-load", "sso"}, &out, &errs)
	if code != 0 || !strings.Contains(out.String(), "bind: 2 people, 0 bound now, 2 bound before") ||
		!regexp.MustCompile(`(?m)^sso +1/1 wxcas: ops/s=[0-9.]+ .* errors=0 .* requests/op=2\.00 `).MatchString(out.String()) {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
	}
}

// againstEmulatorApart: wxcas with sandbox.emulator_url and `wxcas
// emulator` in a process of its own; the tool binds (the SMS codes from the
// emulator's inbox) and measures returning logins, whose QR codes come from
// the emulator's process.
func againstEmulatorApart(t *testing.T, bin string) {
	emulator := "http://" + freeAddr(t)
	base := startSandbox(t, bin, emulator)
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"-base", base, "-emulator", emulator, "-people", "2", "-prefix", "e2e", "-workers", "2",
		"-duration", "1s", "-warmup", "200ms", "-pairs", "1", "-load", "returning"}, &out, &errs)
	if code != 0 || !strings.Contains(out.String(), "bind: 2 people, 2 bound now, 0 bound before") ||
		!strings.Contains(out.String(), "emulator: "+emulator+", apart from wxcas") ||
		!regexp.MustCompile(`(?m)^returning +1/1 wxcas: ops/s=[0-9.]+ .* errors=0 .* requests/op=5\.00 `).MatchString(out.String()) {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
	}
}

// buildWxcas builds wxcas from the module root (../..) into a temporary
// directory.
func buildWxcas(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "wxcas")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build wxcas: %v\n%s", err, out)
	}
	return bin
}

// startSandbox starts bin with a copy of the shipped config.yaml on a free
// port and a fresh SQLite file, waits for /readyz and returns its base URL.
// With an emulator URL it first starts `wxcas emulator` there, from the
// same file and environment, and wxcas uses it.
func startSandbox(t *testing.T, bin, emulator string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(root, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The shipped sandbox, with what a load test needs: its own database,
	// warn-level logs, and a login.per_ip far above what one address sends.
	for _, e := range []struct{ re, to string }{
		{`(?m)^(\s+sqlite_path:).*$`, fmt.Sprintf("${1} %q", filepath.Join(dir, "wxcas.db"))},
		{`(?m)^(\s+level:) \w+$`, "${1} warn"},
		{`(?m)^(\s+per_ip:) .*$`, "${1} {max: 100000000, window: 1m}"},
	} {
		re := regexp.MustCompile(e.re)
		if n := len(re.FindAllIndex(cfg, -1)); n != 1 {
			t.Fatalf("config.yaml: %d lines match %s, want 1: adjust this test to the file", n, e.re)
		}
		cfg = re.ReplaceAll(cfg, []byte(e.to))
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	// WXCAS_LISTEN moves the sandbox, and its public URL follows; the
	// other variables the file reads are cleared so the caller's
	// environment cannot change the instance. The emulator reads the same
	// environment: it pushes the platform's tickets to WXCAS_LISTEN.
	env := append(os.Environ(), "WXCAS_LISTEN="+addr, "WXCAS_PUBLIC_URL=", "WXCAS_METRICS_LISTEN=", "WXCAS_SECRET_KEY=",
		"WXCAS_EMULATOR_URL="+emulator)
	if emulator != "" {
		startProcess(t, bin, dir, env, emulator+"/healthz", "emulator", "-config", cfgPath)
	}
	base := "http://" + addr
	startProcess(t, bin, dir, env, base+"/readyz", "serve", "-config", cfgPath)
	return base
}

// startProcess runs bin with args until the test ends, and waits until
// ready answers 200.
func startProcess(t *testing.T, bin, dir string, env []string, ready string, args ...string) {
	t.Helper()
	var log bytes.Buffer
	srv := exec.Command(bin, args...)
	srv.Dir, srv.Env = dir, env
	srv.Stdout, srv.Stderr = &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { srv.Wait(); close(exited) }()
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			srv.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("wxcas %s log:\n%s", args[0], log.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("wxcas %s exited: %v", args[0], srv.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("wxcas %s not ready after 30s", args[0])
		}
	}
}

// freeAddr finds a loopback port nobody listens on (a moment ago).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
