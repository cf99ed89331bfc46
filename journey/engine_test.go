package journey

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/audit"
	"wxcas/binding"
	"wxcas/login"
	"wxcas/logx"
	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/store"
	"wxcas/store/storetest"
	"wxcas/wechat"
)

// The engine's tests run it as wiring does, with a real login.Service on a
// real database (SQLite here; MySQL too in race_test.go), an OTP service
// whose SMS go to an outbox, and a fake WeChat. Only WeChat is faked: it is
// the one collaborator behind a network.

// fakeWeChat stands in for WeChat as faithfully as the engine can tell: it
// knows its apps, a login code names one person of one app and works once,
// and failures come back as the real client's *wechat.Error.
type fakeWeChat struct {
	mu       sync.Mutex
	apps     map[string]bool
	accounts map[string]binding.Account // login code → the person it names
	errs     map[string]error           // login code → WeChat's refusal
	phones   map[string]otp.Phone       // getPhoneNumber code → number
	used     map[string]bool
	calls    int
}

func newFakeWeChat(apps ...string) *fakeWeChat {
	w := &fakeWeChat{apps: map[string]bool{}, accounts: map[string]binding.Account{}, errs: map[string]error{},
		phones: map[string]otp.Phone{}, used: map[string]bool{}}
	for _, a := range apps {
		w.apps[a] = true
	}
	return w
}

// issue makes code a login code of acct's app naming acct.
func (w *fakeWeChat) issue(code string, acct binding.Account) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.accounts[code] = acct
}

// refuse makes WeChat answer code with err.
func (w *fakeWeChat) refuse(code string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs[code] = err
}

// issuePhone makes code a getPhoneNumber code for p.
func (w *fakeWeChat) issuePhone(code string, p otp.Phone) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.phones[code] = p
}

func (w *fakeWeChat) callCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}

func wxErr(op string, kind wechat.ErrorKind) error { return &wechat.Error{Op: op, Kind: kind} }

// Identify implements WeChat.
func (w *fakeWeChat) Identify(_ context.Context, appID, code string) (binding.Account, error) {
	const op = "sns/oauth2/access_token"
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	switch {
	case !w.apps[appID]:
		return binding.Account{}, wxErr(op, wechat.ErrUnknownApp)
	case code == "":
		return binding.Account{}, wxErr(op, wechat.ErrInvalidArgument)
	case w.used[code]:
		return binding.Account{}, wxErr(op, wechat.ErrCodeUsed) // 40163
	}
	if err, ok := w.errs[code]; ok {
		w.used[code] = true
		return binding.Account{}, err
	}
	acct, ok := w.accounts[code]
	if !ok || acct.AppID != appID {
		// 40029: unknown, expired, or another app's code.
		return binding.Account{}, wxErr(op, wechat.ErrCodeInvalid)
	}
	w.used[code] = true
	return acct, nil
}

// PhoneNumber implements WeChat.
func (w *fakeWeChat) PhoneNumber(_ context.Context, appID, phoneCode string) (otp.Phone, error) {
	const op = "wxa/business/getuserphonenumber"
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	switch {
	case !w.apps[appID]:
		return "", wxErr(op, wechat.ErrUnknownApp)
	case phoneCode == "":
		return "", wxErr(op, wechat.ErrInvalidArgument)
	case w.used[phoneCode]:
		return "", wxErr(op, wechat.ErrCodeUsed)
	}
	p, ok := w.phones[phoneCode]
	if !ok {
		return "", wxErr(op, wechat.ErrCodeInvalid)
	}
	w.used[phoneCode] = true
	return p, nil
}

// recordingAudit is an audit.Log that keeps what it is given, refusing
// what the real stores refuse (audit.Normalize): an event they would drop
// fails the test instead of passing here.
type recordingAudit struct {
	mu     sync.Mutex
	events []audit.Event
}

func (a *recordingAudit) Record(ctx context.Context, e audit.Event) error {
	if _, err := audit.Normalize(ctx, e); err != nil {
		panic(fmt.Sprintf("the engine recorded an event the audit stores refuse: %v", err))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

// find returns the events of kind and outcome.
func (a *recordingAudit) find(kind, outcome string) []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Event
	for _, e := range a.events {
		if e.Kind == kind && e.Outcome == outcome {
			out = append(out, e)
		}
	}
	return out
}

func (a *recordingAudit) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.events)
}

// The fake WeChat's apps.
const (
	appWeb  = "wxweb"  // website QR login
	appOA   = "wxoa"   // Official Account, bound to the open platform (the unionid account)
	appOA2  = "wxoa2"  // an entry Official Account that reveals no unionid
	appMini = "wxmini" // mini program
	appApp  = "wxapp"  // mobile app
)

const ttl = 15 * time.Minute

type env struct {
	db       *store.DB
	codes    *otptest.Env
	clock    *storetest.Clock
	bindings *binding.SQLStore
	login    *login.Service
	store    Store
	wx       *fakeWeChat
	audit    *recordingAudit
	eng      *Engine
	tx       *countingTx
}

// countingTx is the database as login's Transactor, counting how often a
// binding's transaction ran again (a duplicate key or a deadlock in a race:
// store.Atomic's retry), so the race tests can tell they raced.
type countingTx struct {
	db              *store.DB
	calls, attempts atomic.Int64
}

func (c *countingTx) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	c.calls.Add(1)
	return c.db.Atomic(ctx, func(ctx context.Context) error {
		c.attempts.Add(1)
		return fn(ctx)
	})
}

func (c *countingTx) reruns() int64 { return c.attempts.Load() - c.calls.Load() }

// seq numbers people, phones and client addresses across every env of the
// test binary: envs share databases.
var seq atomic.Int64

type envConfig struct {
	login   login.Config
	otp     func(*otp.Config)
	sqlJour bool // the SQL journey store instead of MemStore
	wrap    func(Store) Store
}

// newEnv builds an engine on db. The journeys live in a MemStore unless
// cfg.sqlJour.
func newEnv(t testing.TB, db *store.DB, tune ...func(*envConfig)) *env {
	t.Helper()
	cfg := envConfig{login: login.DefaultConfig(), otp: func(c *otp.Config) { c.Cooldown = 0 }}
	for _, f := range tune {
		f(&cfg)
	}
	codes := otptest.NewEnv(t, otp.NewSQLStore(db), cfg.otp)
	bindings := binding.NewSQLStore(db)
	bindings.UseAsDirectory()
	e := &env{db: db, codes: codes, clock: codes.Clock, bindings: bindings, wx: newFakeWeChat(appWeb, appOA, appOA2, appMini, appApp), audit: &recordingAudit{}}
	e.tx = &countingTx{db: db}
	e.login = login.New(cfg.login, bindings, bindings, codes.Svc, e.tx, e.clock.Now, logx.Discard())
	e.store = NewMemStore()
	if cfg.sqlJour {
		e.store = NewSQLStore(db)
	}
	if cfg.wrap != nil {
		e.store = cfg.wrap(e.store)
	}
	eng, err := New(Config{TTL: ttl, PhoneRegion: "CN", UnionIDApp: appOA},
		Deps{Store: e.store, Login: e.login, WeChat: e.wx, Audit: e.audit, Now: e.clock.Now, Log: logx.Discard()})
	require.NoError(t, err)
	e.eng = eng
	return e
}

// next returns a number no other part of the test has used: each person,
// phone and client address is its own, so that no SMS limit is shared.
func (e *env) next() int { return int(seq.Add(1)) }

func person(app string, n int) binding.Account {
	return binding.Account{AppID: app, OpenID: fmt.Sprintf("o-%s-%d", app, n), UnionID: fmt.Sprintf("u-%d", n), Nickname: "小明"}
}

func phone(n int) otp.Phone { return otptest.Phone(n) }

// typed is phone(n) as a person types it, without the country code.
func typed(n int) string { return fmt.Sprintf("138 %04d %04d", n/10000%10000, n%10000) }

func ip(n int) string { return fmt.Sprintf("198.51.%d.%d", n/250%250, n%250+1) }

// start starts a journey through the engine, as a transport does.
func (e *env) start(t testing.TB, tr Transport, channel string) (*Journey, From) {
	t.Helper()
	n := e.next()
	j, err := e.eng.Start(context.Background(), Start{ID: fmt.Sprintf("j-%d", n), Transport: tr, Channel: channel,
		Service: "https://app.example.com/", SecretHash: fmt.Sprintf("secret-%d", n)})
	require.NoError(t, err)
	return j, From{SecretHash: j.SecretHash, ClientIP: ip(n)}
}

// identified stores a website journey of a bound person that WeChat just
// named, and returns the account, the user, the journey and its holder.
func (e *env) identified(t testing.TB) (binding.Account, binding.User, *Journey, From) {
	t.Helper()
	n := e.next()
	acct := person(appWeb, n)
	user := e.bindNew(t, acct, phone(n))
	j := &Journey{State: Identified, UserID: user.ID}
	j.setAccount(acct)
	return acct, user, j, e.put(t, j)
}

// codeSent stores a website journey of a new person to whom a code was
// just sent, and returns its number, the journey, its holder and the code.
func (e *env) codeSent(t testing.TB) (int, *Journey, From, string) {
	t.Helper()
	n := e.next()
	j := &Journey{State: CodeSent, Phone: string(phone(n))}
	j.setAccount(person(appWeb, n))
	from := e.put(t, j)
	return n, j, from, e.sendCode(t, j, from)
}

// put stores a journey as it would stand in state s (see the walk), without
// going through the events that lead there.
func (e *env) put(t testing.TB, j *Journey) From {
	t.Helper()
	n := e.next()
	if j.ID == "" {
		j.ID = fmt.Sprintf("j-%d", n)
	}
	if j.SecretHash == "" {
		j.SecretHash = fmt.Sprintf("secret-%d", n)
	}
	if j.Transport == "" {
		j.Transport = API
	}
	if j.Service == "" {
		j.Service = "https://app.example.com/"
	}
	now := e.clock.Now()
	j.CreatedAt = now
	if j.ExpiresAt.IsZero() {
		j.ExpiresAt = now.Add(ttl)
	}
	require.NoError(t, e.store.Create(context.Background(), j))
	return From{SecretHash: j.SecretHash, ClientIP: ip(n)}
}

// bindNew creates a user with phone p and binds acct to them, as an
// earlier login would have.
func (e *env) bindNew(t testing.TB, acct binding.Account, p otp.Phone) binding.User {
	t.Helper()
	ctx := context.Background()
	u, err := e.bindings.Create(ctx, string(p), e.clock.Now())
	require.NoError(t, err)
	require.NoError(t, e.bindings.Bind(ctx, acct, u.ID, false, e.clock.Now()))
	return u
}

// sendCode sends the journey's holder a code to j.Phone and returns it.
func (e *env) sendCode(t testing.TB, j *Journey, from From) string {
	t.Helper()
	_, err := e.login.SendCode(context.Background(), identity(j), otp.Phone(j.Phone), from.ClientIP, "")
	require.NoError(t, err)
	code := e.codes.Outbox.Last(otp.Phone(j.Phone))
	require.NotEmpty(t, code)
	return code
}

func (e *env) handle(j *Journey, ev Event, from From) (Answer, error) {
	return e.eng.Handle(context.Background(), j.ID, ev, from)
}

func (e *env) get(t testing.TB, id string) *Journey {
	t.Helper()
	j, err := e.store.Get(context.Background(), id)
	require.NoError(t, err)
	return j
}

// requireCode checks that err is the login outcome code.
func requireCode(t testing.TB, err error, code Code, msgAndArgs ...any) *Error {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	oe := AsError(err)
	require.NotNil(t, oe, "want outcome %s, got an internal error: %v", code, err)
	require.Equal(t, code, oe.Code, "err: %v", err)
	return oe
}

// boundUserOf returns the user the person is bound to ("" for none).
func (e *env) boundUserOf(t testing.TB, acct binding.Account) string {
	t.Helper()
	u, err := e.bindings.Seen(context.Background(), acct, e.clock.Now())
	if errors.Is(err, binding.ErrNotFound) {
		return ""
	}
	require.NoError(t, err)
	return u
}

// codeSpent reports whether the journey's code for its phone was used up.
func (e *env) codeSpent(t testing.TB, j *Journey) bool {
	t.Helper()
	c, err := e.codes.Store.GetCode(context.Background(), e.codes.Svc.HolderKey(j.holder()), otp.Phone(j.Phone), login.PurposeBind)
	require.NoError(t, err)
	return !c.VerifiedAt.IsZero()
}

func (e *env) usersWithPhone(t testing.TB, p otp.Phone) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.Get(&n, e.db.Rebind(`SELECT COUNT(*) FROM users WHERE phone = ?`), string(p)))
	return n
}

// orphans counts users without a binding: what a half-done binding leaves.
func orphans(t testing.TB, db *store.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM wechat_bindings b WHERE b.user_id = u.id)`))
	return n
}

func TestNewChecksItsDeps(t *testing.T) {
	_, err := New(Config{TTL: time.Minute}, Deps{Store: NewMemStore()})
	require.Error(t, err)
	e := newEnv(t, storetest.SQLite(t))
	_, err = New(Config{}, Deps{Store: e.store, Login: e.login, WeChat: e.wx})
	require.Error(t, err, "a journey without a TTL would never end")
	_, err = e.eng.Start(context.Background(), Start{ID: "j", Transport: Browser})
	require.Error(t, err, "a journey without a secret would be anyone's")
}

func TestEngine(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)

	t.Run("first login: code, phone, SMS code, bound, finished", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		acct := person(appWeb, n)
		e.wx.issue("wx-code", acct)
		j, from := e.start(t, Browser, ChannelQRInline)
		require.Equal(t, WeChatPending, j.State)

		a, err := e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code"}, from)
		require.NoError(t, err)
		require.Equal(t, PhoneRequested, a.Journey.State)
		require.Nil(t, a.Person, "nobody to log in yet")
		require.Equal(t, acct.OpenID, a.Journey.OpenID)
		require.Equal(t, acct.UnionID, a.Journey.UnionID)
		require.Equal(t, "小明", a.Journey.Nickname)

		a, err = e.handle(j, PhoneEntered{Number: " " + typed(n) + " "}, from)
		require.NoError(t, err)
		require.Equal(t, CodeSent, a.Journey.State)
		require.Equal(t, string(phone(n)), a.Journey.Phone, "the number as E.164")
		require.NotNil(t, a.Sent)
		require.Equal(t, e.clock.Now().Add(5*time.Minute), a.Sent.ExpiresAt)
		code := e.codes.Outbox.Last(phone(n))
		require.NotEmpty(t, code)
		require.Zero(t, e.usersWithPhone(t, phone(n)), "no user before the code is proven")

		e.clock.Advance(time.Minute)
		a, err = e.handle(j, CodeEntered{Code: code}, from)
		require.NoError(t, err)
		require.Equal(t, Bound, a.Journey.State)
		require.False(t, a.Replay)
		require.NotNil(t, a.Person)
		require.True(t, a.Person.NewlyBound)
		require.Equal(t, string(phone(n)), a.Person.User.Phone)
		require.Equal(t, a.Person.User.ID, a.Journey.UserID)
		require.Equal(t, acct.OpenID, a.Person.Account.OpenID)
		require.Equal(t, ChannelQRInline, a.Person.Channel)
		require.Equal(t, a.Person.User.ID, e.boundUserOf(t, acct), "the binding is written")
		require.True(t, e.codeSpent(t, a.Journey))
		user := a.Person.User

		a, err = e.handle(j, Finish{Person: a.Person}, from)
		require.NoError(t, err)
		require.Equal(t, Finished, a.Journey.State)
		require.False(t, a.Replay)
		require.NotNil(t, a.Person)
		require.Equal(t, user.ID, a.Person.User.ID)
		require.True(t, a.Person.NewlyBound, "finishing a binding journey says so")
		require.Equal(t, e.clock.Now().Add(FinishGrace), a.Journey.ExpiresAt, "kept only for the grace period")
		require.True(t, a.Journey.StepExpiresAt.IsZero())

		binds := e.audit.find(audit.KindBind, audit.OK)
		require.Len(t, binds, 1)
		require.Equal(t, user.ID, binds[0].UserID)
		require.Equal(t, acct.OpenID, binds[0].OpenID)
		require.Equal(t, string(phone(n)), binds[0].Phone)
		require.Equal(t, audit.ChannelQRInline, binds[0].Channel)
		require.Equal(t, from.ClientIP, binds[0].ClientIP)
		require.Equal(t, "https://app.example.com/", binds[0].Service)
		logins := e.audit.find(audit.KindLogin, audit.OK)
		require.Len(t, logins, 1)
		require.Equal(t, user.ID, logins[0].UserID)
		require.Empty(t, e.audit.find(audit.KindRefusal, audit.WrongCode))
	})

	t.Run("a returning snsapi_base login keeps the last known nickname", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		acct := person(appOA, n)
		e.bindNew(t, acct, phone(n))
		e.clock.Advance(time.Hour)
		renamed := person(appApp, n)
		renamed.Nickname = "小明明"
		_, err := e.bindings.Seen(context.Background(), renamed, e.clock.Now())
		require.NoError(t, err)
		base := acct
		base.Nickname = "" // snsapi_base says no name
		e.wx.issue("base", base)
		j, from := e.start(t, Browser, ChannelOABase)
		_, err = e.handle(j, WeChatStart{Channel: ChannelOABase, StateHash: "h", AppID: appOA}, from)
		require.NoError(t, err)
		a, err := e.handle(j, WeChatCode{AppID: appOA, Code: "base", StateHash: "h"}, from)
		require.NoError(t, err)
		require.NotNil(t, a.Person)
		require.Equal(t, "小明明", a.Person.Account.Nickname, "the name last seen, from any app")
		require.Equal(t, "小明明", e.get(t, j.ID).Nickname)
	})

	t.Run("returning user: identified, finished", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		acct := person(appOA, n)
		user := e.bindNew(t, acct, phone(n))
		// The same person through another app of the open platform.
		other := person(appApp, n)
		e.wx.issue("wx-code", other)
		j, from := e.start(t, API, ChannelMobileApp)

		a, err := e.handle(j, WeChatCode{AppID: appApp, Code: "wx-code"}, from)
		require.NoError(t, err)
		require.Equal(t, Identified, a.Journey.State)
		require.Equal(t, user.ID, a.Journey.UserID)
		require.NotNil(t, a.Person)
		require.False(t, a.Person.NewlyBound)
		require.Equal(t, user.ID, a.Person.User.ID)
		require.Equal(t, appApp, a.Person.Account.AppID)
		require.Zero(t, e.codes.Outbox.Count(phone(n)), "no SMS for a returning person")

		a, err = e.handle(j, Finish{}, from)
		require.NoError(t, err)
		require.Equal(t, Finished, a.Journey.State)
		require.Equal(t, user.ID, a.Person.User.ID)
		require.False(t, a.Person.NewlyBound)
		logins := e.audit.find(audit.KindLogin, audit.OK)
		require.Len(t, logins, 1)
		require.Equal(t, audit.ChannelMobileApp, logins[0].Channel)
		require.Empty(t, e.audit.find(audit.KindBind, audit.OK))
	})

	t.Run("mini program: the phone number WeChat vouches for binds without an SMS", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		acct := person(appMini, n)
		j := &Journey{State: PhoneRequested, Channel: ChannelMiniProgram}
		j.setAccount(acct)
		from := e.put(t, j)
		e.wx.issuePhone("phone-code", phone(n))

		_, err := e.handle(j, WeChatPhone{PhoneCode: "nope"}, from)
		requireCode(t, err, CodeInvalidWeChatCode)
		a, err := e.handle(j, WeChatPhone{PhoneCode: "phone-code"}, from)
		require.NoError(t, err)
		require.Equal(t, Bound, a.Journey.State)
		require.True(t, a.Person.NewlyBound)
		require.Equal(t, string(phone(n)), a.Journey.Phone)
		require.Equal(t, a.Person.User.ID, e.boundUserOf(t, acct))
		require.Zero(t, e.codes.Outbox.Count(phone(n)))
	})

	t.Run("wrong code: attempts left, then the right one", func(t *testing.T) {
		e := newEnv(t, db)
		n, j, from, code := e.codeSent(t)

		_, err := e.handle(j, CodeEntered{Code: otptest.Wrong(code)}, from)
		oe := requireCode(t, err, CodeWrongCode)
		require.NotNil(t, oe.AttemptsLeft)
		require.Equal(t, 4, *oe.AttemptsLeft)
		_, err = e.handle(j, CodeEntered{Code: otptest.Wrong(code)}, from)
		require.Equal(t, 3, *requireCode(t, err, CodeWrongCode).AttemptsLeft)
		_, err = e.handle(j, CodeEntered{Code: "12x"}, from)
		requireCode(t, err, CodeMalformedCode)
		require.Equal(t, CodeSent, e.get(t, j.ID).State)
		require.Zero(t, e.usersWithPhone(t, phone(n)))

		refusals := e.audit.find(audit.KindRefusal, audit.WrongCode)
		require.Len(t, refusals, 2)
		require.Equal(t, j.OpenID, refusals[0].OpenID)
		require.Equal(t, string(phone(n)), refusals[0].Phone)
		require.Empty(t, refusals[0].UserID)

		a, err := e.handle(j, CodeEntered{Code: code}, from)
		require.NoError(t, err)
		require.Equal(t, Bound, a.Journey.State)
	})

	t.Run("too many wrong codes burn the code", func(t *testing.T) {
		e := newEnv(t, db)
		n, j, from, code := e.codeSent(t)
		for range 4 {
			_, err := e.handle(j, CodeEntered{Code: otptest.Wrong(code)}, from)
			requireCode(t, err, CodeWrongCode)
		}
		// The guess that uses the last attempt is told the code is burned,
		// not "wrong, 0 left".
		_, err := e.handle(j, CodeEntered{Code: otptest.Wrong(code)}, from)
		requireCode(t, err, CodeTooManyAttempts)
		_, err = e.handle(j, CodeEntered{Code: code}, from)
		requireCode(t, err, CodeTooManyAttempts, "even the right code, now")
		// A new code helps.
		a, err := e.handle(j, Resend{}, from)
		require.NoError(t, err)
		require.NotNil(t, a.Sent)
		a, err = e.handle(j, CodeEntered{Code: e.codes.Outbox.Last(phone(n))}, from)
		require.NoError(t, err)
		require.Equal(t, Bound, a.Journey.State)
	})

	t.Run("a code entered after it expired says so", func(t *testing.T) {
		e := newEnv(t, db)
		_, j, from, code := e.codeSent(t)
		e.clock.Advance(5 * time.Minute)
		_, err := e.handle(j, CodeEntered{Code: code}, from)
		requireCode(t, err, CodeCodeExpired)
	})

	t.Run("expired journey", func(t *testing.T) {
		e := newEnv(t, db)
		n, j, from, code := e.codeSent(t)
		e.clock.Advance(ttl - time.Microsecond)
		_, err := e.eng.Load(ctx, j.ID, from)
		require.NoError(t, err, "live until the TTL ends")
		e.clock.Advance(time.Microsecond)
		for _, ev := range []Event{CodeEntered{Code: code}, Resend{}, Cancel{}, Finish{}} {
			a, err := e.handle(j, ev, from)
			requireCode(t, err, CodeExpired, "%T", ev)
			require.NotNil(t, a.Journey, "the expired journey still tells which service to start again for")
			require.Equal(t, "https://app.example.com/", a.Journey.Service)
		}
		_, err = e.eng.Load(ctx, j.ID, from)
		requireCode(t, err, CodeExpired)
		require.Equal(t, CodeSent, e.get(t, j.ID).State)
		require.Zero(t, e.usersWithPhone(t, phone(n)))
	})

	t.Run("the step deadline ends the journey too", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		j, err := e.eng.Start(ctx, Start{ID: fmt.Sprintf("j-%d", n), Transport: API, SecretHash: "s0", StepTTL: time.Minute, Service: "svc"})
		require.NoError(t, err)
		require.Equal(t, e.clock.Now().Add(time.Minute), j.StepExpiresAt)
		e.clock.Advance(time.Minute)
		a, err := e.handle(j, Cancel{}, From{SecretHash: "s0"})
		requireCode(t, err, CodeExpired)
		require.Equal(t, "svc", a.Journey.Service)
	})

	t.Run("not the holder: wrong secret, no secret, unknown journey", func(t *testing.T) {
		e := newEnv(t, db)
		j, from := e.start(t, Browser, ChannelQRInline)
		for _, f := range []From{{SecretHash: "secret-of-someone-else"}, {}, {SecretHash: from.SecretHash + "x"}} {
			_, err := e.handle(j, Cancel{}, f)
			requireCode(t, err, CodeInvalid)
			_, err = e.eng.Load(ctx, j.ID, f)
			requireCode(t, err, CodeInvalid)
		}
		_, err := e.eng.Handle(ctx, "j-nobody", Cancel{}, from)
		requireCode(t, err, CodeInvalid)
		require.Equal(t, WeChatPending, e.get(t, j.ID).State)
		require.Zero(t, e.get(t, j.ID).Version)
	})

	t.Run("API secret rotation: the next secret takes over only when the event succeeds", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		e.wx.issue("wx-code", person(appApp, n))
		j, err := e.eng.Start(ctx, Start{ID: fmt.Sprintf("j-%d", n), Transport: API, Channel: ChannelMobileApp, SecretHash: "s0", StepTTL: 2 * time.Minute})
		require.NoError(t, err)
		// The client's address does not change; its secret does.
		sec := func(hash, next string) From { return From{SecretHash: hash, NextSecretHash: next, ClientIP: ip(n)} }

		a, err := e.handle(j, WeChatCode{AppID: appApp, Code: "wx-code"}, From{SecretHash: "s0", NextSecretHash: "s1", NextStepTTL: 5 * time.Minute, ClientIP: ip(n)})
		require.NoError(t, err)
		require.Equal(t, PhoneRequested, a.Journey.State)
		require.Equal(t, "s1", a.Journey.SecretHash)
		require.Equal(t, e.clock.Now().Add(5*time.Minute), a.Journey.StepExpiresAt)

		_, err = e.handle(j, PhoneEntered{Number: typed(n)}, sec("s0", "s9"))
		requireCode(t, err, CodeInvalid, "the old secret is spent")

		_, err = e.handle(j, PhoneEntered{Number: "12"}, sec("s1", "s2"))
		requireCode(t, err, CodeInvalidPhone)
		require.Equal(t, "s1", e.get(t, j.ID).SecretHash, "a refused event does not rotate")
		_, err = e.handle(j, CodeEntered{Code: "123456"}, sec("s1", "s2"))
		requireCode(t, err, CodeNoCode)
		require.Equal(t, "s1", e.get(t, j.ID).SecretHash)

		a, err = e.handle(j, PhoneEntered{Number: typed(n)}, sec("s1", "s2"))
		require.NoError(t, err)
		require.Equal(t, "s2", a.Journey.SecretHash)
		require.True(t, a.Journey.StepExpiresAt.IsZero(), "no NextStepTTL: no step deadline")
		a, err = e.handle(j, CodeEntered{Code: e.codes.Outbox.Last(phone(n))}, sec("s2", "s3"))
		require.NoError(t, err)
		require.Equal(t, Bound, a.Journey.State)
		require.Equal(t, "s3", a.Journey.SecretHash, "rotated in the binding's transaction")
		_, err = e.handle(j, Finish{}, sec("s2", ""))
		requireCode(t, err, CodeInvalid)
		a, err = e.handle(j, Finish{}, sec("s3", ""))
		require.NoError(t, err)
		require.Equal(t, Finished, a.Journey.State)
	})

	t.Run("a step deadline never outlives the journey", func(t *testing.T) {
		e := newEnv(t, db)
		j, from := e.start(t, API, ChannelMobileApp)
		a, err := e.handle(j, WeChatStart{Channel: ChannelMobileApp, StateHash: "h"}, From{SecretHash: from.SecretHash, NextSecretHash: "s1", NextStepTTL: 2 * ttl})
		require.NoError(t, err)
		require.Equal(t, j.ExpiresAt, a.Journey.StepExpiresAt)
	})

	t.Run("double submission of the right code: both land on the service", func(t *testing.T) {
		for _, sqlJour := range []bool{false, true} {
			t.Run(fmt.Sprintf("sql journey store %t", sqlJour), func(t *testing.T) {
				e := newEnv(t, db, func(c *envConfig) { c.sqlJour = sqlJour })
				for round := range 10 {
					n := e.next()
					j := &Journey{State: CodeSent, Phone: string(phone(n))}
					j.setAccount(person(appWeb, n))
					from := e.put(t, j)
					code := e.sendCode(t, j, from)
					answers, errs := race(2, func(int) (Answer, error) { return e.handle(j, CodeEntered{Code: code}, from) })
					replays := 0
					for i := range 2 {
						require.NoError(t, errs[i], "round %d", round)
						require.Equal(t, Bound, answers[i].Journey.State)
						require.NotNil(t, answers[i].Person)
						require.Equal(t, answers[0].Person.User.ID, answers[i].Person.User.ID)
						if answers[i].Replay {
							replays++
						} else {
							require.True(t, answers[i].Person.NewlyBound)
						}
					}
					require.Equal(t, 1, replays, "round %d: exactly one binds, the other replays", round)
					require.Equal(t, 1, e.usersWithPhone(t, phone(n)))
					require.Equal(t, 1, e.get(t, j.ID).Version, "bound once")
				}
				require.Len(t, e.audit.find(audit.KindBind, audit.OK), 10, "one bind recorded per journey")
			})
		}
	})

	t.Run("finish twice: the second replays; after the grace period, refused", func(t *testing.T) {
		e := newEnv(t, db)
		acct, user, j, from := e.identified(t)

		first, err := e.handle(j, Finish{}, from)
		require.NoError(t, err)
		require.False(t, first.Replay)
		e.clock.Advance(FinishGrace - time.Second)
		again, err := e.handle(j, Finish{}, from)
		require.NoError(t, err)
		require.True(t, again.Replay)
		require.Equal(t, Finished, again.Journey.State)
		require.Equal(t, user.ID, again.Person.User.ID)
		require.Equal(t, first.Journey.Version, again.Journey.Version, "a replay changes nothing")
		require.Len(t, e.audit.find(audit.KindLogin, audit.OK), 2, "the repeat is a login too, and recorded as one")
		require.Equal(t, first.Person.AuthenticatedAt, again.Person.AuthenticatedAt, "a repeat keeps the time of the proof")

		// A binding removed meanwhile ends the journey.
		require.NoError(t, e.bindings.Unbind(context.Background(), acct))
		_, err = e.handle(j, Finish{}, from)
		requireCode(t, err, CodeExpired, "no longer bound")
		require.NoError(t, e.bindings.Bind(context.Background(), acct, user.ID, false, e.clock.Now()))

		e.clock.Advance(time.Second)
		_, err = e.handle(j, Finish{}, from)
		requireCode(t, err, CodeExpired)
	})

	t.Run("a journey finished just before its end still answers repeats for the grace period", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		acct := person(appWeb, n)
		user := e.bindNew(t, acct, phone(n))
		j := &Journey{State: Identified, UserID: user.ID, ExpiresAt: e.clock.Now().Add(time.Second)}
		j.setAccount(acct)
		from := e.put(t, j)
		a, err := e.handle(j, Finish{}, from)
		require.NoError(t, err)
		require.Equal(t, e.clock.Now().Add(FinishGrace), a.Journey.ExpiresAt)
		e.clock.Advance(FinishGrace - time.Second)
		a, err = e.handle(j, Finish{}, from)
		require.NoError(t, err, "past the journey's TTL, within the grace period")
		require.True(t, a.Replay)
	})

	t.Run("a callback that may finish: a bound person is identified and finished in one write", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		acct := person(appWeb, n)
		user := e.bindNew(t, acct, phone(n))
		stranger := person(appWeb, e.next())
		e.wx.issue("wx-bound", acct)
		e.wx.issue("wx-new", stranger)

		j, from := e.start(t, Browser, ChannelQRInline)
		a, err := e.handle(j, WeChatStart{Channel: ChannelQRInline, StateHash: "s"}, from)
		require.NoError(t, err)
		before := a.Journey.Version
		a, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-bound", StateHash: "s", Finish: true}, from)
		require.NoError(t, err)
		require.Equal(t, Finished, a.Journey.State)
		require.Equal(t, user.ID, a.Person.User.ID)
		require.False(t, a.Replay)
		stored := e.get(t, j.ID)
		require.Equal(t, Finished, stored.State)
		require.Equal(t, before+1, stored.Version, "one write: the state used, identified and finished together")
		require.True(t, stored.WeChatStateUsed)
		require.Len(t, e.audit.find(audit.KindLogin, audit.OK), 1, "the login is audited once")

		// A person WeChat names who is not bound goes on to the phone.
		j, from = e.start(t, Browser, ChannelQRInline)
		_, err = e.handle(j, WeChatStart{Channel: ChannelQRInline, StateHash: "s2"}, from)
		require.NoError(t, err)
		a, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-new", StateHash: "s2", Finish: true}, from)
		require.NoError(t, err)
		require.Equal(t, PhoneRequested, a.Journey.State)
		require.Nil(t, a.Person)
		require.Len(t, e.audit.find(audit.KindLogin, audit.OK), 1)
	})

	t.Run("browser WeChat state: only the state issued, and only once", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		acct := person(appWeb, n)
		user := e.bindNew(t, acct, phone(n))
		e.wx.issue("wx-code", acct)
		e.wx.issue("wx-code-2", acct)
		j, from := e.start(t, Browser, ChannelQRInline)

		_, err := e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code", StateHash: "h1"}, from)
		requireCode(t, err, CodeStateInvalid, "no state issued yet")
		a, err := e.handle(j, WeChatStart{Channel: ChannelQRRedirect, StateHash: "h1"}, from)
		require.NoError(t, err)
		require.Equal(t, WeChatPending, a.Journey.State)
		require.Equal(t, ChannelQRRedirect, a.Journey.Channel)
		_, err = e.handle(j, WeChatStart{Channel: ChannelQRInline, StateHash: "h2"}, from)
		require.NoError(t, err, "a new QR code replaces the state")

		calls := e.wx.callCount()
		_, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code", StateHash: "h1"}, from)
		requireCode(t, err, CodeStateInvalid, "the replaced state")
		_, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code", StateHash: "forged"}, from)
		requireCode(t, err, CodeStateInvalid)
		_, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code"}, from)
		requireCode(t, err, CodeStateInvalid, "a callback without the state a browser journey issued")
		require.Equal(t, calls, e.wx.callCount(), "WeChat is not asked for a callback with a wrong state")
		require.Len(t, e.audit.find(audit.KindRefusal, audit.StateInvalid), 4)

		a, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code", StateHash: "h2"}, from)
		require.NoError(t, err)
		require.Equal(t, Identified, a.Journey.State)
		require.True(t, a.Journey.WeChatStateUsed)
		a, err = e.handle(j, Finish{Person: a.Person}, from)
		require.NoError(t, err)
		require.Equal(t, user.ID, a.Person.User.ID)

		calls = e.wx.callCount()
		a, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code", StateHash: "h2"}, from)
		require.NoError(t, err, "WeChat delivered the callback twice")
		require.True(t, a.Replay)
		require.Equal(t, user.ID, a.Person.User.ID)
		a, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code-2", StateHash: "h2"}, from)
		require.NoError(t, err, "or the person scanned again")
		require.True(t, a.Replay)
		require.Equal(t, calls, e.wx.callCount(), "a replay asks WeChat nothing")
		_, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code-2", StateHash: "h1"}, from)
		requireCode(t, err, CodeStateInvalid)
	})

	t.Run("two callbacks with one state at once: one goes on, both see its result", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		e.wx.issue("wx-code", person(appWeb, n))
		j, from := e.start(t, Browser, ChannelQRInline)
		_, err := e.handle(j, WeChatStart{Channel: ChannelQRInline, StateHash: "h"}, from)
		require.NoError(t, err)
		calls := e.wx.callCount()
		answers, errs := race(2, func(int) (Answer, error) {
			return e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code", StateHash: "h"}, from)
		})
		for i := range 2 {
			require.NoError(t, errs[i])
			require.Equal(t, PhoneRequested, answers[i].Journey.State)
		}
		// The second may reach WeChat before the first writes: WeChat
		// refuses the code it already exchanged (40163), and that callback
		// waits for the first's result.
		require.LessOrEqual(t, e.wx.callCount(), calls+2)
		require.Equal(t, PhoneRequested, e.get(t, j.ID).State)
	})

	t.Run("two callbacks with one state and two codes: the first to write wins, the other repeats it", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		acct := person(appWeb, n)
		user := e.bindNew(t, acct, phone(n))
		e.wx.issue("wx-a", acct)
		e.wx.issue("wx-b", acct)
		j, from := e.start(t, Browser, ChannelQRInline)
		_, err := e.handle(j, WeChatStart{Channel: ChannelQRInline, StateHash: "h"}, from)
		require.NoError(t, err)
		codes := []string{"wx-a", "wx-b"}
		answers, errs := race(2, func(i int) (Answer, error) {
			return e.handle(j, WeChatCode{AppID: appWeb, Code: codes[i], StateHash: "h", Finish: true}, from)
		})
		replays := 0
		for i := range 2 {
			require.NoError(t, errs[i])
			require.Equal(t, Finished, answers[i].Journey.State)
			require.Equal(t, user.ID, answers[i].Person.User.ID)
			if answers[i].Replay {
				replays++
			}
		}
		require.LessOrEqual(t, replays, 1, "one of them finished the journey")
		require.Len(t, e.audit.find(audit.KindLogin, audit.OK), 2, "each answer is an audited login (the repeat too)")
	})

	t.Run("a repeated callback waits for the first to finish", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		acct := person(appWeb, n)
		user := e.bindNew(t, acct, phone(n))
		e.wx.issue("wx-code", acct)
		j, from := e.start(t, Browser, ChannelQRInline)
		_, err := e.handle(j, WeChatStart{Channel: ChannelQRInline, StateHash: "h"}, from)
		require.NoError(t, err)
		a, err := e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code", StateHash: "h"}, from)
		require.NoError(t, err)
		require.Equal(t, Identified, a.Journey.State)
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(300 * time.Millisecond)
			if _, err := e.handle(j, Finish{}, from); err != nil {
				t.Errorf("finish: %v", err)
			}
		}()
		again, err := e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code", StateHash: "h"}, from)
		<-done
		require.NoError(t, err)
		require.True(t, again.Replay)
		require.Equal(t, user.ID, again.Person.User.ID)
	})

	t.Run("declined in WeChat", func(t *testing.T) {
		e := newEnv(t, db)
		j, from := e.start(t, Browser, ChannelQRInline)
		_, err := e.handle(j, WeChatStart{Channel: ChannelQRInline, StateHash: "h"}, from)
		require.NoError(t, err)
		calls := e.wx.callCount()
		_, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "", StateHash: "h"}, from)
		requireCode(t, err, CodeWeChatRefused)
		require.Equal(t, calls, e.wx.callCount())
		require.Len(t, e.audit.find(audit.KindRefusal, "wechat_refused"), 1)
		require.Equal(t, WeChatPending, e.get(t, j.ID).State, "the person may scan a new QR code")
		require.Empty(t, e.get(t, j.ID).WeChatStateHash, "the spent state is forgotten")
		_, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "", StateHash: "h"}, from)
		requireCode(t, err, CodeStateInvalid, "a repeat is refused at once")
		_, err = e.handle(j, WeChatStart{Channel: ChannelQRInline, StateHash: "h2"}, from)
		require.NoError(t, err)

		api, apiFrom := e.start(t, API, ChannelMobileApp)
		_, err = e.handle(api, WeChatCode{AppID: appApp}, apiFrom)
		requireCode(t, err, CodeWeChatRefused)
	})

	t.Run("WeChat's refusals", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		e.wx.issue("wx-code", person(appApp, n))
		e.wx.refuse("blocked", wxErr("sns/jscode2session", wechat.ErrCodeBlocked))
		e.wx.refuse("busy", wxErr("sns/oauth2/access_token", wechat.ErrBusy))
		j, from := e.start(t, API, ChannelMobileApp)
		for _, c := range []struct {
			app, code string
			want      Code
		}{
			{"wxnone", "wx-code", CodeUnknownApp},
			{appWeb, "wx-code", CodeInvalidWeChatCode}, // another app's code
			{appApp, "made-up", CodeInvalidWeChatCode},
			{appApp, "blocked", CodeWeChatLoginBlocked},
			{appApp, "busy", CodeWeChatUnavailable},
		} {
			_, err := e.handle(j, WeChatCode{AppID: c.app, Code: c.code}, from)
			requireCode(t, err, c.want, "%s/%s", c.app, c.code)
		}
		require.Equal(t, WeChatPending, e.get(t, j.ID).State, "each can be tried again")
		a, err := e.handle(j, WeChatCode{AppID: appApp, Code: "wx-code"}, from)
		require.NoError(t, err)
		require.Equal(t, PhoneRequested, a.Journey.State)

		k, kFrom := e.start(t, API, ChannelMobileApp)
		_, err = e.handle(k, WeChatCode{AppID: appApp, Code: "wx-code"}, kFrom)
		requireCode(t, err, CodeWeChatCodeUsed)
	})

	t.Run("Official Account base scope without a unionid asks for userinfo", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		acct := person(appOA, n)
		acct.UnionID = ""
		e.wx.issue("base", acct)
		j, from := e.start(t, Browser, ChannelOABase)
		_, err := e.handle(j, WeChatStart{Channel: ChannelOABase, StateHash: "h", AppID: appOA}, from)
		require.NoError(t, err)
		a, err := e.handle(j, WeChatCode{AppID: appOA, Code: "base", StateHash: "h"}, from)
		require.NoError(t, err)
		require.Equal(t, appOA, a.StepUpAppID)
		require.Equal(t, WeChatPending, e.get(t, j.ID).State)
		require.Empty(t, e.get(t, j.ID).EntryOpenID, "the entry account is the unionid account: nothing to link")

		withUnion := person(appOA, n)
		e.wx.issue("userinfo", withUnion)
		_, err = e.handle(j, WeChatStart{Channel: ChannelOAUserinfo, StateHash: "h2", AppID: appOA}, from)
		require.NoError(t, err)
		a, err = e.handle(j, WeChatCode{AppID: appOA, Code: "userinfo", StateHash: "h2"}, from)
		require.NoError(t, err)
		require.Empty(t, a.StepUpAppID)
		require.Equal(t, PhoneRequested, a.Journey.State)
		require.Equal(t, withUnion.UnionID, a.Journey.UnionID)
	})

	t.Run("the unionid chain: entry account, step-up on the unionid account, both openids under the unionid", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		entry := person(appOA2, n)
		entry.UnionID = "" // the entry account reveals none
		e.wx.issue("base", entry)
		e.wx.issue("userinfo", person(appOA, n))
		j, from := e.start(t, Browser, ChannelOABase)

		_, err := e.handle(j, WeChatStart{Channel: ChannelOABase, StateHash: "h", AppID: appOA2}, from)
		require.NoError(t, err)
		// The code goes to the app the state was issued for, whatever the
		// transport says.
		a, err := e.handle(j, WeChatCode{AppID: appWeb, Code: "base", StateHash: "h"}, from)
		require.NoError(t, err)
		require.Equal(t, appOA, a.StepUpAppID, "step up on the unionid account")
		require.Equal(t, entry.OpenID, e.get(t, j.ID).EntryOpenID)

		_, err = e.handle(j, WeChatStart{Channel: ChannelOAUserinfo, StateHash: "h2", AppID: appOA}, from)
		require.NoError(t, err)
		a, err = e.handle(j, WeChatCode{AppID: appOA2, Code: "userinfo", StateHash: "h2"}, from)
		require.NoError(t, err)
		require.Equal(t, PhoneRequested, a.Journey.State)
		require.Equal(t, appOA, a.Journey.AppID)

		// Binding by phone binds the unionid; the entry account's openid was
		// recorded under it, so the next base login there is recognised.
		_, err = e.handle(j, PhoneEntered{Number: string(phone(n))}, from)
		require.NoError(t, err)
		a, err = e.handle(j, CodeEntered{Code: e.sendCode(t, e.get(t, j.ID), from)}, from)
		require.NoError(t, err)
		require.Equal(t, Bound, a.Journey.State)
		user := a.Person.User.ID
		links := e.audit.find(audit.KindLink, audit.OK)
		require.Len(t, links, 1, "the link is audited")
		require.Equal(t, []string{appOA2, entry.OpenID, person(appOA, n).UnionID, user},
			[]string{links[0].AppID, links[0].OpenID, links[0].UnionID, links[0].UserID})
		k, kFrom := e.start(t, Browser, ChannelOABase)
		e.wx.issue("base-again", entry)
		_, err = e.handle(k, WeChatStart{Channel: ChannelOABase, StateHash: "k", AppID: appOA2}, kFrom)
		require.NoError(t, err)
		a, err = e.handle(k, WeChatCode{Code: "base-again", StateHash: "k"}, kFrom)
		require.NoError(t, err)
		require.Empty(t, a.StepUpAppID, "no second step-up")
		require.Equal(t, Identified, a.Journey.State)
		require.Equal(t, user, a.Person.User.ID)
	})

	t.Run("the unionid chain recognises a bound person at the step-up and links nothing without phone proof", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		user := e.bindNew(t, person(appWeb, n), phone(n)) // bound through the website QR
		entry := person(appOA2, n)
		entry.UnionID = ""
		e.wx.issue("base", entry)
		e.wx.issue("userinfo", person(appOA, n))
		j, from := e.start(t, Browser, ChannelOABase)
		_, err := e.handle(j, WeChatStart{Channel: ChannelOABase, StateHash: "h", AppID: appOA2}, from)
		require.NoError(t, err)
		a, err := e.handle(j, WeChatCode{Code: "base", StateHash: "h"}, from)
		require.NoError(t, err)
		require.Equal(t, appOA, a.StepUpAppID)
		_, err = e.handle(j, WeChatStart{Channel: ChannelOAUserinfo, StateHash: "h2", AppID: appOA}, from)
		require.NoError(t, err)
		a, err = e.handle(j, WeChatCode{Code: "userinfo", StateHash: "h2"}, from)
		require.NoError(t, err)
		require.Equal(t, Identified, a.Journey.State)
		require.Equal(t, user.ID, a.Person.User.ID)

		// The two answers could come from two people's WeChat (a code
		// passed on): recorded together they would let the entry account
		// into this account for good. Without this journey's phone proof,
		// the entry account keeps finding the person through the step-up.
		require.Empty(t, e.boundUserOf(t, binding.Account{AppID: appOA2, OpenID: entry.OpenID}), "no link")
		require.Empty(t, e.audit.find(audit.KindLink, audit.OK))
	})

	t.Run("a state presented by another browser ends the journey it was issued for", func(t *testing.T) {
		e := newEnv(t, db)
		j, from := e.start(t, Browser, ChannelOABase)
		_, err := e.handle(j, WeChatStart{Channel: ChannelOABase, StateHash: "h", AppID: appOA2}, from)
		require.NoError(t, err)
		elsewhere := From{ClientIP: "192.0.2.9"}
		for _, c := range []struct{ id, hash string }{{j.ID, "other"}, {j.ID, ""}, {"", "h"}, {"nosuch", "h"}} {
			ended, err := e.eng.StateElsewhere(context.Background(), c.id, c.hash, elsewhere)
			require.NoError(t, err)
			require.False(t, ended, "%+v", c)
		}
		require.Equal(t, WeChatPending, e.get(t, j.ID).State)
		ended, err := e.eng.StateElsewhere(context.Background(), j.ID, "h", elsewhere)
		require.NoError(t, err)
		require.True(t, ended)
		require.Equal(t, Failed, e.get(t, j.ID).State)
		require.Len(t, e.audit.find(audit.KindRefusal, audit.StateElsewhere), 1)
		_, err = e.handle(j, WeChatCode{Code: "any", StateHash: "h"}, from)
		require.Error(t, err, "the journey's own callback is refused now")
		require.Zero(t, e.wx.calls)

		// A state already used (the callback came back to its browser)
		// ends nothing.
		k, kFrom := e.start(t, Browser, ChannelOABase)
		e.wx.issue("base", person(appOA2, e.next()))
		_, err = e.handle(k, WeChatStart{Channel: ChannelOABase, StateHash: "k", AppID: appOA2}, kFrom)
		require.NoError(t, err)
		_, err = e.handle(k, WeChatCode{Code: "base", StateHash: "k"}, kFrom)
		require.NoError(t, err)
		ended, err = e.eng.StateElsewhere(context.Background(), k.ID, "k", elsewhere)
		require.NoError(t, err)
		require.False(t, ended)
	})

	t.Run("cancel ends the journey; every event after is refused as ended", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		e.wx.issue("wx-code", person(appWeb, n))
		j, from := e.start(t, Browser, ChannelQRInline)
		_, err := e.handle(j, WeChatStart{Channel: ChannelQRInline, StateHash: "h"}, from)
		require.NoError(t, err)
		a, err := e.handle(j, Cancel{}, from)
		require.NoError(t, err)
		require.Equal(t, Failed, a.Journey.State)
		for _, ev := range allEvents(n, e.next(), "123456") {
			_, err := e.handle(j, ev, from)
			requireCode(t, err, CodeEnded, "%T", ev)
		}
		_, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "wx-code", StateHash: "h"}, from)
		requireCode(t, err, CodeEnded, "a late callback with the state")
		require.Equal(t, Failed, e.get(t, j.ID).State)
		require.False(t, e.get(t, j.ID).ExpiresAt.After(e.clock.Now().Add(FinishGrace)),
			"a failed journey stays only to tell a reload how it ended")
		e.clock.Advance(FinishGrace)
		_, err = e.handle(j, Cancel{}, from)
		requireCode(t, err, CodeExpired, "then it is gone like any expired journey")
	})

	t.Run("a callback whose exchange failed spends its state: a repeat is refused at once", func(t *testing.T) {
		e := newEnv(t, db)
		e.wx.refuse("busy", wxErr("sns/oauth2/access_token", wechat.ErrBusy))
		j, from := e.start(t, Browser, ChannelQRInline)
		_, err := e.handle(j, WeChatStart{Channel: ChannelQRInline, StateHash: "h"}, from)
		require.NoError(t, err)
		_, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "busy", StateHash: "h"}, from)
		requireCode(t, err, CodeWeChatUnavailable)
		cur := e.get(t, j.ID)
		require.Equal(t, WeChatPending, cur.State, "the page can issue a new state")
		require.Empty(t, cur.WeChatStateHash, "the spent state is forgotten")
		calls := e.wx.callCount()
		_, err = e.handle(j, WeChatCode{AppID: appWeb, Code: "busy", StateHash: "h"}, from)
		requireCode(t, err, CodeStateInvalid)
		require.Equal(t, calls, e.wx.callCount(), "WeChat is not asked again")
	})

	t.Run("forget ends a journey for its holder only, whatever its state", func(t *testing.T) {
		e := newEnv(t, db)
		_, _, j, from := e.identified(t)
		_, err := e.handle(j, Finish{}, from)
		require.NoError(t, err)

		require.NoError(t, e.eng.Forget(context.Background(), j.ID, From{SecretHash: "someone else"}))
		_, err = e.handle(j, Finish{}, from)
		require.NoError(t, err, "another holder cannot end it")

		require.NoError(t, e.eng.Forget(context.Background(), j.ID, from))
		_, err = e.handle(j, Finish{}, from)
		requireCode(t, err, CodeExpired, "no repeat after the holder let go")
		require.Equal(t, Finished, e.get(t, j.ID).State, "an expiry is no transition")
		require.NoError(t, e.eng.Forget(context.Background(), j.ID, from), "forgetting twice is fine")
		require.NoError(t, e.eng.Forget(context.Background(), "no-such-journey", from))
	})

	t.Run("a refusal before WeChat named anyone is audited with the app", func(t *testing.T) {
		e := newEnv(t, db)
		e.wx.refuse("blocked", wxErr("sns/jscode2session", wechat.ErrCodeBlocked))
		j, from := e.start(t, API, ChannelMiniProgram)
		_, err := e.handle(j, WeChatCode{AppID: appMini, Code: "blocked"}, from)
		requireCode(t, err, CodeWeChatLoginBlocked)
		refusals := e.audit.find(audit.KindRefusal, CodeWeChatLoginBlocked.Audit())
		require.Len(t, refusals, 1)
		require.Equal(t, appMini, refusals[0].AppID)
		require.Empty(t, refusals[0].OpenID)
	})

	t.Run("snapshot user: the journey fails", func(t *testing.T) {
		for _, refusal := range []error{
			wxErr("sns/oauth2/access_token", wechat.ErrSnapshotUser),
			&Error{Code: CodeSnapshotUser},
		} {
			e := newEnv(t, db)
			e.wx.refuse("snap", refusal)
			j, from := e.start(t, Browser, ChannelOAUserinfo)
			_, err := e.handle(j, WeChatStart{Channel: ChannelOAUserinfo, StateHash: "h"}, from)
			require.NoError(t, err)
			_, err = e.handle(j, WeChatCode{AppID: appOA, Code: "snap", StateHash: "h"}, from)
			requireCode(t, err, CodeSnapshotUser)
			require.Equal(t, Failed, e.get(t, j.ID).State)
			require.Len(t, e.audit.find(audit.KindRefusal, audit.SnapshotUser), 1)
			_, err = e.handle(j, PhoneEntered{Number: typed(e.next())}, from)
			requireCode(t, err, CodeEnded)
		}
	})

	t.Run("change number and resend", func(t *testing.T) {
		e := newEnv(t, db, func(c *envConfig) {
			c.otp = func(c *otp.Config) { c.Cooldown = time.Minute }
		})
		n, m := e.next(), e.next()
		j := &Journey{State: PhoneRequested}
		j.setAccount(person(appWeb, n))
		from := e.put(t, j)
		_, err := e.handle(j, PhoneEntered{Number: "not a number"}, from)
		requireCode(t, err, CodeInvalidPhone)
		a, err := e.handle(j, PhoneEntered{Number: typed(n)}, from)
		require.NoError(t, err)
		require.Equal(t, time.Minute, a.Sent.ResendAfter)
		first := e.codes.Outbox.Last(phone(n))

		_, err = e.handle(j, Resend{}, from)
		oe := requireCode(t, err, CodeRateLimited)
		require.Equal(t, time.Minute, oe.RetryAfter)
		require.Len(t, e.audit.find(audit.KindRefusal, audit.RateLimited), 1)

		a, err = e.handle(j, ChangeNumber{}, from)
		require.NoError(t, err)
		require.Equal(t, PhoneRequested, a.Journey.State)
		require.Empty(t, a.Journey.Phone)
		_, err = e.handle(j, CodeEntered{Code: first}, from)
		requireCode(t, err, CodeNoCode, "no number, no code")

		a, err = e.handle(j, PhoneEntered{Number: typed(m)}, from)
		require.NoError(t, err)
		require.Equal(t, string(phone(m)), a.Journey.Phone)
		if first != e.codes.Outbox.Last(phone(m)) { // one chance in a million
			_, err = e.handle(j, CodeEntered{Code: first}, from)
			requireCode(t, err, CodeWrongCode, "the first number's code does not prove the second")
		}
		e.clock.Advance(time.Minute)
		a, err = e.handle(j, Resend{}, from)
		require.NoError(t, err)
		require.Equal(t, 2, e.codes.Outbox.Count(phone(m)))
		a, err = e.handle(j, CodeEntered{Code: e.codes.Outbox.Last(phone(m))}, from)
		require.NoError(t, err)
		require.Equal(t, string(phone(m)), a.Person.User.Phone)
		require.Zero(t, e.usersWithPhone(t, phone(n)))
	})

	t.Run("a double submission of one number sends one code and answers with the code step", func(t *testing.T) {
		// The browser shows the answer to the second click: it said "wait"
		// while the code was on its way (an outside probe).
		e := newEnv(t, db, func(c *envConfig) {
			c.otp = func(c *otp.Config) { c.Cooldown, c.LoginGap = time.Minute, 300*time.Millisecond }
		})
		n := e.next()
		j := &Journey{State: PhoneRequested}
		j.setAccount(person(appWeb, n))
		from := e.put(t, j)
		answers, errs := race(2, func(int) (Answer, error) { return e.handle(j, PhoneEntered{Number: typed(n)}, from) })
		sent := 0
		for i, err := range errs {
			if err == nil {
				require.NotNil(t, answers[i].Sent)
				sent++
				continue
			}
			oe := requireCode(t, err, CodeRateLimited)
			require.True(t, oe.SentMeanwhile, "the other click's code is on its way: %v", oe.Cause)
		}
		require.Equal(t, 1, sent)
		require.Equal(t, 1, e.codes.Outbox.Count(phone(n)))

		// A click on "send again" right after: the same. A new number
		// within the gap is a wait, not a code on its way.
		_, err := e.handle(j, Resend{}, from)
		require.True(t, requireCode(t, err, CodeRateLimited).SentMeanwhile)
		_, err = e.handle(j, PhoneEntered{Number: typed(e.next())}, from)
		require.False(t, requireCode(t, err, CodeRateLimited).SentMeanwhile)
	})

	t.Run("unknown phone refused by policy, before any SMS", func(t *testing.T) {
		e := newEnv(t, db, func(c *envConfig) { c.login.OnUnknownPhone = login.UnknownPhoneRefuse })
		n := e.next()
		j := &Journey{State: PhoneRequested}
		j.setAccount(person(appWeb, n))
		from := e.put(t, j)
		_, err := e.handle(j, PhoneEntered{Number: typed(n)}, from)
		requireCode(t, err, CodeUnknownPhone)
		require.Zero(t, e.codes.Outbox.Count(phone(n)))
		require.Len(t, e.audit.find(audit.KindRefusal, audit.UnknownPhone), 1)
	})

	t.Run("a user bound to another WeChat person", func(t *testing.T) {
		e := newEnv(t, db)
		n := e.next()
		e.bindNew(t, person(appWeb, e.next()), phone(n))
		j := &Journey{State: CodeSent, Phone: string(phone(n))}
		j.setAccount(person(appWeb, n))
		from := e.put(t, j)
		code := e.sendCode(t, j, from)
		_, err := e.handle(j, CodeEntered{Code: code}, from)
		requireCode(t, err, CodeUserBoundElsewhere)
		require.Len(t, e.audit.find(audit.KindRefusal, audit.UserBound), 1)
		require.Equal(t, CodeSent, e.get(t, j.ID).State)
		require.False(t, e.codeSpent(t, j), "the code is still usable")
	})

	t.Run("refusals that are not the person's doing are not audited", func(t *testing.T) {
		e := newEnv(t, db)
		j, from := e.start(t, API, ChannelMobileApp)
		before := e.audit.count()
		_, err := e.handle(j, Finish{}, from)
		requireCode(t, err, CodeWrongStep)
		_, err = e.handle(j, Cancel{}, From{SecretHash: "nope"})
		requireCode(t, err, CodeInvalid)
		require.Equal(t, before, e.audit.count())
	})
}

// allEvents is one of every event, for person n; m is a phone number
// other than the journey's.
func allEvents(n, m int, code string) []Event {
	return []Event{
		WeChatStart{Channel: ChannelQRInline, StateHash: fmt.Sprintf("state-%d", n)},
		WeChatCode{AppID: appWeb, Code: fmt.Sprintf("wx-%d", n)},
		PhoneEntered{Number: typed(m)},
		Resend{},
		ChangeNumber{},
		CodeEntered{Code: code},
		WeChatPhone{PhoneCode: fmt.Sprintf("phone-%d", n)},
		Cancel{},
		Finish{},
	}
}

// race runs fn n times at once (released together) and returns what each
// returned.
func race[T any](n int, fn func(i int) (T, error)) ([]T, []error) {
	out, errs := make([]T, n), make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			out[i], errs[i] = fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return out, errs
}
