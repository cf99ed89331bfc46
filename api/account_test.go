package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/account"
	"wxcas/api"
	"wxcas/audit"
	"wxcas/binding"
	"wxcas/cas"
	"wxcas/i18n"
	"wxcas/journey"
	"wxcas/logx"
	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/ratelimit"
	"wxcas/store"
	"wxcas/store/storetest"
)

// accountEnv is the API with its /account calls on a real account.Service
// over the env's database, CAS server and WeChat emulator.
type accountEnv struct {
	*env
	svc *account.Service
}

type accountOpts struct {
	api func(*api.Config)
	// accounts and sessions, when set, stand in for the real ones.
	accounts api.Accounts
	sessions api.Sessions
}

func newAccountEnv(t *testing.T, db *store.DB, o accountOpts) *accountEnv {
	t.Helper()
	ae := &accountEnv{}
	ae.env = newEnv(t, db, envOpts{api: o.api, deps: func(e *env, d *api.Deps) {
		logger, err := logx.New(io.MultiWriter(e.log, t.Output()), "text", "debug")
		require.NoError(t, err)
		ae.svc, err = account.New(account.Deps{
			Bindings: e.dir, Directory: e.dir, Phones: e.dir, Sessions: e.casSrv, Codes: e.codes.Svc, Tx: db,
			Replacements: account.SQLReplacements{DB: db}, Probes: ratelimit.Limiter{DB: db, Table: "login_rate_counters"},
			Audit: e.audit, Now: e.clock.Now, Log: logger,
		})
		require.NoError(t, err)
		d.Account = api.AccountDeps{
			Service: ae.svc, Sessions: e.casSrv, Logins: e.audit, PhoneRegion: "CN",
			WeChat: journey.WeChatClient{Client: e.wx, Log: logger},
		}
		if o.accounts != nil {
			d.Account.Service = o.accounts
		}
		if o.sessions != nil {
			d.Account.Sessions = o.sessions
		}
	}})
	return ae
}

// bound logs person in from the mini program for the first time, binds
// phone by SMS and returns the TGT and the user id. The clock then moves
// past the phone's resend cooldown, so that an account code can be sent.
func (e *accountEnv) bound(person, phone string) (tgt, userID string) {
	e.t.Helper()
	first := e.login(mini, e.jsCode(person), api.StatusBindingRequired)
	next, code := e.sendCode(first.BindToken, phone)
	r := e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: code})
	require.Equal(e.t, http.StatusOK, r.Status, "%s", r.Raw)
	e.clock.Advance(time.Minute)
	return r.OK.TGT, r.OK.UserID
}

// call posts v to /api/v1/account<path> signed in with tgt.
func (e *accountEnv) call(tgt, path string, v any, headers ...string) result {
	e.t.Helper()
	return e.post("/account"+path, v, append([]string{"Authorization", "Bearer " + tgt}, headers...)...)
}

// ok asserts a 200 answer and decodes it into out.
func (e *accountEnv) ok(r result, out any) {
	e.t.Helper()
	require.Equal(e.t, http.StatusOK, r.Status, "%s", r.Raw)
	require.NoError(e.t, json.Unmarshal(r.Raw, out))
}

func (e *accountEnv) profile(tgt string) api.Profile {
	e.t.Helper()
	var p api.Profile
	e.ok(e.call(tgt, "", api.AccountRequest{}), &p)
	require.Equal(e.t, api.StatusProfile, p.Status)
	return p
}

// sendAccountCode asks for a code and returns the one that arrived at phone.
func (e *accountEnv) sendAccountCode(tgt string, req api.AccountCodeRequest, phone string) string {
	e.t.Helper()
	var sent api.Response
	e.ok(e.call(tgt, "/code", req), &sent)
	require.Equal(e.t, api.StatusCodeSent, sent.Status)
	require.Empty(e.t, sent.BindToken)
	code := e.codes.Outbox.Last(otp.Phone(phone))
	require.NotEmpty(e.t, code)
	return code
}

// tgtStatus is the CAS REST status of a TGT: 200 alive, 404 ended.
func (e *accountEnv) tgtStatus(tgt string) int {
	e.t.Helper()
	resp, err := http.Get(e.ts.URL + "/cas/v1/tickets/" + tgt)
	require.NoError(e.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func (e *accountEnv) auditOf(userID, kind string) []audit.Event {
	e.t.Helper()
	events, err := e.audit.List(context.Background(), audit.Filter{UserID: userID, Kind: kind})
	require.NoError(e.t, err)
	return events
}

func TestAccountProfile(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newAccountEnv(t, db, accountOpts{})
		tgt, userID := e.bound("alice", "13800138000")
		e.login(mobile, e.appCode("alice"), api.StatusLoggedIn) // the same person in the app

		r := e.call(tgt, "", api.AccountRequest{})
		var p api.Profile
		e.ok(r, &p)
		require.Equal(t, userID, p.UserID)
		require.Equal(t, "+86138****8000", p.Phone)
		require.True(t, p.PhoneEditable)
		require.True(t, p.WeChat.Bound)
		require.Equal(t, e.clock.Now().Add(-time.Minute).Format(time.RFC3339), p.WeChat.BoundAt)
		require.Len(t, p.WeChat.Apps, 2, "%s", r.Raw)
		require.Equal(t, api.ProfileApp{AppID: mini, Kind: "mini_program", FirstSeen: p.WeChat.BoundAt, LastSeen: p.WeChat.BoundAt}, p.WeChat.Apps[0])
		require.Equal(t, mobile, p.WeChat.Apps[1].AppID)
		require.Equal(t, "mobile_app", p.WeChat.Apps[1].Kind)
		require.Len(t, p.RecentLogins, 2, "%s", r.Raw)
		require.Equal(t, "mobile_app", p.RecentLogins[0].Channel, "newest first")
		require.Equal(t, "mini_program", p.RecentLogins[1].Channel)

		// No identifier an app does not need, and no whole phone number.
		b, err := e.dir.BindingOf(t.Context(), userID)
		require.NoError(t, err)
		for _, a := range b.Accounts {
			require.NotContains(t, string(r.Raw), a.OpenID)
			require.NotEmpty(t, a.UnionID)
			require.NotContains(t, string(r.Raw), a.UnionID)
		}
		require.NotContains(t, string(r.Raw), "13800138000")
		require.NotContains(t, e.log.String(), strings.TrimPrefix(tgt, "TGT-"), "the TGT stays out of the log")
	})
}

// TestAccountSignIn: the calls need the app's live CAS session, as a
// Bearer token; every refusal is a 401 with a challenge, before the body
// is read.
func TestAccountSignIn(t *testing.T) {
	e := newAccountEnv(t, storetest.SQLite(t), accountOpts{})
	tgt, _ := e.bound("alice", "13800138000")
	ended, _ := e.bound("bob", "13900139000")
	r, err := http.NewRequest(http.MethodDelete, e.ts.URL+"/cas/v1/tickets/"+ended, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	const bare, invalidToken = `Bearer realm="wxcas"`, `Bearer realm="wxcas", error="invalid_token"`
	tests := []struct {
		name          string
		authorization string
		body          any
		code          string
		challenge     string
	}{
		{"no credentials", "", api.AccountRequest{}, api.CodeSessionRequired, bare},
		{"another scheme", "Basic YWxpY2U6c2VjcmV0", api.AccountRequest{}, api.CodeSessionRequired, bare},
		{"no token", "Bearer ", api.AccountRequest{}, api.CodeSessionRequired, bare},
		{"a TGT in the body is not a credential", "", map[string]string{"tgt": tgt}, api.CodeSessionRequired, bare},
		{"unknown TGT", "Bearer TGT-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRST", api.AccountRequest{}, api.CodeInvalidSession, invalidToken},
		{"not a TGT", "Bearer ST-ABCDEFGHIJKLMNOPQRSTUVWXYZ", api.AccountRequest{}, api.CodeInvalidSession, invalidToken},
		{"logged out", "Bearer " + ended, api.AccountRequest{}, api.CodeInvalidSession, invalidToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.authorization != "" {
				headers = []string{"Authorization", tc.authorization}
			}
			r := e.post("/account", tc.body, headers...)
			requireError(t, r, http.StatusUnauthorized, tc.code)
			require.Equal(t, tc.challenge, r.Header.Get("WWW-Authenticate"))
		})
	}

	t.Run("the scheme is case-insensitive", func(t *testing.T) {
		r := e.post("/account", api.AccountRequest{}, "Authorization", "bearer "+tgt)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	})
	t.Run("signed in, the body is checked as everywhere", func(t *testing.T) {
		r := e.call(tgt, "", map[string]string{"user_id": "someone-else"})
		requireError(t, r, http.StatusBadRequest, api.CodeInvalidRequest)
		r = e.send(http.MethodPost, "/api/v1/account", "text/plain", []byte("{}"), "Authorization", "Bearer "+tgt)
		requireError(t, r, http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType)
	})
	t.Run("POST only", func(t *testing.T) {
		r := e.send(http.MethodGet, "/api/v1/account", "", nil, "Authorization", "Bearer "+tgt)
		requireError(t, r, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed)
	})
	t.Run("an expired session", func(t *testing.T) {
		e.clock.Advance(9 * time.Hour)
		r := e.call(tgt, "", api.AccountRequest{})
		requireError(t, r, http.StatusUnauthorized, api.CodeInvalidSession)
	})
}

func TestAccountUnbind(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newAccountEnv(t, db, accountOpts{})
		tgt, userID := e.bound("alice", "13800138000")
		other := e.login(mobile, e.appCode("alice"), api.StatusLoggedIn).TGT // her session in the app

		requireError(t, e.call(tgt, "/unbind", api.AccountUnbindRequest{Code: "123456"}), http.StatusBadRequest, api.CodeNoCode)
		code := e.sendAccountCode(tgt, api.AccountCodeRequest{Purpose: api.PurposeUnbind}, "+8613800138000")

		r := e.call(tgt, "/unbind", api.AccountUnbindRequest{})
		requireError(t, r, http.StatusBadRequest, api.CodeMalformedCode)
		r = e.call(other, "/unbind", api.AccountUnbindRequest{Code: code})
		requireError(t, r, http.StatusBadRequest, api.CodeNoCode) // a code belongs to the session that asked
		r = e.call(tgt, "/unbind", api.AccountUnbindRequest{Code: otptest.Wrong(code)})
		requireError(t, r, http.StatusBadRequest, api.CodeWrongCode)
		require.Equal(t, 4, *r.Err.AttemptsLeft)

		var done api.AccountChanged
		e.ok(e.call(tgt, "/unbind", api.AccountUnbindRequest{Code: code}), &done)
		require.Equal(t, api.AccountChanged{Status: api.StatusUnbound, OtherSessionsEnded: 1}, done)

		require.Equal(t, http.StatusNotFound, e.tgtStatus(other), "her other session is over")
		require.Equal(t, http.StatusOK, e.tgtStatus(tgt), "the session that asked stays")
		requireError(t, e.call(other, "", api.AccountRequest{}), http.StatusUnauthorized, api.CodeInvalidSession)

		p := e.profile(tgt)
		require.False(t, p.WeChat.Bound)
		require.Empty(t, p.WeChat.Apps)
		events := e.auditOf(userID, audit.KindUnbind)
		require.Len(t, events, 1)
		require.Equal(t, audit.ChannelAPI, events[0].Channel)
		require.Empty(t, events[0].Actor, "the person themself")

		e.clock.Advance(time.Minute)
		r = e.call(tgt, "/code", api.AccountCodeRequest{Purpose: api.PurposeUnbind})
		requireError(t, r, http.StatusConflict, "not_bound")
		e.login(mini, e.jsCode("alice"), api.StatusBindingRequired)
	})
}

func TestAccountChangePhone(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newAccountEnv(t, db, accountOpts{})
		tgt, userID := e.bound("alice", "13800138000")
		e.bound("bob", "13900139000")
		other := e.login(mobile, e.appCode("alice"), api.StatusLoggedIn).TGT

		refusals := []struct {
			name   string
			req    api.AccountCodeRequest
			status int
			code   string
		}{
			{"another user's number", api.AccountCodeRequest{Purpose: api.PurposePhone, Phone: "139 0013 9000"}, http.StatusConflict, "phone_taken"},
			{"her own number", api.AccountCodeRequest{Purpose: api.PurposePhone, Phone: "+8613800138000"}, http.StatusBadRequest, "same_phone"},
			{"not a mobile number", api.AccountCodeRequest{Purpose: api.PurposePhone, Phone: "12345"}, http.StatusBadRequest, api.CodeInvalidPhone},
			{"no number", api.AccountCodeRequest{Purpose: api.PurposePhone}, http.StatusBadRequest, api.CodeInvalidRequest},
			{"a number for the bound phone's code", api.AccountCodeRequest{Purpose: api.PurposeUnbind, Phone: "13700137000"}, http.StatusBadRequest, api.CodeInvalidRequest},
			{"no such purpose", api.AccountCodeRequest{Purpose: "account_phone"}, http.StatusBadRequest, api.CodeInvalidRequest},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				requireError(t, e.call(tgt, "/code", tc.req), tc.status, tc.code)
			})
		}
		require.Equal(t, 1, e.codes.Outbox.Count("+8613900139000"), "no code to a number that cannot be taken")

		t.Run("a session whose WeChat login is not fresh", func(t *testing.T) {
			stale, _ := e.bound("carol", "13600136000")
			e.clock.Advance(account.FreshLogin + time.Second)
			requireError(t, e.call(stale, "/code", api.AccountCodeRequest{Purpose: api.PurposePhone, Phone: "13600136001"}),
				http.StatusForbidden, "fresh_login_required")
			require.Zero(t, e.codes.Outbox.Count("+8613600136001"), "no code sent")
		})
		// The clock moved on: Alice logs in again for a fresh session;
		// her first one is now one of the other sessions the change ends.
		tgt = e.login(mobile, e.appCode("alice"), api.StatusLoggedIn).TGT

		code := e.sendAccountCode(tgt, api.AccountCodeRequest{Purpose: api.PurposePhone, Phone: "137 0013 7000"}, "+8613700137000")
		r := e.call(tgt, "/phone", api.AccountPhoneRequest{Phone: "13700137001", Code: code})
		requireError(t, r, http.StatusBadRequest, api.CodeNoCode) // the code is for the number it went to
		var done api.AccountChanged
		e.ok(e.call(tgt, "/phone", api.AccountPhoneRequest{Phone: "13700137000", Code: code}), &done)
		require.Equal(t, api.AccountChanged{Status: api.StatusPhoneChanged, OtherSessionsEnded: 2}, done)
		require.Equal(t, "+86137****7000", e.profile(tgt).Phone)
		u, err := e.dir.FindByPhone(t.Context(), "+8613700137000")
		require.NoError(t, err)
		require.Equal(t, userID, u.ID)
		require.Equal(t, http.StatusNotFound, e.tgtStatus(other))
		require.Len(t, e.auditOf(userID, audit.KindPhoneChange), 1)

		// Two people after the same new number: the first to confirm has it.
		bob := e.login(mobile, e.appCode("bob"), api.StatusLoggedIn).TGT // a fresh session: the clock moved on
		aliceCode := e.sendAccountCode(tgt, api.AccountCodeRequest{Purpose: api.PurposePhone, Phone: "13700137002"}, "+8613700137002")
		e.clock.Advance(time.Minute)
		bobCode := e.sendAccountCode(bob, api.AccountCodeRequest{Purpose: api.PurposePhone, Phone: "13700137002"}, "+8613700137002")
		e.ok(e.call(bob, "/phone", api.AccountPhoneRequest{Phone: "13700137002", Code: bobCode}), &done)
		r = e.call(tgt, "/phone", api.AccountPhoneRequest{Phone: "13700137002", Code: aliceCode})
		requireError(t, r, http.StatusConflict, "phone_taken")
		require.Equal(t, "+86137****7000", e.profile(tgt).Phone)
	})
}

func TestAccountReplace(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newAccountEnv(t, db, accountOpts{})
		tgt, userID := e.bound("alice", "13800138000")
		e.bound("bob", "13900139000")
		other := e.login(mobile, e.appCode("alice"), api.StatusLoggedIn).TGT
		before, err := e.dir.BindingOf(t.Context(), userID)
		require.NoError(t, err)

		sms := e.sendAccountCode(tgt, api.AccountCodeRequest{Purpose: api.PurposeReplace}, "+8613800138000")
		refusals := []struct {
			name   string
			req    api.AccountReplaceRequest
			status int
			code   string
		}{
			{"an app that is not configured", api.AccountReplaceRequest{AppID: "wxnope", Code: "c", SMSCode: sms}, http.StatusBadRequest, api.CodeUnknownApp},
			{"a website's code comes from a browser", api.AccountReplaceRequest{AppID: web, Code: "c", SMSCode: sms}, http.StatusBadRequest, api.CodeUnsupportedAppKind},
			{"a code WeChat does not know", api.AccountReplaceRequest{AppID: mobile, Code: "bogus", SMSCode: sms}, http.StatusBadRequest, api.CodeInvalidWeChatCode},
			{"the WeChat account already bound", api.AccountReplaceRequest{AppID: mini, Code: e.jsCode("alice"), SMSCode: sms}, http.StatusConflict, "same_wechat"},
			{"another user's WeChat account", api.AccountReplaceRequest{AppID: mobile, Code: e.appCode("bob"), SMSCode: sms}, http.StatusConflict, "wechat_bound_elsewhere"},
			{"a wrong SMS code", api.AccountReplaceRequest{AppID: mobile, Code: e.appCode("carol"), SMSCode: otptest.Wrong(sms)}, http.StatusBadRequest, api.CodeWrongCode},
			{"no WeChat code", api.AccountReplaceRequest{AppID: mobile, SMSCode: sms}, http.StatusBadRequest, api.CodeInvalidRequest},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				requireError(t, e.call(tgt, "/replace", tc.req), tc.status, tc.code)
			})
		}

		var done api.AccountChanged
		e.ok(e.call(tgt, "/replace", api.AccountReplaceRequest{AppID: mobile, Code: e.appCode("carol"), SMSCode: sms}), &done)
		require.Equal(t, api.AccountChanged{Status: api.StatusReplaced, OtherSessionsEnded: 1}, done)
		after, err := e.dir.BindingOf(t.Context(), userID)
		require.NoError(t, err)
		require.NotEqual(t, before.IdentityKey, after.IdentityKey)
		require.Equal(t, mobile, after.Accounts[0].AppID)
		require.Equal(t, http.StatusNotFound, e.tgtStatus(other))
		require.Equal(t, http.StatusOK, e.tgtStatus(tgt))

		// Carol's WeChat is alice's account now, in every app; alice's old
		// WeChat account starts a first login.
		require.Equal(t, userID, e.login(mini, e.jsCode("carol"), api.StatusLoggedIn).UserID)
		e.login(mini, e.jsCode("alice"), api.StatusBindingRequired)
		events := e.auditOf(userID, audit.KindBind)
		require.Equal(t, audit.ChannelAPI, events[0].Channel, "newest first: the replacement")
		require.Equal(t, mobile, events[0].AppID)

		r := e.call(tgt, "/replace", api.AccountReplaceRequest{AppID: mobile, Code: e.appCode("dave"), SMSCode: sms})
		requireError(t, r, http.StatusBadRequest, api.CodeNoCode) // the code is used up
	})
}

// TestAccountLimits: the SMS limits answer as in the binding (429 with
// Retry-After), and the calls have their own per-IP limit.
func TestAccountLimits(t *testing.T) {
	e := newAccountEnv(t, storetest.SQLite(t), accountOpts{api: func(c *api.Config) {
		c.AccountPerIP = api.Limit{Max: 4, Window: time.Minute}
	}})
	tgt, _ := e.bound("alice", "13800138000")

	e.sendAccountCode(tgt, api.AccountCodeRequest{Purpose: api.PurposeUnbind}, "+8613800138000")
	r := e.call(tgt, "/code", api.AccountCodeRequest{Purpose: api.PurposeReplace})
	requireError(t, r, http.StatusTooManyRequests, api.CodeRateLimited)
	require.Equal(t, "60", r.Header.Get("Retry-After"), "the phone's cooldown")
	require.Equal(t, 60, r.Err.RetryAfterSeconds)

	e.profile(tgt)
	requireError(t, e.post("/account", api.AccountRequest{}), http.StatusUnauthorized, api.CodeSessionRequired)
	r = e.call(tgt, "", api.AccountRequest{})
	requireError(t, r, http.StatusTooManyRequests, api.CodeRateLimited)
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	r = e.call(tgt, "", api.AccountRequest{}, "X-Test-Client-IP", "192.0.2.7")
	require.Equal(t, http.StatusOK, r.Status, "another address has its own allowance: %s", r.Raw)
}

// TestAccountOutcomes: each refusal of package account answers with the
// code and status account.OutcomeOf gives, in the API's error shape; a
// change whose other sessions could not all be ended is still a change.
func TestAccountOutcomes(t *testing.T) {
	left := 2
	tests := []struct {
		err          error
		status       int
		code         string
		retryAfter   string
		attemptsLeft *int
	}{
		{account.ErrNotBound, http.StatusConflict, "not_bound", "", nil},
		{account.ErrPhoneManaged, http.StatusConflict, "phone_managed", "", nil},
		{account.ErrPhoneTaken, http.StatusConflict, "phone_taken", "", nil},
		{account.ErrSamePhone, http.StatusBadRequest, "same_phone", "", nil},
		{account.ErrSameWeChat, http.StatusConflict, "same_wechat", "", nil},
		{account.ErrPersonBound, http.StatusConflict, "wechat_bound_elsewhere", "", nil},
		{account.ErrNoUser, http.StatusNotFound, "no_user", "", nil},
		{&otp.LimitError{Limit: otp.LimitCooldown, RetryAfter: 41500 * time.Millisecond}, http.StatusTooManyRequests, api.CodeRateLimited, "42", nil},
		{fmt.Errorf("%w: %w", otp.ErrBudgetExhausted, &otp.LimitError{Limit: "budget", RetryAfter: time.Hour}), http.StatusServiceUnavailable, api.CodeSMSBudgetExhausted, "3600", nil},
		{&otp.MismatchError{AttemptsLeft: left}, http.StatusBadRequest, api.CodeWrongCode, "", &left},
		{fmt.Errorf("read user: %w", store.ErrUnavailable), http.StatusServiceUnavailable, api.CodeUnavailable, "", nil},
		{errors.New("a bug"), http.StatusInternalServerError, api.CodeInternal, "", nil},
	}
	fake := &fakeAccounts{}
	e := newAccountEnv(t, storetest.SQLite(t), accountOpts{accounts: fake, sessions: fakeSessions{}})
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			fake.err = tc.err
			r := e.call(fakeTGT, "/unbind", api.AccountUnbindRequest{Code: "123456"})
			requireError(t, r, tc.status, tc.code)
			require.Equal(t, tc.retryAfter, r.Header.Get("Retry-After"))
			require.Equal(t, tc.attemptsLeft, r.Err.AttemptsLeft)
		})
	}

	t.Run("other sessions remain", func(t *testing.T) {
		fake.err = fmt.Errorf("%w: the database went away", account.ErrSessionsRemain)
		var done api.AccountChanged
		e.ok(e.call(fakeTGT, "/unbind", api.AccountUnbindRequest{Code: "123456"}), &done)
		require.Equal(t, api.AccountChanged{Status: api.StatusUnbound, OtherSessionsEnded: 1, OtherSessionsRemain: true}, done)
	})
	t.Run("the session cannot be read", func(t *testing.T) {
		r := e.call("TGT-DOWN", "", api.AccountRequest{})
		requireError(t, r, http.StatusServiceUnavailable, api.CodeUnavailable)
		require.Empty(t, r.Header.Get("WWW-Authenticate"), "the session may be alive: no new login asked for")
	})
	t.Run("the person acting", func(t *testing.T) {
		fake.err = nil
		r := e.call(fakeTGT, "/unbind", api.AccountUnbindRequest{Code: "123456"}, "X-Test-Client-IP", "192.0.2.9")
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		require.Equal(t, account.Person{UserID: "u-fake", SessionKey: "key-fake", ClientIP: "192.0.2.9", Channel: account.ChannelAPI}, fake.person)
	})
}

const fakeTGT = "TGT-FAKE"

// fakeSessions knows fakeTGT, whose principal names its user in the userId
// attribute, and cannot reach the database for TGT-DOWN.
type fakeSessions struct{}

func (fakeSessions) SessionOf(_ context.Context, tgt string) (cas.Session, error) {
	switch tgt {
	case fakeTGT:
		return cas.Session{Key: "key-fake", Principal: cas.Principal{ID: "principal", Attributes: map[string][]string{"userId": {"u-fake"}}}}, nil
	case "TGT-DOWN":
		return cas.Session{}, store.ErrUnavailable
	}
	return cas.Session{}, cas.ErrNoSession
}

// fakeAccounts answers every change with err (a made change with one
// other session ended, when err is nil or ErrSessionsRemain).
type fakeAccounts struct {
	err    error
	person account.Person
}

func (f *fakeAccounts) Profile(context.Context, string, audit.Store) (account.Profile, error) {
	return account.Profile{}, f.err
}
func (f *fakeAccounts) PhonesEditable() bool { return true }
func (f *fakeAccounts) SendCode(context.Context, account.Person, string, otp.Phone) (otp.SendResult, error) {
	return otp.SendResult{}, f.err
}
func (f *fakeAccounts) UnbindSelf(_ context.Context, p account.Person, _ string) (account.Result, error) {
	f.person = p
	return account.Result{EndedSessions: 1}, f.err
}
func (f *fakeAccounts) ChangePhone(context.Context, account.Person, otp.Phone, string) (account.Result, error) {
	return account.Result{EndedSessions: 1}, f.err
}
func (f *fakeAccounts) Replace(context.Context, account.Person, binding.Account, string) (account.Result, error) {
	return account.Result{EndedSessions: 1}, f.err
}

// The account's refusals are the API's error codes: each has a message.
func TestAccountCodesAreCatalogued(t *testing.T) {
	for _, code := range append(account.OutcomeCodes(), api.CodeSessionRequired, api.CodeInvalidSession) {
		require.True(t, i18n.Has(code), "no message for %q", code)
	}
}
