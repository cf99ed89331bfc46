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

func TestBump(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		// Any table with the counter columns will do; the OTP one exists.
		ctx := context.Background()
		now := storetest.NewClock().Now()
		bump := func(at time.Time) (int, time.Time) {
			var used int
			var ends time.Time
			require.NoError(t, db.InTx(ctx, func(tx *sqlx.Tx) (err error) {
				used, ends, err = Bump(ctx, tx, db.Dialect, "otp_send_counters", "k", at, time.Minute)
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
					used, _, err = Bump(ctx, tx, db.Dialect, "otp_send_counters", "race", now, time.Hour)
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
