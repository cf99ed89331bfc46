package main

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
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
