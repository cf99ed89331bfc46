package ratelimit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"wxcas/store"
	"wxcas/store/storetest"
)

func TestIPSubject(t *testing.T) {
	for raw, want := range map[string]string{
		"192.0.2.1":            "192.0.2.1",
		" 192.0.2.1 ":          "192.0.2.1",
		"::ffff:192.0.2.1":     "192.0.2.1",
		"2001:db8:1:2::1":      "2001:db8:1:2::/64",
		"2001:db8:1:2:a:b:c:d": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
	} {
		got, err := IPSubject(raw)
		require.NoError(t, err, raw)
		require.Equal(t, want, got, raw)
	}
	for _, raw := range []string{"", "example.com", "192.0.2.1:8080"} {
		_, err := IPSubject(raw)
		require.Error(t, err, raw)
	}
}

func TestCounterKey(t *testing.T) {
	require.Equal(t, "global_day", Key("global_day", ""))
	require.Equal(t, "phone_hour:+8613800138000", Key("phone_hour", "+8613800138000"))
	long := Key("identity_day", strings.Repeat("x", 300))
	require.True(t, strings.HasPrefix(long, "identity_day:sha256:"))
	require.LessOrEqual(t, len(long), 191)
}

// forEachServer runs test on every backend, and on MySQL/MariaDB once more
// as MySQL 8 (no RETURNING), the other statement path.
func forEachServer(t *testing.T, test func(t *testing.T, db *store.DB)) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		test(t, db)
		if db.Dialect == store.MySQL && db.Returning {
			t.Run("without RETURNING", func(t *testing.T) {
				mysql8 := *db
				mysql8.Returning = false
				if _, err := db.Exec(`DELETE FROM otp_send_counters`); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(`DELETE FROM api_rate_counters`); err != nil {
					t.Fatal(err)
				}
				test(t, &mysql8)
			})
		}
	})
}

func TestBump(t *testing.T) {
	forEachServer(t, func(t *testing.T, db *store.DB) {
		// Any table with the counter columns will do; the OTP one exists.
		ctx := context.Background()
		now := storetest.NewClock().Now()
		bump := func(at time.Time) (int, time.Time) {
			var used int
			var ends time.Time
			require.NoError(t, db.InTx(ctx, func(tx *sqlx.Tx) (err error) {
				used, ends, err = Bump(ctx, tx, db, "otp_send_counters", "k", at, time.Minute)
				return err
			}))
			return used, ends
		}
		used, ends := bump(now)
		require.Equal(t, 1, used)
		require.True(t, ends.Equal(now.Add(time.Minute)), "%v", ends)
		used, ends2 := bump(now.Add(30 * time.Second))
		require.Equal(t, 2, used, "same window")
		require.True(t, ends2.Equal(ends), "the window does not move")
		used, ends3 := bump(now.Add(time.Minute))
		require.Equal(t, 1, used, "a new window restarts the count")
		require.True(t, ends3.Equal(now.Add(2*time.Minute)))

		var wg sync.WaitGroup
		counts := make(chan int, 20)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var used int
				require.NoError(t, db.InTx(ctx, func(tx *sqlx.Tx) (err error) {
					used, _, err = Bump(ctx, tx, db, "otp_send_counters", "race", now, time.Hour)
					return err
				}))
				counts <- used
			}()
		}
		wg.Wait()
		close(counts)
		seen := map[int]bool{}
		for c := range counts {
			require.False(t, seen[c], "every concurrent call reads its own count")
			seen[c] = true
		}
		require.Len(t, seen, 20)
	})
}

func TestClientSubject(t *testing.T) {
	require.Equal(t, "192.0.2.1", ClientSubject("192.0.2.1"))
	require.Equal(t, "2001:db8:1:2::/64", ClientSubject("2001:db8:1:2::1"))
	require.Equal(t, "invalid", ClientSubject(""), "an unparsable address is one client, never none")
	require.Equal(t, "invalid", ClientSubject("not-an-ip"))
}

func TestLimitProblems(t *testing.T) {
	for _, tc := range []struct {
		lim  Limit
		want []string
	}{
		{Limit{Max: 60, Window: time.Minute}, nil},
		{Limit{}, nil}, // off: no window needed
		{Limit{Max: 1, Window: time.Second}, nil},
		{Limit{Max: 1, Window: 24 * time.Hour}, nil},
		{Limit{Max: -1}, []string{"x.per_ip.max: -1 must not be negative (0 turns the limit off)"}},
		{Limit{Max: 5}, []string{"x.per_ip.window: 0s must be between 1s and 24h"}},
		{Limit{Max: 5, Window: 25 * time.Hour}, []string{"x.per_ip.window: 25h0m0s must be between 1s and 24h"}},
	} {
		require.Equal(t, tc.want, tc.lim.Problems("x.per_ip"), "%+v", tc.lim)
	}
}

// TestLimiter is the Limiter's conformance test on both databases.
func TestLimiter(t *testing.T) {
	forEachServer(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// Any counter table will do; the API's exists in every database.
		l := Limiter{DB: db, Table: "api_rate_counters"}
		now := storetest.NewClock().Now()
		three := Limit{Max: 3, Window: time.Minute}
		hit := func(key string, lim Limit, at time.Time) time.Duration {
			t.Helper()
			wait, err := l.Hit(ctx, key, lim, at)
			require.NoError(t, err)
			return wait
		}
		rows := func() int {
			var n int
			require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM api_rate_counters`))
			return n
		}

		for i := range 3 {
			require.Zero(t, hit("a", three, now.Add(time.Duration(i)*time.Second)), "call %d is within the limit", i+1)
		}
		require.Equal(t, 57*time.Second, hit("a", three, now.Add(3*time.Second)), "over: wait until the window ends")
		require.Zero(t, hit("b", three, now.Add(3*time.Second)), "another key has its own count")
		require.Equal(t, time.Second, hit("a", three, now.Add(time.Minute-time.Millisecond)), "never a wait of 0")
		require.Zero(t, hit("a", three, now.Add(time.Minute)), "a new window")

		require.Zero(t, hit("off", Limit{Max: 0, Window: time.Minute}, now), "Max 0 is off")
		require.Equal(t, 2, rows(), "and counts nothing")

		// Refused calls count: a caller that keeps going over stays refused
		// until the window ends, not until its calls slow down.
		one := Limit{Max: 1, Window: time.Minute}
		require.Zero(t, hit("c", one, now))
		for i := range 5 {
			require.Positive(t, hit("c", one, now.Add(time.Duration(10*i)*time.Second)))
		}
		require.Zero(t, hit("c", one, now.Add(time.Minute)))

		// Of many calls at once, exactly Max get through, on any instance.
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed := 0
		for range 20 {
			wg.Go(func() {
				if hit("race", Limit{Max: 7, Window: time.Hour}, now) == 0 {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Equal(t, 7, allowed)

		// n calls at once: counted together, refused together.
		require.Zero(t, hit("n", three, now))
		wait, err := l.HitN(ctx, "n", 2, three, now)
		require.NoError(t, err)
		require.Zero(t, wait, "1 + 2 is within 3")
		wait, err = l.HitN(ctx, "n", 2, three, now.Add(time.Second))
		require.NoError(t, err)
		require.Equal(t, 59*time.Second, wait, "5 is over 3")
		wait, err = l.HitN(ctx, "n", 2, three, now.Add(time.Minute))
		require.NoError(t, err)
		require.Zero(t, wait, "a new window starts at 2")
		require.Zero(t, hit("n", three, now.Add(time.Minute)), "3")
		require.Positive(t, hit("n", three, now.Add(time.Minute)), "4")
		_, err = db.Exec(`DELETE FROM api_rate_counters WHERE counter_key = 'n'`)
		require.NoError(t, err)

		// The clean-up takes the ended windows only.
		n, err := l.Cleanup(ctx, now.Add(64*time.Second))
		require.NoError(t, err)
		require.Equal(t, int64(1), n, "b's window ended at +63s; a's and c's new ones end at +120s, race's in an hour")
		require.Equal(t, 3, rows())
	})
}
