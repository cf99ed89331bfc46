package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/account"
	"wxcas/audit"
	"wxcas/store/storetest"
)

// Sandbox apps of the account API test: one open platform, so a person has
// one unionid in the mini program and the mobile app.
const (
	apiMini   = "wxa1b2c3d4e5f60003"
	apiMobile = "wxa1b2c3d4e5f60004"
)

// apiAccountEnv is a sandbox wxcas driven as a mini program and a mobile
// app drive it: JSON calls, WeChat codes from the sandbox, SMS codes from
// the sandbox inbox.
type apiAccountEnv struct {
	t     *testing.T
	a     *app
	base  string
	clock *storetest.Clock
}

// apiAnswer is a JSON answer.
type apiAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

// errorCode is the error code of an error answer.
func (r apiAnswer) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// call posts body to /api/v1<path>, with the TGT as Bearer token unless
// tgt is empty.
func (e *apiAccountEnv) call(path, tgt, body string) apiAnswer {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+"/api/v1"+path, strings.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	if tgt != "" {
		req.Header.Set("Authorization", "Bearer "+tgt)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	out := apiAnswer{status: resp.StatusCode, header: resp.Header}
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&out.body))
	return out
}

// ok asserts a 200 answer of status.
func (e *apiAccountEnv) ok(r apiAnswer, status string) map[string]any {
	e.t.Helper()
	require.Equal(e.t, http.StatusOK, r.status, "%v", r.body)
	require.Equal(e.t, status, r.body["status"], "%v", r.body)
	return r.body
}

// refused asserts an error answer.
func (e *apiAccountEnv) refused(r apiAnswer, status int, code string) {
	e.t.Helper()
	require.Equal(e.t, status, r.status, "%v", r.body)
	require.Equal(e.t, code, r.errorCode(), "%v", r.body)
}

// weChatCode is what wx.login (typ js) or the Open SDK (typ "") gives the
// app for the sandbox person: the OpenID tests' helper, on this sandbox.
func (e *apiAccountEnv) weChatCode(appID, person, typ string) string {
	e.t.Helper()
	return (&oidcEnv{t: e.t, base: e.base}).wechatCode(appID, person, typ)
}

// logIn logs person in from the mini program, binding phone by SMS when it
// is the first time, and returns the TGT and the user id.
func (e *apiAccountEnv) logIn(person, phone string) (tgt, userID string) {
	e.t.Helper()
	r := e.call("/login/wechat", "", `{"appid":"`+apiMini+`","code":"`+e.weChatCode(apiMini, person, "js")+`"}`)
	if r.body["status"] == "binding_required" {
		sent := e.ok(e.call("/bind/sms/send", "", `{"bind_token":"`+r.body["bind_token"].(string)+`","phone":"`+phone+`"}`), "code_sent")
		r = e.call("/bind/sms/verify", "", `{"bind_token":"`+sent["bind_token"].(string)+`","code":"`+sandboxSMSCode(e.t, e.base, "+86"+phone)+`"}`)
	}
	in := e.ok(r, "logged_in")
	return in["tgt"].(string), in["user_id"].(string)
}

// inApp logs person in from the mobile app (bound already): a second session.
func (e *apiAccountEnv) inApp(person string) string {
	e.t.Helper()
	r := e.call("/login/wechat", "", `{"appid":"`+apiMobile+`","code":"`+e.weChatCode(apiMobile, person, "")+`"}`)
	return e.ok(r, "logged_in")["tgt"].(string)
}

// tgtStatus is GET /cas/v1/tickets/{tgt}: 200 alive, 404 ended.
func (e *apiAccountEnv) tgtStatus(tgt string) int {
	e.t.Helper()
	resp, err := http.Get(e.base + "/cas/v1/tickets/" + tgt)
	require.NoError(e.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAPIAccount drives the account calls of the JSON API end to end, as a
// mini program and a mobile app would, through the sandbox.
func TestAPIAccount(t *testing.T) {
	clock := storetest.NewClock()
	ln, base := listen(t)
	body := "server: {listen: " + ln.Addr().String() + ", public_url: '" + base + "'}\n" +
		"database: {sqlite_path: " + filepath.Join(t.TempDir(), "wxcas.db") + "}\nsandbox: {enabled: true}\n" +
		"wechat: {apps: [{appid: wxa1b2c3d4e5f60001, kind: website, secret: s1}, {appid: " + apiMini + ", kind: mini_program, secret: s3}," +
		" {appid: " + apiMobile + ", kind: mobile_app, secret: s4}]}\nlogin: {website_appid: wxa1b2c3d4e5f60001}\n" +
		// Every call comes from 127.0.0.1: the test's sends fit in its hour.
		"otp: {per_ip_hour: 100}\n" +
		"cas: {services: [{id: demo, name: Demo, match: prefix, url: '" + base + "/sandbox/app/'}]}\n"
	e := &apiAccountEnv{t: t, a: runApp(t, ln, body, clock.Now), base: base, clock: clock}

	tgt, userID := e.logIn("api_acc", "13722220001")
	e.logIn("api_owner", "13722220002")

	t.Run("no session, no account", func(t *testing.T) {
		for _, tc := range []struct{ name, tgt, code string }{
			{"missing", "", "session_required"},
			{"unknown", "TGT-NOSUCHSESSION", "invalid_session"},
		} {
			r := e.call("/account", tc.tgt, `{}`)
			e.refused(r, http.StatusUnauthorized, tc.code)
			require.True(t, strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer realm="wxcas"`), tc.name)
		}
	})

	t.Run("profile", func(t *testing.T) {
		p := e.ok(e.call("/account", tgt, `{}`), "profile")
		require.Equal(t, userID, p["user_id"])
		require.Equal(t, "+86137****0001", p["phone"])
		wx := p["wechat"].(map[string]any)
		require.Equal(t, true, wx["bound"])
		apps := wx["apps"].([]any)
		require.Len(t, apps, 1)
		require.Equal(t, apiMini, apps[0].(map[string]any)["appid"])
		require.Equal(t, "mini_program", apps[0].(map[string]any)["kind"])
		require.NotContains(t, apps[0], "openid")
		require.NotEmpty(t, p["recent_logins"])
	})

	t.Run("codes are rate limited", func(t *testing.T) {
		// The login's code went to the same phone a moment ago.
		r := e.call("/account/code", tgt, `{"purpose":"unbind"}`)
		e.refused(r, http.StatusTooManyRequests, "rate_limited")
		require.Equal(t, "60", r.header.Get("Retry-After"))
		require.Len(t, sandboxInbox(t, base, "+8613722220001"), 1, "no code sent")
		clock.Advance(time.Minute)
	})

	t.Run("change phone: another user's number refused, then changed", func(t *testing.T) {
		e.refused(e.call("/account/code", tgt, `{"purpose":"phone","phone":"13722220002"}`), http.StatusConflict, "phone_taken")
		require.Len(t, sandboxInbox(t, base, "+8613722220002"), 1, "no code to a number that cannot be taken")

		sent := e.ok(e.call("/account/code", tgt, `{"purpose":"phone","phone":"137 2222 0003"}`), "code_sent")
		require.Equal(t, float64(60), sent["resend_after_seconds"])
		code := sandboxSMSCode(t, base, "+8613722220003")
		done := e.ok(e.call("/account/phone", tgt, `{"phone":"13722220003","code":"`+code+`"}`), "phone_changed")
		require.Equal(t, float64(0), done["other_sessions_ended"])
		require.Equal(t, "+86137****0003", e.ok(e.call("/account", tgt, `{}`), "profile")["phone"])
		require.Len(t, e.auditOf(userID, audit.KindPhoneChange), 1)
		clock.Advance(time.Minute)
	})

	t.Run("replace WeChat with a mobile app account", func(t *testing.T) {
		// Not within a day of the phone change (account.PhoneChangeHold):
		e.refused(e.call("/account/code", tgt, `{"purpose":"replace"}`), http.StatusConflict, "recent_phone_change")
		clock.Advance(account.PhoneChangeHold)
		tgt, _ = e.logIn("api_acc", "") // the old session is over by now
		e.ok(e.call("/account/code", tgt, `{"purpose":"replace"}`), "code_sent")
		sms := sandboxSMSCode(t, base, "+8613722220003")
		r := e.call("/account/replace", tgt, `{"appid":"`+apiMobile+`","code":"`+e.weChatCode(apiMobile, "api_acc_new", "")+`","sms_code":"`+sms+`"}`)
		e.ok(r, "replaced")

		// The new WeChat account is the person's now, in the mini program
		// too; the old one starts a first login.
		newTGT, newUser := e.logIn("api_acc_new", "")
		require.Equal(t, userID, newUser)
		require.Equal(t, http.StatusOK, e.tgtStatus(newTGT))
		r = e.call("/login/wechat", "", `{"appid":"`+apiMini+`","code":"`+e.weChatCode(apiMini, "api_acc", "js")+`"}`)
		e.ok(r, "binding_required")
		events := e.auditOf(userID, audit.KindBind)
		require.Equal(t, "api", events[0].Channel, "the replacement, newest first")
		clock.Advance(time.Minute)
	})

	t.Run("unbind: wrong then right code; the other session ends, the caller's stays", func(t *testing.T) {
		other := e.inApp("api_acc_new")
		require.Equal(t, http.StatusOK, e.tgtStatus(other))
		e.ok(e.call("/account/code", tgt, `{"purpose":"unbind"}`), "code_sent")
		code := sandboxSMSCode(t, base, "+8613722220003")
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		r := e.call("/account/unbind", tgt, `{"code":"`+wrong+`"}`)
		e.refused(r, http.StatusBadRequest, "wrong_code")
		require.Equal(t, float64(4), r.body["error"].(map[string]any)["attempts_left"])

		done := e.ok(e.call("/account/unbind", tgt, `{"code":"`+code+`"}`), "unbound")
		require.Equal(t, float64(2), done["other_sessions_ended"], "the app's and the mini program's")
		require.Equal(t, http.StatusNotFound, e.tgtStatus(other))
		require.Equal(t, http.StatusOK, e.tgtStatus(tgt))
		p := e.ok(e.call("/account", tgt, `{}`), "profile")
		require.Equal(t, false, p["wechat"].(map[string]any)["bound"])
		require.Len(t, e.auditOf(userID, audit.KindUnbind), 1)
	})
}

func (e *apiAccountEnv) auditOf(userID, kind string) []audit.Event {
	e.t.Helper()
	events, err := e.a.auditStore.List(context.Background(), audit.Filter{UserID: userID, Kind: kind})
	require.NoError(e.t, err)
	return events
}
