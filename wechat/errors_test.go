package wechat_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/wechat"
	"wxcas/wechat/emulator"
)

// Every error path, client against emulator. Real emulator validation where
// the client can provoke it; injected faults for what a correct client never
// sends (missing appid, bad grant_type...).
func TestErrorPaths(t *testing.T) {
	exchangeWeb := func(e *env) error {
		_, err := e.c.ExchangeCode(e.ctx, web, e.code(web, "alice", ""))
		return err
	}
	jsLogin := func(user string) func(e *env) error {
		return func(e *env) error {
			js, err := e.em.IssueJSCode(mini, user)
			require.NoError(t, err)
			_, err = e.c.JSCode2Session(e.ctx, mini, js)
			return err
		}
	}
	userInfo := func(e *env) error {
		tok, err := e.c.ExchangeCode(e.ctx, web, e.code(web, "alice", ""))
		require.NoError(t, err)
		_, err = e.c.UserInfo(e.ctx, tok.AccessToken, tok.OpenID, "")
		return err
	}
	appToken := func(e *env) error { _, err := e.c.AppAccessToken(e.ctx, mini); return err }
	phone := func(e *env) error {
		at, err := e.c.AppAccessToken(e.ctx, mini)
		require.NoError(t, err)
		pc, err := e.em.IssuePhoneCode(mini, "alice")
		require.NoError(t, err)
		_, err = e.c.PhoneNumber(e.ctx, at.AccessToken, pc)
		return err
	}

	tests := []struct {
		name      string
		path      string // emulator path to fault and count
		faults    []emulator.Fault
		run       func(e *env) error
		kind      wechat.ErrorKind
		code      int
		retryable bool
		calls     int // requests the emulator saw on path; -1 = don't check
	}{
		{name: "40029 unknown code", path: emulator.PathAccessToken,
			run:  func(e *env) error { _, err := e.c.ExchangeCode(e.ctx, web, "nosuchcode0123456789"); return err },
			kind: wechat.ErrCodeInvalid, code: 40029, calls: 1},
		{name: "40029 code of another appid", path: emulator.PathAccessToken,
			run:  func(e *env) error { _, err := e.c.ExchangeCode(e.ctx, web, e.code(web2, "alice", "")); return err },
			kind: wechat.ErrCodeInvalid, code: 40029, calls: 1},
		{name: "40029 OA code used with the website app", path: emulator.PathAccessToken,
			run: func(e *env) error {
				_, err := e.c.ExchangeCode(e.ctx, web, e.code(oa, "alice", wechat.ScopeBase))
				return err
			},
			kind: wechat.ErrCodeInvalid, code: 40029, calls: 1},
		{name: "40029 expired (clock)", path: emulator.PathAccessToken,
			run: func(e *env) error {
				code := e.code(web, "alice", "")
				e.clock.Advance(10*time.Minute + time.Second)
				_, err := e.c.ExchangeCode(e.ctx, web, code)
				return err
			},
			kind: wechat.ErrCodeInvalid, code: 40029, calls: 1},
		{name: "40163 code reused", path: emulator.PathAccessToken,
			run: func(e *env) error {
				code := e.code(web, "alice", "")
				_, err := e.c.ExchangeCode(e.ctx, web, code)
				require.NoError(t, err)
				_, err = e.c.ExchangeCode(e.ctx, web, code)
				return err
			},
			kind: wechat.ErrCodeUsed, code: 40163, calls: 2},
		{name: "40163 js_code reused", path: emulator.PathJSCode2Session,
			run: func(e *env) error {
				js, err := e.em.IssueJSCode(mini, "alice")
				require.NoError(t, err)
				_, err = e.c.JSCode2Session(e.ctx, mini, js)
				require.NoError(t, err)
				_, err = e.c.JSCode2Session(e.ctx, mini, js)
				return err
			},
			kind: wechat.ErrCodeUsed, code: 40163, calls: 2},
		{name: "42003 code expired", path: emulator.PathAccessToken, faults: []emulator.Fault{{ErrCode: 42003}},
			run: exchangeWeb, kind: wechat.ErrCodeExpired, code: 42003, calls: 1},
		{name: "41002 appid missing", path: emulator.PathAccessToken, faults: []emulator.Fault{{ErrCode: 41002}},
			run: exchangeWeb, kind: wechat.ErrBadCredentials, code: 41002, calls: 1},
		{name: "41004 secret missing", path: emulator.PathAccessToken, faults: []emulator.Fault{{ErrCode: 41004}},
			run: exchangeWeb, kind: wechat.ErrBadCredentials, code: 41004, calls: 1},
		{name: "41008 code missing", path: emulator.PathAccessToken, faults: []emulator.Fault{{ErrCode: 41008}},
			run: exchangeWeb, kind: wechat.ErrInvalidRequest, code: 41008, calls: 1},
		{name: "40002 bad grant_type", path: emulator.PathAccessToken, faults: []emulator.Fault{{ErrCode: 40002}},
			run: exchangeWeb, kind: wechat.ErrInvalidRequest, code: 40002, calls: 1},
		{name: "40013 appid unknown to WeChat", path: emulator.PathAccessToken,
			run:  func(e *env) error { _, err := e.c.ExchangeCode(e.ctx, ghost, "somecode0123456789"); return err },
			kind: wechat.ErrBadCredentials, code: 40013, calls: 1},
		{name: "40125 wrong secret", path: emulator.PathJSCode2Session,
			run: func(e *env) error {
				apps := clientApps()
				for i := range apps {
					apps[i].Secret += "-wrong"
				}
				c, err := wechat.New(wechat.Config{OpenBaseURL: e.srv.URL, APIBaseURL: e.srv.URL, Apps: apps})
				require.NoError(t, err)
				js, err := e.em.IssueJSCode(mini, "alice")
				require.NoError(t, err)
				_, err = c.JSCode2Session(e.ctx, mini, js)
				return err
			},
			kind: wechat.ErrBadCredentials, code: 40125, calls: 1},
		{name: "-1 busy on exchange: retryable but never resent", path: emulator.PathAccessToken,
			faults: []emulator.Fault{emulator.FaultBusy},
			run:    exchangeWeb, kind: wechat.ErrBusy, code: -1, retryable: true, calls: 1},
		{name: "-1 busy on jscode2session: never resent", path: emulator.PathJSCode2Session,
			faults: []emulator.Fault{emulator.FaultBusy},
			run:    jsLogin("alice"), kind: wechat.ErrBusy, code: -1, retryable: true, calls: 1},
		{name: "-1 busy on phone number: never resent", path: emulator.PathPhoneNumber,
			faults: []emulator.Fault{emulator.FaultBusy},
			run:    phone, kind: wechat.ErrBusy, code: -1, retryable: true, calls: 1},
		{name: "-1 busy on userinfo: retried until the retries run out", path: emulator.PathUserInfo,
			faults: []emulator.Fault{emulator.FaultBusy, emulator.FaultBusy, emulator.FaultBusy},
			run:    userInfo, kind: wechat.ErrBusy, code: -1, retryable: true, calls: 3},
		{name: "45011 rate limited", path: emulator.PathJSCode2Session, faults: []emulator.Fault{emulator.FaultRateLimited},
			run: jsLogin("alice"), kind: wechat.ErrRateLimited, code: 45011, retryable: true, calls: 1},
		{name: "45011 rate limited is not auto-retried on userinfo", path: emulator.PathUserInfo,
			faults: []emulator.Fault{emulator.FaultRateLimited},
			run:    userInfo, kind: wechat.ErrRateLimited, code: 45011, retryable: true, calls: 1},
		{name: "40164 IP not whitelisted", path: emulator.PathToken, faults: []emulator.Fault{emulator.FaultIPBlocked},
			run: appToken, kind: wechat.ErrIPNotWhitelisted, code: 40164, calls: 1},
		{name: "40226 code blocked (risky person)", path: emulator.PathJSCode2Session,
			run: jsLogin("risky"), kind: wechat.ErrCodeBlocked, code: 40226, calls: 1},
		{name: "40226 code blocked (fault)", path: emulator.PathJSCode2Session, faults: []emulator.Fault{emulator.FaultCodeBlocked},
			run: jsLogin("alice"), kind: wechat.ErrCodeBlocked, code: 40226, calls: 1},
		{name: "48001 userinfo with snsapi_base token", path: emulator.PathUserInfo,
			run: func(e *env) error {
				tok, err := e.c.ExchangeCode(e.ctx, oa, e.code(oa, "alice", wechat.ScopeBase))
				require.NoError(t, err)
				_, err = e.c.UserInfo(e.ctx, tok.AccessToken, tok.OpenID, "")
				return err
			},
			kind: wechat.ErrScopeUnauthorized, code: 48001, calls: 1},
		{name: "40030 refresh token unknown", path: emulator.PathRefreshToken,
			run:  func(e *env) error { _, err := e.c.RefreshToken(e.ctx, oa, "nosuchrefreshtoken"); return err },
			kind: wechat.ErrRefreshTokenInvalid, code: 40030, calls: 1},
		{name: "40001 on cgi-bin/token means bad secret", path: emulator.PathToken, faults: []emulator.Fault{{ErrCode: 40001}},
			run: appToken, kind: wechat.ErrBadCredentials, code: 40001, calls: 1},
		{name: "40001 app token unknown to phone number", path: emulator.PathPhoneNumber,
			run: func(e *env) error {
				pc, err := e.em.IssuePhoneCode(mini, "alice")
				require.NoError(t, err)
				_, err = e.c.PhoneNumber(e.ctx, "not-a-token", pc)
				return err
			},
			kind: wechat.ErrInvalidToken, code: 40001, calls: 1},
		{name: "47001 phone body not JSON", path: emulator.PathPhoneNumber, faults: []emulator.Fault{{ErrCode: 47001}},
			run: phone, kind: wechat.ErrInvalidRequest, code: 47001, calls: 1},
		{name: "unknown errcode", path: emulator.PathAccessToken, faults: []emulator.Fault{{ErrCode: 61234, ErrMsg: "new thing"}},
			run: exchangeWeb, kind: wechat.ErrUnexpected, code: 61234, calls: 1},
		{name: "malformed body on exchange: not resent", path: emulator.PathAccessToken, faults: []emulator.Fault{emulator.FaultGarbage},
			run: exchangeWeb, kind: wechat.ErrMalformedResponse, retryable: true, calls: 1},
		{name: "empty body on jscode2session", path: emulator.PathJSCode2Session, faults: []emulator.Fault{emulator.FaultEmptyBody},
			run: jsLogin("alice"), kind: wechat.ErrMalformedResponse, retryable: true, calls: 1},
		{name: "HTML 502 on exchange", path: emulator.PathAccessToken, faults: []emulator.Fault{emulator.FaultHTMLBody},
			run: exchangeWeb, kind: wechat.ErrMalformedResponse, retryable: true, calls: 1},
		{name: "empty body on userinfo: retried until retries run out", path: emulator.PathUserInfo,
			faults: []emulator.Fault{emulator.FaultEmptyBody, emulator.FaultEmptyBody, emulator.FaultEmptyBody},
			run:    userInfo, kind: wechat.ErrMalformedResponse, retryable: true, calls: 3},
		{name: "success body without the expected field", path: emulator.PathToken,
			faults: []emulator.Fault{{Raw: true, Body: []byte(`{"expires_in":7200}`), ContentType: "text/plain"},
				{Raw: true, Body: []byte(`{"errcode":0,"errmsg":"ok"}`)}, {Raw: true, Body: []byte(`{}`)}},
			run: appToken, kind: wechat.ErrMalformedResponse, retryable: true, calls: 3},
		{name: "HTTP 500 with an errcode body uses the errcode", path: emulator.PathAccessToken,
			faults: []emulator.Fault{{Raw: true, Status: 500, Body: []byte(`{"errcode":40029,"errmsg":"invalid code"}`)}},
			run:    exchangeWeb, kind: wechat.ErrCodeInvalid, code: 40029, calls: 1},
		{name: "timeout via context deadline on exchange", path: emulator.PathAccessToken,
			faults: []emulator.Fault{emulator.FaultDelay(5 * time.Second)},
			run: func(e *env) error {
				ctx, cancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
				defer cancel()
				_, err := e.c.ExchangeCode(ctx, web, e.code(web, "alice", ""))
				require.ErrorIs(t, err, context.DeadlineExceeded)
				return err
			},
			kind: wechat.ErrTransport, retryable: true, calls: 1},
		{name: "timeout via context deadline on userinfo: not retried past the deadline", path: emulator.PathUserInfo,
			faults: []emulator.Fault{emulator.FaultDelay(5 * time.Second)},
			run: func(e *env) error {
				tok, err := e.c.ExchangeCode(e.ctx, web, e.code(web, "alice", ""))
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
				defer cancel()
				_, err = e.c.UserInfo(ctx, tok.AccessToken, tok.OpenID, "")
				require.ErrorIs(t, err, context.DeadlineExceeded)
				return err
			},
			kind: wechat.ErrTransport, retryable: true, calls: 1},
		{name: "cancelled context is not retryable", path: emulator.PathAuth,
			faults: []emulator.Fault{emulator.FaultDelay(5 * time.Second)},
			run: func(e *env) error {
				ctx, cancel := context.WithCancel(e.ctx)
				time.AfterFunc(50*time.Millisecond, cancel)
				err := e.c.CheckToken(ctx, "tok-0123456789", "openid")
				require.ErrorIs(t, err, context.Canceled)
				return err
			},
			kind: wechat.ErrTransport, retryable: false, calls: 1},
		{name: "unknown app: WeChat not called", path: emulator.PathAccessToken,
			run:  func(e *env) error { _, err := e.c.ExchangeCode(e.ctx, "wxnotconfigured", "code"); return err },
			kind: wechat.ErrUnknownApp, calls: 0},
		{name: "wrong kind: mini program has no oauth exchange", path: emulator.PathAccessToken,
			run:  func(e *env) error { _, err := e.c.ExchangeCode(e.ctx, mini, "code"); return err },
			kind: wechat.ErrWrongAppKind, calls: 0},
		{name: "wrong kind: website has no jscode2session", path: emulator.PathJSCode2Session,
			run:  func(e *env) error { _, err := e.c.JSCode2Session(e.ctx, web, "code"); return err },
			kind: wechat.ErrWrongAppKind, calls: 0},
		{name: "empty code: WeChat not called", path: emulator.PathAccessToken,
			run:  func(e *env) error { _, err := e.c.ExchangeCode(e.ctx, web, ""); return err },
			kind: wechat.ErrInvalidArgument, calls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.em.InjectFault(tt.path, tt.faults...)
			err := tt.run(e)
			we := requireKind(t, err, tt.kind, tt.code)
			require.Equal(t, tt.retryable, we.Retryable, "retryable")
			require.Equal(t, tt.retryable, wechat.IsRetryable(err))
			require.NotEmpty(t, we.Op)
			if tt.calls >= 0 {
				require.Equal(t, tt.calls, e.em.Calls(tt.path), "requests that reached the emulator")
			}
			if tt.code > 0 && tt.faults == nil {
				// Real emulator answers carry a rid.
				require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`, we.RID)
			}
		})
	}
}

func TestIdempotentCallsRetry(t *testing.T) {
	e := newEnv(t)
	tok, err := e.c.ExchangeCode(e.ctx, web, e.code(web, "alice", ""))
	require.NoError(t, err)

	e.em.InjectFault(emulator.PathUserInfo, emulator.FaultBusy, emulator.FaultGarbage)
	_, err = e.c.UserInfo(e.ctx, tok.AccessToken, tok.OpenID, "")
	require.NoError(t, err)
	require.Equal(t, 3, e.em.Calls(emulator.PathUserInfo))

	e.em.InjectFault(emulator.PathAuth, emulator.FaultDrop)
	require.NoError(t, e.c.CheckToken(e.ctx, tok.AccessToken, tok.OpenID))
	require.Equal(t, 2, e.em.Calls(emulator.PathAuth))

	e.em.InjectFault(emulator.PathToken, emulator.FaultBusy)
	_, err = e.c.AppAccessToken(e.ctx, oa)
	require.NoError(t, err)
	require.Equal(t, 2, e.em.Calls(emulator.PathToken))

	// A forced stable-token refresh is not repeated.
	e.em.InjectFault(emulator.PathStableToken, emulator.FaultBusy)
	_, err = e.c.StableAccessToken(e.ctx, oa, true)
	requireKind(t, err, wechat.ErrBusy, -1)
	require.Equal(t, 1, e.em.Calls(emulator.PathStableToken))
	e.em.InjectFault(emulator.PathStableToken, emulator.FaultBusy)
	_, err = e.c.StableAccessToken(e.ctx, oa, false)
	require.NoError(t, err)
	require.Equal(t, 3, e.em.Calls(emulator.PathStableToken))
}

// A retry decodes into a fresh value: fields of a failed attempt never
// combine with the next answer into a "complete" result.
func TestRetryDoesNotMixAttempts(t *testing.T) {
	e := newEnv(t)
	e.em.InjectFault(emulator.PathToken,
		emulator.Fault{Raw: true, Body: []byte(`{"expires_in":7200}`)},
		emulator.Fault{Raw: true, Body: []byte(`{"access_token":"STALE-FROM-ATTEMPT-2"}`), Status: 502},
		emulator.Fault{Raw: true, Body: []byte(`{"expires_in":7200}`)})
	_, err := e.c.AppAccessToken(e.ctx, oa)
	requireKind(t, err, wechat.ErrMalformedResponse, 0)
	require.Equal(t, 3, e.em.Calls(emulator.PathToken))

	tok, err := e.c.ExchangeCode(e.ctx, web, e.code(web, "alice", ""))
	require.NoError(t, err)
	e.em.InjectFault(emulator.PathUserInfo,
		emulator.Fault{Raw: true, Body: []byte(`{"nickname":"STALE","unionid":"oSTALE"}`)})
	info, err := e.c.UserInfo(e.ctx, tok.AccessToken, tok.OpenID, "")
	require.NoError(t, err)
	require.Equal(t, "alice 🐼", info.Nickname)
	require.Equal(t, tok.UnionID, info.UnionID)
}

func TestRetriesDisabled(t *testing.T) {
	e := newEnv(t, func(c *wechat.Config) { c.MaxRetries = -1 })
	e.em.InjectFault(emulator.PathAuth, emulator.FaultBusy)
	requireKind(t, e.c.CheckToken(e.ctx, "tok-0123456789", "openid"), wechat.ErrBusy, -1)
	require.Equal(t, 1, e.em.Calls(emulator.PathAuth))
}

func TestRetryBackoffHonoursContext(t *testing.T) {
	e := newEnv(t, func(c *wechat.Config) { c.RetryBackoff = time.Hour })
	e.em.InjectFault(emulator.PathAuth, emulator.FaultBusy)
	ctx, cancel := context.WithTimeout(e.ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := e.c.CheckToken(ctx, "tok-0123456789", "openid")
	requireKind(t, err, wechat.ErrBusy, -1)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Equal(t, 1, e.em.Calls(emulator.PathAuth))
}

// The dangerous case: WeChat consumed the code but the connection dropped
// before the answer. net/http's Transport would silently re-send a GET on a
// reused keep-alive connection; the client must prevent that.
func TestExchangeNeverResentAfterConnectionDrop(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		run  func(e *env, code string) error
	}{
		{"access_token", emulator.PathAccessToken, func(e *env, code string) error {
			_, err := e.c.ExchangeCode(e.ctx, web, code)
			return err
		}},
		{"jscode2session", emulator.PathJSCode2Session, func(e *env, code string) error {
			_, err := e.c.JSCode2Session(e.ctx, mini, code)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			// Warm up a keep-alive connection so the exchange reuses it.
			e.em.InjectFault(emulator.PathAuth, emulator.Fault{ErrCode: 40014})
			requireKind(t, e.c.CheckToken(e.ctx, "tok-0123456789", "openid"), wechat.ErrInvalidToken, 40014)

			var code string
			var err error
			if tc.path == emulator.PathJSCode2Session {
				code, err = e.em.IssueJSCode(mini, "alice")
				require.NoError(t, err)
			} else {
				code = e.code(web, "alice", "")
			}
			e.em.InjectFault(tc.path, emulator.Fault{AfterProcessing: true, CloseConnection: true})
			err = tc.run(e, code)
			requireKind(t, err, wechat.ErrTransport, 0)
			require.Equal(t, 1, e.em.Calls(tc.path), "the exchange must not be re-sent")
			// WeChat did consume it.
			requireKind(t, tc.run(e, code), wechat.ErrCodeUsed, 40163)
		})
	}
}

// A connection that could not be established never carried the code, so
// even an exchange may be retried.
func TestExchangeRetriedWhenDialFails(t *testing.T) {
	var dials atomic.Int32
	e := newEnv(t, func(c *wechat.Config) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		d := &net.Dialer{}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dials.Add(1) == 1 {
				return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
			}
			return d.DialContext(ctx, network, addr)
		}
		c.HTTPClient = &http.Client{Transport: tr}
	})
	tok, err := e.c.ExchangeCode(e.ctx, web, e.code(web, "alice", ""))
	require.NoError(t, err)
	require.NotEmpty(t, tok.OpenID)
	require.Equal(t, int32(2), dials.Load())
	require.Equal(t, 1, e.em.Calls(emulator.PathAccessToken))
}

func TestErrorString(t *testing.T) {
	e := newEnv(t)
	_, err := e.c.ExchangeCode(e.ctx, web, "nosuchcode0123456789")
	require.Error(t, err)
	s := err.Error()
	require.True(t, strings.HasPrefix(s, "wechat sns/oauth2/access_token: code invalid (errcode 40029): invalid code, rid: "), s)
	require.Equal(t, "wechat: code already used", wechat.ErrCodeUsed.Error())
}

// Local validation: WeChat is never called.
func TestLocalValidation(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	tests := []struct {
		name string
		err  error
		kind wechat.ErrorKind
	}{
		{"app token for a website app", func() error { _, err := e.c.AppAccessToken(ctx, web); return err }(), wechat.ErrWrongAppKind},
		{"stable token for a mobile app", func() error { _, err := e.c.StableAccessToken(ctx, mobile, false); return err }(), wechat.ErrWrongAppKind},
		{"stable token unknown app", func() error { _, err := e.c.StableAccessToken(ctx, "wxnope", false); return err }(), wechat.ErrUnknownApp},
		{"refresh for a mini program", func() error { _, err := e.c.RefreshToken(ctx, mini, "rt"); return err }(), wechat.ErrWrongAppKind},
		{"refresh empty token", func() error { _, err := e.c.RefreshToken(ctx, web, ""); return err }(), wechat.ErrInvalidArgument},
		{"auth empty openid", e.c.CheckToken(ctx, "tok", ""), wechat.ErrInvalidArgument},
		{"userinfo empty token", func() error { _, err := e.c.UserInfo(ctx, "", "o", ""); return err }(), wechat.ErrInvalidArgument},
		{"userinfo bad lang", func() error { _, err := e.c.UserInfo(ctx, "t", "o", "fr"); return err }(), wechat.ErrInvalidArgument},
		{"jscode2session empty code", func() error { _, err := e.c.JSCode2Session(ctx, mini, ""); return err }(), wechat.ErrInvalidArgument},
		{"phone empty code", func() error { _, err := e.c.PhoneNumber(ctx, "tok", ""); return err }(), wechat.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			we := requireKind(t, tt.err, tt.kind, 0)
			require.False(t, we.Retryable)
		})
	}
	for _, p := range []string{emulator.PathToken, emulator.PathStableToken, emulator.PathRefreshToken, emulator.PathAuth,
		emulator.PathUserInfo, emulator.PathJSCode2Session, emulator.PathPhoneNumber} {
		require.Zero(t, e.em.Calls(p), p)
	}
}
