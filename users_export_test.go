package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/store"
	"wxcas/store/storetest"
)

// seedBindings fills the built-in directory with n bound users, each with
// one website account, by multi-row INSERTs: user i has phone
// +86138<i, 8 digits>, openid o<i> and unionid un<i>.
func seedBindings(t *testing.T, db *store.DB, n int) {
	t.Helper()
	ctx := context.Background()
	at := store.Time(storetest.T0)
	const batch = 1000
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		var users, accounts, bindings []string
		var uArgs, aArgs, bArgs []any
		for i := start; i < end; i++ {
			id := fmt.Sprintf("u%07d", i)
			users = append(users, "(?, ?, ?)")
			uArgs = append(uArgs, id, fmt.Sprintf("+86138%08d", i), at)
			accounts = append(accounts, "('wxweb', ?, ?, 'nick', '', ?, ?)")
			aArgs = append(aArgs, fmt.Sprintf("o%07d", i), fmt.Sprintf("un%07d", i), at, at)
			bindings = append(bindings, "(?, ?, ?)")
			bArgs = append(bArgs, fmt.Sprintf("u:un%07d", i), id, at)
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO users (id, phone, created_at) VALUES ` + strings.Join(users, ", "), uArgs},
			{`INSERT INTO wechat_accounts (appid, openid, unionid, nickname, avatar_url, first_seen_at, last_seen_at) VALUES ` + strings.Join(accounts, ", "), aArgs},
			{`INSERT INTO wechat_bindings (identity_key, user_id, created_at) VALUES ` + strings.Join(bindings, ", "), bArgs},
		} {
			_, err := db.ExecContext(ctx, q.sql, q.args...)
			require.NoError(t, err)
		}
	}
}

// lineCounter counts the lines written to it and keeps a few.
type lineCounter struct {
	lines int
	first []byte // the first 4 KiB
	last  []byte // the last write
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	if len(c.first) < 4096 {
		c.first = append(c.first, p[:min(len(p), 4096-len(c.first))]...)
	}
	c.last = append(c.last[:0], p...)
	return len(p), nil
}

// heapPeak samples the heap in use until stop is called and returns the
// highest sample above the level at the start, and the bytes allocated
// meanwhile. The collector runs at 5 % growth meanwhile, so that the peak
// is what is held, not garbage a lazy collection left (however large the
// rest of the test binary's heap).
func heapPeak() (stop func() (peak, allocated uint64)) {
	old := debug.SetGCPercent(5)
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	base, peak, total := m.HeapInuse, m.HeapInuse, m.TotalAlloc
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		debug.SetGCPercent(old)
		runtime.ReadMemStats(&m)
		return peak - base, m.TotalAlloc - total
	}
}

// An export of 100k bindings streams: the heap it needs stays far below
// what holding the bindings would take (measured for comparison: the same
// bindings with their accounts and users loaded at once).
func TestUsersExportBoundedMemory(t *testing.T) {
	const n = 100_000
	forEachOperatorDB(t, "", func(t *testing.T, cfg string, db *store.DB) {
		start := time.Now()
		seedBindings(t, db, n)
		seeded := time.Since(start)

		var out lineCounter
		var errb bytes.Buffer
		stop := heapPeak()
		start = time.Now()
		code := run(context.Background(), []string{"users", "export", "-config", cfg, "--reveal-phones"}, &out, &errb)
		took := time.Since(start)
		peak, allocated := stop()
		require.Equal(t, exitOK, code, errb.String())
		require.Equal(t, n+1, out.lines, "a header and every binding")
		require.Contains(t, string(out.first), "\nu0000000,u0000000,+8613800000000,true,u:un0000000,un0000000,2026-11-21T08:00:00Z,wxweb:o0000000\n")
		require.Contains(t, string(out.last), "u0099999,u0099999,+8613800099999,true,u:un0099999,un0099999,")

		// What loading the whole table would hold, for comparison.
		stop = heapPeak()
		var all []struct {
			Key    string    `db:"identity_key"`
			UserID string    `db:"user_id"`
			At     time.Time `db:"created_at"`
			OpenID string    `db:"openid"`
			Union  string    `db:"unionid"`
			Phone  string    `db:"phone"`
		}
		require.NoError(t, db.Select(&all, `SELECT b.identity_key, b.user_id, b.created_at, a.openid, a.unionid, u.phone
FROM wechat_bindings b JOIN wechat_accounts a ON a.unionid = SUBSTR(b.identity_key, 3) JOIN users u ON u.id = b.user_id`))
		whole, _ := stop()
		require.Len(t, all, n)
		all = nil

		t.Logf("%s: seeded %d bindings in %v; export in %v, heap in use peaked %.1f MiB above the start, %d bytes allocated per binding (the whole table loaded: %.1f MiB)",
			db.Dialect, n, seeded.Round(time.Millisecond), took.Round(time.Millisecond), float64(peak)/(1<<20), allocated/n, float64(whole)/(1<<20))
		require.Less(t, peak, uint64(4<<20), "the export holds a batch or two, not the table")
		require.Less(t, peak, whole/2, "the export needs less than half of a whole-table load")
	})
}

// --out never writes through a symbolic link, nor to anything but a
// regular file of its own: run as root in /tmp, a planted link or pipe
// must not make the export truncate or chmod another file.
func TestUsersExportOutIsAFileOfItsOwn(t *testing.T) {
	forEachOperatorDB(t, "", func(t *testing.T, cfg string, db *store.DB) {
		seedPeople(t, db)
		const precious = "someone else's data\n"
		for _, tc := range []struct {
			name string
			// make prepares dir and returns the --out path and the file
			// that must stay as it was ("" none).
			make   func(t *testing.T, dir string) (out, kept string)
			refuse string // in stderr; "" the export is written
		}{
			{"a symbolic link to a file", func(t *testing.T, dir string) (string, string) {
				target := writeFile(t, dir, "target", precious, 0o644)
				require.NoError(t, os.Symlink(target, filepath.Join(dir, "out")))
				return filepath.Join(dir, "out"), target
			}, "is a symbolic link"},
			{"a dangling symbolic link", func(t *testing.T, dir string) (string, string) {
				require.NoError(t, os.Symlink(filepath.Join(dir, "made"), filepath.Join(dir, "out")))
				return filepath.Join(dir, "out"), ""
			}, "is a symbolic link"},
			{"a named pipe", func(t *testing.T, dir string) (string, string) {
				require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "out"), 0o666))
				return filepath.Join(dir, "out"), ""
			}, "is not a regular file (mode p"},
			{"a directory", func(t *testing.T, dir string) (string, string) {
				require.NoError(t, os.Mkdir(filepath.Join(dir, "out"), 0o755))
				return filepath.Join(dir, "out"), ""
			}, "is not a regular file (mode d"},
			{"another name of a file", func(t *testing.T, dir string) (string, string) {
				target := writeFile(t, dir, "target", precious, 0o644)
				require.NoError(t, os.Link(target, filepath.Join(dir, "out")))
				return filepath.Join(dir, "out"), target
			}, "has other hard links"},
			{"an old export is replaced, readable by its owner alone", func(t *testing.T, dir string) (string, string) {
				return writeFile(t, dir, "out", strings.Repeat("old line\n", 100), 0o644), ""
			}, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dir := t.TempDir()
				out, kept := tc.make(t, dir)
				before, _ := os.Lstat(out)
				r := runCmd("users", "export", "-config", cfg, "--out", out)
				if tc.refuse != "" {
					require.Equal(t, exitFailure, r.code, r.stderr)
					require.Contains(t, r.stderr, tc.refuse)
					after, err := os.Lstat(out)
					require.NoError(t, err, "left in place")
					require.Equal(t, before.Mode(), after.Mode(), "not chmodded")
					_, err = os.Stat(filepath.Join(dir, "made"))
					require.ErrorIs(t, err, os.ErrNotExist, "nothing created through a link")
					if kept != "" {
						b, err := os.ReadFile(kept)
						require.NoError(t, err)
						require.Equal(t, precious, string(b), "not truncated, not written")
						fi, err := os.Stat(kept)
						require.NoError(t, err)
						require.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "not chmodded")
					}
					return
				}
				require.Equal(t, exitOK, r.code, r.stderr)
				b, err := os.ReadFile(out)
				require.NoError(t, err)
				require.True(t, strings.HasPrefix(string(b), "user_id,principal,"), string(b))
				require.NotContains(t, string(b), "old line")
				fi, err := os.Stat(out)
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			})
		}
	})
}

// writeFile writes a file of dir with mode perm and returns its path.
func writeFile(t *testing.T, dir, name, content string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), perm))
	require.NoError(t, os.Chmod(p, perm))
	return p
}
