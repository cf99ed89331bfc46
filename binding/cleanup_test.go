package binding_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/binding"
	"wxcas/login"
	"wxcas/logx"
	"wxcas/otp/otptest"
	"wxcas/store"
	"wxcas/store/storetest"
)

var day0 = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

func count(t *testing.T, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.Get(&n, db.Rebind(q), args...))
	return n
}

// TestCleanupAccounts is issue 11 item 7: WeChat accounts that no binding
// reaches are forgotten once unseen for the ttl; every account a binding
// reaches (by unionid or by appid and openid) stays, however old.
func TestCleanupAccounts(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := binding.NewSQLStore(db)
		old, recent := day0, day0.Add(40*24*time.Hour)
		cutoff := day0.Add(30 * 24 * time.Hour)
		web := func(openid, unionid string) binding.Account {
			return binding.Account{AppID: "wxweb", OpenID: openid, UnionID: unionid}
		}
		// More than a batch of stale sightings, with bound accounts among
		// them, so the cursor has to walk past kept rows.
		var values []string
		for i := range 1200 {
			values = append(values, fmt.Sprintf("('wxweb', 'stale%04d', NULL, '%s', '%s')", i, "2026-01-01 00:00:00", old.Add(time.Duration(i)*time.Second).Format("2006-01-02 15:04:05")))
		}
		_, err := db.Exec(`INSERT INTO wechat_accounts (appid, openid, unionid, first_seen_at, last_seen_at) VALUES ` + strings.Join(values, ", "))
		require.NoError(t, err)

		tests := []struct {
			name string
			acct binding.Account
			seen time.Time
			bind bool
			kept bool
		}{
			{"unbound, unseen for longer than the ttl", web("o-gone", "u-gone"), old, false, false},
			{"unbound, seen lately", web("o-recent", ""), recent, false, true},
			{"bound by unionid, long unseen", web("o-bound-u", "u-bound"), old, true, true},
			{"bound by openid, long unseen", web("o-bound-o", ""), old, true, true},
		}
		for _, tc := range tests {
			_, err := s.Seen(ctx, tc.acct, tc.seen)
			require.ErrorIs(t, err, binding.ErrNotFound)
			if tc.bind {
				require.NoError(t, s.Bind(ctx, tc.acct, "user-"+tc.acct.OpenID, false, tc.seen))
			}
		}
		// Another app's account of a bound person: reached by the unionid.
		_, err = s.Seen(ctx, binding.Account{AppID: "wxoa", OpenID: "o-oa", UnionID: "u-bound"}, old)
		require.NoError(t, err)

		n, err := s.CleanupAccounts(ctx, cutoff)
		require.NoError(t, err)
		require.EqualValues(t, 1200+1, n)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				accts, err := s.Accounts(ctx, tc.acct)
				require.NoError(t, err)
				require.Equal(t, tc.kept, len(accts) > 0)
			})
		}
		require.Equal(t, 1, count(t, db, `SELECT COUNT(*) FROM wechat_accounts WHERE appid = 'wxoa'`), "reached through the unionid")
		require.Zero(t, count(t, db, `SELECT COUNT(*) FROM wechat_accounts WHERE openid LIKE 'stale%'`))
		n, err = s.CleanupAccounts(ctx, cutoff)
		require.NoError(t, err)
		require.Zero(t, n, "a second run finds nothing")
	})
}

// TestConcurrentFirstLoginsLeaveNoOrphanUsers is issue 11 item 7: one
// WeChat person's first login racing with itself on several phones (two
// tabs, a double submit, the mini program and the browser) creates users
// of which only one gets the binding. The clean-up, running all along,
// removes the others once past the grace period, and never a bound user —
// not even a user left over from an earlier failed login that a racing
// bind is linking at that very moment. Since issue 12 the losers create
// no user at all (the binding is one transaction).
func TestConcurrentFirstLoginsLeaveNoOrphanUsers(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := storetest.NewClock()
		dir := binding.NewSQLStore(db)
		dir.UseAsDirectory()
		svc := login.New(login.DefaultConfig(), dir, dir, nil, db, clock.Now, logx.Discard())
		const grace = 24 * time.Hour
		const n = 8
		// Half the phones already have a user from a failed login two days
		// ago: the clean-up wants them gone while the binds want them.
		for i := range n / 2 {
			_, err := dir.Create(ctx, string(otptest.Phone(i)), clock.Now().Add(-2*grace))
			require.NoError(t, err)
		}

		for round := range 3 {
			person := login.Identity{Account: binding.Account{AppID: "wxweb", OpenID: fmt.Sprintf("o-%d", round), UnionID: fmt.Sprintf("u-%d", round)}}
			// Every login first identifies the person (which records the
			// account), then binds.
			_, err := svc.Identify(ctx, person)
			require.ErrorIs(t, err, login.ErrUnbound)
			stop := make(chan struct{})
			var cleaner sync.WaitGroup
			cleaner.Add(1)
			go func() {
				defer cleaner.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					_, err := dir.CleanupOrphanUsers(ctx, clock.Now().Add(-grace))
					if err != nil && !store.IsDeadlock(err) {
						t.Error(err)
						return
					}
				}
			}()
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = svc.BindVerifiedPhone(ctx, person, otptest.Phone(round*n+i))
				}()
			}
			wg.Wait()
			close(stop)
			cleaner.Wait()
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case errors.Is(err, binding.ErrPersonBound), errors.Is(err, binding.ErrNotFound):
					// lost the race, or the user was cleaned up first
				default:
					t.Fatalf("unexpected error: %v", err)
				}
			}
			require.LessOrEqual(t, wins, 1, "round %d", round)
			require.Zero(t, count(t, db, `SELECT COUNT(*) FROM wechat_bindings b WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = b.user_id)`),
				"round %d: a bound user was removed", round)
		}

		orphans := `SELECT COUNT(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM wechat_bindings b WHERE b.user_id = u.id)`
		// Since issue 12 a binding is atomic (login.BindThen): a loser's
		// user is rolled back with its failed binding, so only users left
		// from the earlier failed logins can be orphans here.
		var fresh int
		require.NoError(t, db.GetContext(ctx, &fresh, db.Rebind(orphans+` AND u.created_at > ?`), store.Time(clock.Now().Add(-grace))))
		require.Zero(t, fresh, "the losers of the races created no user")
		clock.Advance(grace + time.Second)
		_, err := dir.CleanupOrphanUsers(ctx, clock.Now().Add(-grace))
		require.NoError(t, err)
		require.Zero(t, count(t, db, orphans), "no user without a binding is left")
		require.Equal(t, count(t, db, `SELECT COUNT(*) FROM wechat_bindings`), count(t, db, `SELECT COUNT(*) FROM users`),
			"every bound user is kept")
	})
}

// TestUnboundPersonIsNoOrphan: a user whose binding was removed later (the
// account page, an operator) is a person, not a failed first login's
// leftover: the orphan clean-up keeps them.
func TestUnboundPersonIsNoOrphan(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		dir := binding.NewSQLStore(db)
		dir.UseAsDirectory()
		person, err := dir.Create(ctx, "+8613733330001", day0)
		require.NoError(t, err)
		leftover, err := dir.Create(ctx, "+8613733330002", day0)
		require.NoError(t, err)
		acct := binding.Account{AppID: "wxapp", OpenID: "o-" + strings.ToLower(person.ID)}
		require.NoError(t, dir.Bind(ctx, acct, person.ID, false, day0))
		_, err = dir.UnbindUser(ctx, person.ID)
		require.NoError(t, err)

		n, err := dir.CleanupOrphanUsers(ctx, day0.Add(time.Hour))
		require.NoError(t, err)
		require.EqualValues(t, 1, n, "only the leftover")
		_, err = dir.FindByID(ctx, person.ID)
		require.NoError(t, err, "the unbound person is kept")
		_, err = dir.FindByID(ctx, leftover.ID)
		require.ErrorIs(t, err, binding.ErrNotFound)
	})
}
