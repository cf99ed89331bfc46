package otp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/challenge"
	"wxcas/challenge/challengetest"
	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/store"
	"wxcas/store/storetest"
)

// backends runs fn on SQLite and on MySQL; fresh gives each subtest an
// empty database of that backend.
func backends(t *testing.T, fn func(t *testing.T, fresh func(t testing.TB) *store.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLite) })
	t.Run("mysql", func(t *testing.T) { fn(t, storetest.MySQL) })
}

// challengeEnv is an otp.Service with the adaptive challenge on, over the
// real stores of db (codes, counters and challenges in one database).
func challengeEnv(t *testing.T, db *store.DB, tune func(*otp.Config, *otp.ChallengeConfig)) *otptest.Env {
	t.Helper()
	return challengeEnvOver(t, db, otp.NewSQLStore(db), tune)
}

// challengeEnvOver is challengeEnv with the codes and counters in st (a
// wrapper of db's store).
func challengeEnvOver(t *testing.T, db *store.DB, st otp.Store, tune func(*otp.Config, *otp.ChallengeConfig)) *otptest.Env {
	t.Helper()
	cc := otp.DefaultChallengeConfig()
	e := otptest.NewEnv(t, st, func(c *otp.Config) {
		if tune != nil {
			tune(c, &cc)
		}
	})
	chal, err := challenge.New([]byte("challenge-test-key-0123456789abcdef"), challenge.SQLStore{DB: db}, e.Clock.Now)
	require.NoError(t, err)
	e.Svc.UseChallenges(chal, cc)
	return e
}

// cheapWork keeps the scenarios' challenges small: what they measure is
// who gets a code, not how long solving takes (the race detector makes
// hashing slow).
func cheapWork(_ *otp.Config, cc *otp.ChallengeConfig) { cc.Difficulty = 500 }

// person is one person's send: their own phone, WeChat identity and login.
func person(i int, ip string) otp.SendRequest {
	return otp.SendRequest{Phone: otptest.Phone(i), IP: ip, Identity: fmt.Sprintf("wx:o-%d", i),
		Purpose: otptest.Purpose, Holder: fmt.Sprintf("flow:%d", i)}
}

// sendSolving sends, and when a challenge is asked for solves it as the
// browser would and sends again; it reports whether one was asked.
func sendSolving(ctx context.Context, svc *otp.Service, req otp.SendRequest) (challenged bool, err error) {
	_, err = svc.Send(ctx, req)
	var ce *otp.ChallengeError
	if !errors.As(err, &ce) {
		return false, err
	}
	req.Solution = challengetest.Solve(ce.Challenge)
	_, err = svc.Send(ctx, req)
	return true, err
}

// TestCampusNATAndSMSPump: 200 people behind one campus address in an hour
// all get their codes (with a challenge once the address is busy, and no
// lock-out, one in five mistyping their number first), while one address sending to random numbers that never come
// back is stopped after a handful, challenge solved or not.
func TestCampusNATAndSMSPump(t *testing.T) {
	ctx := context.Background()
	backends(t, func(t *testing.T, fresh func(t testing.TB) *store.DB) {
		t.Run("campus NAT: 200 phones from one address in an hour", func(t *testing.T) {
			e := challengeEnv(t, fresh(t), cheapWork)
			const people = 200
			challenged := 0
			for i := range people {
				if i%5 == 3 {
					// A mistyped number first, then "change number": the
					// right code gives both sends back.
					typo := person(i, "203.0.113.50")
					typo.Phone = otptest.Phone(100_000 + i)
					_, err := sendSolving(ctx, e.Svc, typo)
					require.NoError(t, err, "person %d's typo", i)
				}
				asked, err := sendSolving(ctx, e.Svc, person(i, "203.0.113.50"))
				require.NoError(t, err, "person %d", i)
				if asked {
					challenged++
				}
				// Almost everyone types their code; one in twenty walks away.
				if i%20 != 7 {
					holder := fmt.Sprintf("flow:%d", i)
					require.NoError(t, e.VerifyAs(holder, otptest.Phone(i), e.Outbox.Last(otptest.Phone(i))))
					e.Svc.ConfirmLogin(ctx, holder, otptest.Purpose) // bound
				}
				e.Clock.Advance(time.Hour / people)
			}
			require.Equal(t, people+people/5, e.Outbox.Total(), "every person got a code (and one in five a code to a mistyped number)")
			require.GreaterOrEqual(t, challenged, people-otp.DefaultChallengeConfig().IPHour, "a busy address is challenged")
			t.Logf("%d of %d sends needed a challenge", challenged, people)
		})

		t.Run("SMS pump: one address, random numbers, never confirmed", func(t *testing.T) {
			e := challengeEnv(t, fresh(t), cheapWork)
			sent, challenged := 0, 0
			var last error
			for i := range 100 {
				req := person(10_000+i*7919%90_000, "198.51.100.66") // numbers all over the range
				asked, err := sendSolving(ctx, e.Svc, req)
				if asked {
					challenged++
				}
				if err == nil {
					sent++
				}
				last = err
				e.Clock.Advance(time.Second)
			}
			require.Equal(t, e.Config.PerIPUnconfirmedHour, sent, "stopped at the unconfirmed-codes limit")
			require.ErrorIs(t, last, otp.ErrRateLimited)
			var le *otp.LimitError
			require.ErrorAs(t, last, &le)
			require.Equal(t, otp.LimitIPUnconfirmed, le.Limit)
			require.Equal(t, e.Config.PerIPUnconfirmedHour-otp.DefaultChallengeConfig().IPUnconfirmed, challenged,
				"every send after the first two needed a challenge; once refused, none is offered")
			require.Equal(t, sent, e.Outbox.Total())

			_, err := sendSolving(ctx, e.Svc, person(1, "198.51.100.67"))
			require.NoError(t, err, "another address is not affected")
		})

		t.Run("SMS pump with a phone of its own: entering its own codes frees no stranger's send", func(t *testing.T) {
			// Each login sends to two strangers, then to the pump's own
			// phone, and enters that code; the binding is then refused
			// (the phone is someone else's binding), so ConfirmLogin never
			// runs. Found by an outside probe: 26 strangers' codes.
			e := challengeEnv(t, fresh(t), func(c *otp.Config, cc *otp.ChallengeConfig) {
				cheapWork(c, cc)
				c.PerPhoneHour, c.PerPhoneDay, c.PerIdentityDay = 100, 100, 100
			})
			own := otptest.Phone(99)
			strangers := 0
			for round := range 30 {
				holder := fmt.Sprintf("flow:pump-%d", round)
				for k := range 2 {
					req := person(20_000+round*2+k, "198.51.100.70")
					req.Holder = holder
					if _, err := sendSolving(ctx, e.Svc, req); err == nil {
						strangers++
					}
				}
				req := person(0, "198.51.100.70")
				req.Phone, req.Holder = own, holder
				if _, err := sendSolving(ctx, e.Svc, req); err == nil {
					_ = e.VerifyAs(holder, own, e.Outbox.Last(own))
				}
				e.Clock.Advance(time.Minute)
			}
			require.LessOrEqual(t, strangers, e.Config.PerIPUnconfirmedHour, "strangers' codes stop at the unconfirmed-codes limit")
			t.Logf("%d strangers' codes in 30 rounds", strangers)
		})

		t.Run("SMS pump binding its own phone again and again frees one stranger's send a binding", func(t *testing.T) {
			// A second outside probe: bind the pump's phone (ConfirmLogin
			// runs), unbind it through the account page, repeat. The
			// phone's own hourly limit bounds the bindings.
			e := challengeEnv(t, fresh(t), cheapWork)
			own := otptest.Phone(98)
			strangers, bindings := 0, 0
			for round := range 30 {
				holder := fmt.Sprintf("flow:binder-%d", round)
				for k := range 3 {
					req := person(30_000+round*3+k, "198.51.100.71")
					req.Holder = holder
					if _, err := sendSolving(ctx, e.Svc, req); err == nil {
						strangers++
					}
				}
				req := person(0, "198.51.100.71")
				req.Phone, req.Holder, req.Identity = own, holder, fmt.Sprintf("wx:binder-%d", round)
				if _, err := sendSolving(ctx, e.Svc, req); err == nil {
					require.NoError(t, e.VerifyAs(holder, own, e.Outbox.Last(own)))
					e.Svc.ConfirmLogin(ctx, holder, otptest.Purpose) // bound
					bindings++
				}
				e.Clock.Advance(time.Minute)
			}
			require.LessOrEqual(t, bindings, e.Config.PerPhoneHour)
			require.LessOrEqual(t, strangers, e.Config.PerIPUnconfirmedHour+bindings, "one stranger's send a binding, no more")
			t.Logf("%d strangers' codes, %d bindings of the pump's phone in 30 minutes", strangers, bindings)
		})
	})
}

// TestChallengeGate: when a send needs a challenge, and what a solution
// must be.
func TestChallengeGate(t *testing.T) {
	ctx := context.Background()
	backends(t, func(t *testing.T, fresh func(t testing.TB) *store.DB) {
		t.Run("below every threshold nothing is asked", func(t *testing.T) {
			e := challengeEnv(t, fresh(t), nil)
			for i := range 2 {
				_, err := e.Svc.Send(ctx, person(i, "192.0.2.10"))
				require.NoError(t, err)
				require.NoError(t, e.VerifyAs(fmt.Sprintf("flow:%d", i), otptest.Phone(i), e.Outbox.Last(otptest.Phone(i))))
			}
			c, err := e.Svc.ChallengeFor(ctx, person(3, "192.0.2.10"))
			require.NoError(t, err)
			require.Nil(t, c)
		})

		cases := []struct {
			name   string
			before func(e *otptest.Env) // sends that bring one counter to its threshold
			next   otp.SendRequest
		}{
			{"the address's unconfirmed codes", func(e *otptest.Env) {
				for i := range 2 {
					_, err := e.Svc.Send(ctx, person(i, "192.0.2.20"))
					require.NoError(t, err)
				}
			}, person(5, "192.0.2.20")},
			{"the phone's sends this hour", func(e *otptest.Env) {
				for i := range 2 {
					req := person(1, fmt.Sprintf("192.0.2.%d", 30+i))
					req.Holder = fmt.Sprintf("flow:p%d", i)
					_, err := e.Svc.Send(ctx, req)
					require.NoError(t, err)
					e.Clock.Advance(time.Minute)
				}
			}, person(1, "192.0.2.39")},
			{"the person's sends today", func(e *otptest.Env) {
				for i := range 3 {
					req := person(10+i, fmt.Sprintf("192.0.2.%d", 40+i))
					req.Identity = "wx:o-same"
					_, err := e.Svc.Send(ctx, req)
					require.NoError(t, err)
				}
			}, func() otp.SendRequest { r := person(20, "192.0.2.49"); r.Identity = "wx:o-same"; return r }()},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := challengeEnv(t, fresh(t), func(c *otp.Config, cc *otp.ChallengeConfig) { cc.GlobalHour = 0 })
				tc.before(e)
				_, err := e.Svc.Send(ctx, tc.next)
				var ce *otp.ChallengeError
				require.ErrorAs(t, err, &ce)
				require.ErrorIs(t, err, otp.ErrChallengeRequired)
				require.False(t, ce.Failed)
				require.Equal(t, int64(50_000), ce.Challenge.MaxNumber, "one signal: the base difficulty")

				wrong := tc.next
				wrong.Solution = challengetest.Payload(ce.Challenge, ce.Challenge.MaxNumber+1)
				_, err = e.Svc.Send(ctx, wrong)
				var again *otp.ChallengeError
				require.ErrorAs(t, err, &again, "a wrong answer sends nothing")
				require.True(t, again.Failed)
				require.NotEqual(t, ce.Challenge.Challenge, again.Challenge.Challenge, "and hands out a new one")

				mine := again.Challenge
				other := tc.next
				other.Holder = "flow:someone-else"
				other.Solution = challengetest.Solve(mine)
				_, err = e.Svc.Send(ctx, other)
				require.ErrorAs(t, err, &again, "a challenge solved for another login does not count")
				require.True(t, again.Failed)

				sent := e.Outbox.Total()
				ok := tc.next
				ok.Solution = challengetest.Solve(mine)
				_, err = e.Svc.Send(ctx, ok)
				require.NoError(t, err)
				require.Equal(t, sent+1, e.Outbox.Total())

				e.Clock.Advance(time.Minute)
				_, err = e.Svc.Send(ctx, ok)
				require.ErrorAs(t, err, &again, "a solution is used once")
				require.Equal(t, sent+1, e.Outbox.Total())
			})
		}

		t.Run("the whole service above normal asks everyone, harder with more signals", func(t *testing.T) {
			e := challengeEnv(t, fresh(t), func(c *otp.Config, cc *otp.ChallengeConfig) { cc.GlobalHour = 5 })
			for i := range 5 {
				_, err := sendSolving(ctx, e.Svc, person(i, fmt.Sprintf("198.51.100.%d", i+1)))
				require.NoError(t, err)
			}
			c, err := e.Svc.ChallengeFor(ctx, person(9, "198.51.100.99"))
			require.NoError(t, err)
			require.NotNil(t, c, "a fresh address and person are asked too")
			require.Equal(t, int64(50_000), c.MaxNumber)

			req := person(9, "198.51.100.1") // that address also has an unconfirmed code
			for range 2 {
				_, err := sendSolving(ctx, e.Svc, func() otp.SendRequest { r := req; r.Phone = otptest.Phone(50 + e.Outbox.Total()); return r }())
				require.NoError(t, err)
			}
			c, err = e.Svc.ChallengeFor(ctx, req)
			require.NoError(t, err)
			require.Equal(t, int64(100_000), c.MaxNumber, "two signals: twice the work")
		})

		t.Run("a challenge solved at a lower difficulty than the send now needs asks for a new one", func(t *testing.T) {
			// An outside probe: the login's challenge from when one signal
			// was on paid for a send that needed twice the work.
			e := challengeEnv(t, fresh(t), func(c *otp.Config, cc *otp.ChallengeConfig) { cheapWork(c, cc); cc.GlobalHour = 0 })
			for i := range 2 { // the address's unconfirmed codes reach 2: one signal
				_, err := e.Svc.Send(ctx, person(i, "192.0.2.80"))
				require.NoError(t, err)
			}
			req := person(5, "192.0.2.80")
			easy, err := e.Svc.ChallengeFor(ctx, req)
			require.NoError(t, err)
			require.Equal(t, int64(500), easy.MaxNumber)
			for i := range 2 { // the phone's hour reaches 2 from other addresses: two signals
				other := person(5, fmt.Sprintf("192.0.2.%d", 90+i))
				other.Holder = fmt.Sprintf("flow:other-%d", i)
				_, err := sendSolving(ctx, e.Svc, other)
				require.NoError(t, err)
				e.Clock.Advance(time.Minute)
			}
			req.Solution = challengetest.Solve(*easy)
			_, err = e.Svc.Send(ctx, req)
			var ce *otp.ChallengeError
			require.ErrorAs(t, err, &ce, "the easy solution does not pay for this send")
			require.False(t, ce.Failed, "not a wrong answer: more work is needed")
			require.Equal(t, int64(1000), ce.Challenge.MaxNumber)
			req.Solution = challengetest.Solve(ce.Challenge)
			_, err = e.Svc.Send(ctx, req)
			require.NoError(t, err)
		})

		t.Run("sends racing past one reading are counted one by one", func(t *testing.T) {
			// Every send reads the counters (nothing over the threshold)
			// before any of them is counted: the barrier holds the reads
			// until all have arrived.
			const racers, threshold = 8, 3
			db := fresh(t)
			st := &readBarrier{Store: otp.NewSQLStore(db), waiting: racers}
			st.arrived.Add(racers)
			e := challengeEnvOver(t, db, st, func(c *otp.Config, cc *otp.ChallengeConfig) {
				c.PerIPHour = threshold + 2
				cc.IPHour, cc.IPUnconfirmed, cc.GlobalHour = threshold, 0, 0
			})
			errs := make([]error, racers)
			var wg sync.WaitGroup
			for i := range racers {
				wg.Go(func() { _, errs[i] = e.Svc.Send(ctx, person(i, "192.0.2.70")) })
			}
			wg.Wait()
			sent, challenged := 0, 0
			for _, err := range errs {
				if err == nil {
					sent++
				} else {
					// Counted at the threshold: a challenge; or past the
					// hard limit while the others' counts were not yet
					// given back: refused outright.
					var le *otp.LimitError
					if !errors.As(err, &le) {
						require.ErrorIs(t, err, otp.ErrChallengeRequired)
					}
					challenged++
				}
			}
			require.Equal(t, threshold, sent, "as many codes as one at a time would send")
			require.Equal(t, racers-threshold, challenged, "and the rest refused")
			require.Equal(t, threshold, e.Outbox.Total())

			// The refused sends gave their counts back: the address's hard
			// limit (5) has room for exactly two more, each after a challenge.
			for i := range 2 {
				challenged, err := sendSolving(ctx, e.Svc, person(20+i, "192.0.2.70"))
				require.NoError(t, err)
				require.True(t, challenged)
			}
			_, err := e.Svc.Send(ctx, person(30, "192.0.2.70"))
			var le *otp.LimitError
			require.ErrorAs(t, err, &le, "then the hard limit")
		})

		t.Run("waits are read, not counted", func(t *testing.T) {
			e := challengeEnv(t, fresh(t), nil)
			req := person(1, "192.0.2.60")
			_, err := e.Svc.Send(ctx, req)
			require.NoError(t, err)
			e.Clock.Advance(20 * time.Second)
			for range 3 {
				w, err := e.Svc.WaitFor(ctx, req.Phone, req.IP, req.Identity)
				require.NoError(t, err)
				require.Equal(t, otp.Waits{Phone: 40 * time.Second}, w, "the cooldown's rest; another number need not wait")
			}
			e.Clock.Advance(40 * time.Second)
			w, err := e.Svc.WaitFor(ctx, req.Phone, req.IP, req.Identity)
			require.NoError(t, err)
			require.Zero(t, w)
		})
	})
}

// TestAllowedRegions: with otp.allowed_regions set, a number of another
// region gets no code and costs no counter.
func TestAllowedRegions(t *testing.T) {
	ctx := context.Background()
	e := otptest.NewEnv(t, otp.NewSQLStore(storetest.SQLite(t)), func(c *otp.Config) { c.Regions = []string{"CN", "hk"} })
	for phone, allowed := range map[otp.Phone]bool{"+8613800138000": true, "+85251234567": true, "+447400123456": false, "+12015550123": false} {
		req := otptest.SendReq(phone)
		_, err := e.Svc.Send(ctx, req)
		if allowed {
			require.NoError(t, err, phone)
			continue
		}
		require.ErrorIs(t, err, otp.ErrRegionNotAllowed, phone)
		require.Zero(t, e.Outbox.Count(phone))
	}
	counts, err := e.Store.Counts(ctx, e.Clock.Now(), []string{"ip_hour:192.0.2.1"})
	require.NoError(t, err)
	require.Equal(t, 2, counts["ip_hour:192.0.2.1"].Used, "refused regions cost nothing")
}

// readBarrier holds its first waiting reads of the counters until all of
// them have arrived, so that many sends read before any is counted.
type readBarrier struct {
	otp.Store
	arrived sync.WaitGroup
	waiting int32
	reads   atomic.Int32
}

func (b *readBarrier) Counts(ctx context.Context, now time.Time, keys []string) (map[string]otp.Count, error) {
	if b.reads.Add(1) <= b.waiting {
		b.arrived.Done()
		b.arrived.Wait()
	}
	return b.Store.Counts(ctx, now, keys)
}
