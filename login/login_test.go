package login_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/binding"
	"wxcas/login"
	"wxcas/logx"
	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/store"
	"wxcas/store/storetest"
)

type env struct {
	svc   *login.Service
	codes *otptest.Env
	dir   *binding.SQLStore
}

func newEnv(t *testing.T, db *store.DB, cfg login.Config) *env {
	return newEnvWith(t, db, cfg, nil)
}

// newEnvWith is newEnv with the OTP limits changed by tune.
func newEnvWith(t *testing.T, db *store.DB, cfg login.Config, tune func(*otp.Config)) *env {
	codes := otptest.NewEnv(t, otp.NewSQLStore(db), func(c *otp.Config) {
		c.Cooldown = 0
		if tune != nil {
			tune(c)
		}
	})
	dir := binding.NewSQLStore(db)
	return &env{svc: login.New(cfg, dir, dir, codes.Svc, db, codes.Clock.Now, logx.Discard()), codes: codes, dir: dir}
}

func (e *env) sendAndBind(t *testing.T, id login.Identity, phone otp.Phone) (binding.User, error) {
	t.Helper()
	_, err := e.svc.SendCode(context.Background(), id, phone, "192.0.2.7", "")
	require.NoError(t, err)
	return e.svc.Bind(context.Background(), id, phone, e.codes.Outbox.Last(phone))
}

// ident is a WeChat person in a login of their own (one holder per openid).
func ident(appid, openid, unionid string) login.Identity {
	return login.Identity{Account: binding.Account{AppID: appid, OpenID: openid, UnionID: unionid, Nickname: "小明"}, Holder: "test:" + openid}
}

func TestLogin(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()

		t.Run("first login binds, second login is recognised", func(t *testing.T) {
			e := newEnv(t, db, login.DefaultConfig())
			alice := ident("wxweb", "o-alice", "u-alice")
			_, err := e.svc.Identify(ctx, alice)
			require.ErrorIs(t, err, login.ErrUnbound)
			u, err := e.sendAndBind(t, alice, otptest.Phone(1))
			require.NoError(t, err)
			require.Equal(t, string(otptest.Phone(1)), u.Phone)
			got, err := e.svc.Identify(ctx, ident("wxoa", "o-alice-oa", "u-alice"))
			require.NoError(t, err)
			require.Equal(t, u.ID, got.ID, "the same person through another app")
		})

		t.Run("existing phone links to the existing user", func(t *testing.T) {
			e := newEnv(t, db, login.DefaultConfig())
			existing, err := e.dir.Create(ctx, string(otptest.Phone(2)), e.codes.Clock.Now())
			require.NoError(t, err)
			u, err := e.sendAndBind(t, ident("wxweb", "o-bob", "u-bob"), otptest.Phone(2))
			require.NoError(t, err)
			require.Equal(t, existing.ID, u.ID)
		})

		t.Run("unknown phone refused by policy, before any SMS", func(t *testing.T) {
			e := newEnv(t, db, login.Config{OnUnknownPhone: login.UnknownPhoneRefuse, OnUserBound: login.UserBoundRefuse})
			_, err := e.svc.SendCode(ctx, ident("wxweb", "o-carol", ""), otptest.Phone(3), "192.0.2.7", "")
			require.ErrorIs(t, err, login.ErrUnknownPhone)
			require.Zero(t, e.codes.Outbox.Count(otptest.Phone(3)), "no SMS is spent")
		})

		t.Run("under refuse, asking whether a number is known costs what a send costs", func(t *testing.T) {
			// Fresh addresses and numbers: the subtests share the counters.
			e := newEnvWith(t, db, login.Config{OnUnknownPhone: login.UnknownPhoneRefuse, OnUserBound: login.UserBoundRefuse},
				func(c *otp.Config) { c.PerIPHour, c.PerIdentityDay = 3, 3 })
			known := otptest.Phone(100)
			_, err := e.dir.Create(ctx, string(known), e.codes.Clock.Now())
			require.NoError(t, err)
			var asked []otp.Phone

			// One address, a new WeChat person for each number.
			for i := range 3 {
				phone := otptest.Phone(101 + i)
				asked = append(asked, phone)
				_, err := e.svc.SendCode(ctx, ident("wxweb", fmt.Sprintf("o-probe%d", i), ""), phone, "198.51.100.1", "")
				require.ErrorIs(t, err, login.ErrUnknownPhone)
			}
			_, err = e.svc.SendCode(ctx, ident("wxweb", "o-probe3", ""), otptest.Phone(104), "198.51.100.1", "")
			require.ErrorIs(t, err, otp.ErrRateLimited, "the address used up its allowance")
			_, err = e.svc.SendCode(ctx, ident("wxweb", "o-probe4", ""), known, "198.51.100.1", "")
			require.ErrorIs(t, err, otp.ErrRateLimited, "a known number gets the same answer: nothing to tell them apart")

			// One WeChat person, a new address for each number.
			prober := ident("wxweb", "o-prober", "u-prober")
			for i := range 3 {
				phone := otptest.Phone(110 + i)
				asked = append(asked, phone)
				_, err := e.svc.SendCode(ctx, prober, phone, fmt.Sprintf("198.51.100.%d", 10+i), "")
				require.ErrorIs(t, err, login.ErrUnknownPhone)
			}
			_, err = e.svc.SendCode(ctx, prober, otptest.Phone(113), "198.51.100.13", "")
			require.ErrorIs(t, err, otp.ErrRateLimited, "the person used up their allowance")

			for _, phone := range asked {
				require.Zero(t, e.codes.Outbox.Count(phone), "no SMS for an unknown number")
			}
			// A known number, from an address and person with allowance left,
			// gets its code and binds.
			id := ident("wxweb", "o-owner", "u-owner")
			_, err = e.svc.SendCode(ctx, id, known, "198.51.100.20", "")
			require.NoError(t, err)
			u, err := e.svc.Bind(ctx, id, known, e.codes.Outbox.Last(known))
			require.NoError(t, err)
			require.Equal(t, string(known), u.Phone)
		})

		t.Run("user bound to another WeChat account: refuse or replace", func(t *testing.T) {
			e := newEnv(t, db, login.DefaultConfig())
			_, err := e.sendAndBind(t, ident("wxweb", "o-dave", "u-dave"), otptest.Phone(4))
			require.NoError(t, err)
			_, err = e.sendAndBind(t, ident("wxweb", "o-dave2", "u-dave2"), otptest.Phone(4))
			require.ErrorIs(t, err, login.ErrUserBound)

			r := newEnv(t, db, login.Config{OnUnknownPhone: login.UnknownPhoneCreate, OnUserBound: login.UserBoundReplace})
			u, err := r.sendAndBind(t, ident("wxweb", "o-dave2", "u-dave2"), otptest.Phone(4))
			require.NoError(t, err)
			got, err := r.svc.Identify(ctx, ident("wxweb", "o-dave2", ""))
			require.NoError(t, err)
			require.Equal(t, u.ID, got.ID)
			_, err = r.svc.Identify(ctx, ident("wxweb", "o-dave", "u-dave"))
			require.ErrorIs(t, err, login.ErrUnbound, "the replaced account must bind again")
		})

		t.Run("wrong code binds nothing", func(t *testing.T) {
			e := newEnv(t, db, login.DefaultConfig())
			id := ident("wxweb", "o-erin", "u-erin")
			_, err := e.svc.SendCode(ctx, id, otptest.Phone(5), "192.0.2.7", "")
			require.NoError(t, err)
			_, err = e.svc.Bind(ctx, id, otptest.Phone(5), otptest.Wrong(e.codes.Outbox.Last(otptest.Phone(5))))
			require.ErrorIs(t, err, otp.ErrMismatch)
			_, err = e.svc.Bind(ctx, id, otptest.Phone(5), "000000x")
			require.ErrorIs(t, err, otp.ErrMalformedCode)
			_, err = e.svc.Identify(ctx, id)
			require.ErrorIs(t, err, login.ErrUnbound)
			_, err = e.dir.FindByPhone(ctx, string(otptest.Phone(5)))
			require.ErrorIs(t, err, binding.ErrNotFound, "no user is created before the code is proven")
		})

		t.Run("a code sent in one login does not bind another aimed at the same phone", func(t *testing.T) {
			e := newEnv(t, db, login.DefaultConfig())
			phone := otptest.Phone(8)
			victim, attacker := ident("wxweb", "o-victim", "u-victim"), ident("wxweb", "o-attacker", "u-attacker")
			_, err := e.svc.SendCode(ctx, victim, phone, "192.0.2.7", "")
			require.NoError(t, err)
			code := e.codes.Outbox.Last(phone)

			_, err = e.svc.Bind(ctx, attacker, phone, code)
			require.ErrorIs(t, err, otp.ErrNoCode, "the right digits from another login")
			for range 5 {
				_, err = e.svc.Bind(ctx, attacker, phone, otptest.Wrong(code))
				require.ErrorIs(t, err, otp.ErrNoCode)
			}
			_, err = e.svc.Identify(ctx, attacker)
			require.ErrorIs(t, err, login.ErrUnbound)

			// The same person in a second login (another tab) is another holder too.
			again := victim
			again.Holder = "test:o-victim-second-tab"
			_, err = e.svc.Bind(ctx, again, phone, code)
			require.ErrorIs(t, err, otp.ErrNoCode)

			u, err := e.svc.Bind(ctx, victim, phone, code)
			require.NoError(t, err, "the victim's code survives")
			require.Equal(t, string(phone), u.Phone)
		})

		t.Run("a login without a holder gets no code", func(t *testing.T) {
			e := newEnv(t, db, login.DefaultConfig())
			id := ident("wxweb", "o-nobody", "")
			id.Holder = ""
			_, err := e.svc.SendCode(ctx, id, otptest.Phone(9), "192.0.2.7", "")
			require.Error(t, err)
			require.Zero(t, e.codes.Outbox.Count(otptest.Phone(9)))
		})

		t.Run("a binding to a user the directory lost is dropped", func(t *testing.T) {
			e := newEnv(t, db, login.DefaultConfig())
			id := ident("wxweb", "o-frank", "u-frank")
			require.NoError(t, e.dir.Bind(ctx, id.Account, "ghost", false, e.codes.Clock.Now()))
			_, err := e.svc.Identify(ctx, id)
			require.ErrorIs(t, err, login.ErrUnbound)
		})

		t.Run("two browsers binding one new phone at once make one user", func(t *testing.T) {
			e := newEnv(t, db, login.Config{OnUnknownPhone: login.UnknownPhoneCreate, OnUserBound: login.UserBoundRefuse})
			phone := otptest.Phone(7)
			ids := []login.Identity{ident("wxweb", "o-g1", "u-g1"), ident("wxweb", "o-g2", "u-g2")}
			codes := make([]string, len(ids))
			for i, id := range ids {
				_, err := e.svc.SendCode(ctx, id, phone, "192.0.2.7", "")
				require.NoError(t, err)
				codes[i] = e.codes.Outbox.Last(phone)
			}
			// Each login has its own code; both race with the right one.
			var wg sync.WaitGroup
			errs := make([]error, len(ids))
			for i, id := range ids {
				wg.Add(1)
				go func() { defer wg.Done(); _, errs[i] = e.svc.Bind(ctx, id, phone, codes[i]) }()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
				} else {
					require.ErrorIs(t, err, login.ErrUserBound)
				}
			}
			require.Equal(t, 1, ok)
			var n int
			require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM users WHERE phone = ?`, string(phone)))
			require.Equal(t, 1, n)
		})
	})
}

func TestConfigValidate(t *testing.T) {
	require.Empty(t, login.DefaultConfig().Validate())
	p := login.Config{OnUnknownPhone: "maybe", OnUserBound: "merge"}.Validate()
	require.Len(t, p, 2)
	require.Contains(t, p[0], "login.on_unknown_phone")
	require.Contains(t, p[1], "login.on_user_bound")
}
