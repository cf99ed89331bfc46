package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/account"
	"wxcas/audit"
	"wxcas/binding"
	"wxcas/store/storetest"
)

// bindAs logs b in as the sandbox person, binding phone on the first login,
// and returns the user id.
func (b *browser) bindAs(person, phone string) {
	b.env.t.Helper()
	bind := b.get(b.scan(b.start(), person))
	code := b.post(bind, "/login/phone", url.Values{"phone": {phone}})
	require.Equal(b.env.t, http.StatusOK, code.status, code.body)
	done := b.post(code, "/login/code", url.Values{"code": {b.env.smsCode("+86" + phone)}})
	ticketOf(b.env.t, done)
	if b.env.clock != nil {
		b.env.clock.Advance(2 * time.Minute)
	}
}

// account opens /account/, signing in through CAS single sign-on.
func (b *browser) account() page {
	b.env.t.Helper()
	return b.get(b.env.base + "/account/")
}

// accountPost posts a form of the account page with its CSRF token.
func (b *browser) accountPost(p page, action string, fields url.Values) page {
	b.env.t.Helper()
	csrf := csrfField.FindStringSubmatch(p.body)
	require.NotNil(b.env.t, csrf, "account page expected: %s", p.body)
	fields.Set("_csrf", csrf[1])
	return b.do(http.MethodPost, b.env.base+action, fields)
}

func (e *flowEnv) userOf(phone string) binding.User {
	e.t.Helper()
	u, err := e.a.userDirectory.FindByPhone(context.Background(), phone)
	require.NoError(e.t, err)
	return u
}

func (e *flowEnv) auditOf(userID, kind string) []audit.Event {
	e.t.Helper()
	events, err := e.a.auditStore.List(context.Background(), audit.Filter{UserID: userID, Kind: kind})
	require.NoError(e.t, err)
	return events
}

func TestAccountPage(t *testing.T) {
	// The clock moves past the resend cooldown between a login's code and
	// the account page's to the same phone, and the IP allows a whole
	// test's sends.
	clock := storetest.NewClock()
	env := startFlowEnvAt(t, clock.Now, "otp: {per_ip_hour: 100}\n")
	env.clock = clock

	t.Run("no session: the login comes first", func(t *testing.T) {
		resp, err := noRedirect.Get(env.base + "/account/")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusFound, resp.StatusCode)
		require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/cas/login?service="+url.QueryEscape(env.base+"/account/?n=")),
			"the sign-in's own service URL, with its nonce: %s", resp.Header.Get("Location"))
	})

	t.Run("shows the binding, the masked phone and recent logins", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("acc_view", "13711110001")
		p := b.account()
		require.Equal(t, http.StatusOK, p.status, p.body)
		require.Equal(t, env.base+"/account/", p.url, "the ticket is not left in the address bar")
		require.Contains(t, p.body, "我的账号")
		require.Contains(t, p.body, "137****0001")
		require.NotContains(t, p.body, "13711110001")
		require.Contains(t, p.body, `id="nickname"`)
		require.Contains(t, p.body, "网站扫码登录", "the app that saw the person")
		require.Regexp(t, `<td>网站扫码登录</td><td>\d{4}-\d\d-\d\d</td><td>\d{4}-\d\d-\d\d</td>`, p.body,
			"first and last seen as days: sightings are kept to the hour, not the minute")
		require.Regexp(t, `<tbody id="logins"><tr>`, p.body, "the login is listed")
	})

	t.Run("posts need the page's CSRF token", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("acc_csrf", "13711110002")
		b.account()
		p := b.do(http.MethodPost, env.base+"/account/code", url.Values{"step": {"unbind"}, "_csrf": {"forged"}})
		require.Equal(t, http.StatusForbidden, p.status)
		require.Empty(t, sandboxInbox(t, env.base, "+8613711110002")[1:], "no code sent beyond the login's")
	})

	t.Run("unbind: code to the bound phone, other sessions ended, audited", func(t *testing.T) {
		b, other := env.browser(""), env.browser("")
		b.bindAs("acc_unbind", "13711110003")
		other.get(other.scan(other.start(), "acc_unbind")) // a second session of the same person
		require.Contains(t, other.account().body, "137****0003")
		p := b.accountPost(b.account(), "/account/code", url.Values{"step": {"unbind"}})
		require.Equal(t, http.StatusOK, p.status, p.body)
		require.Contains(t, p.body, "验证码已发送至")
		wrong := b.accountPost(p, "/account/unbind", url.Values{"code": {"000000"}})
		require.Equal(t, http.StatusBadRequest, wrong.status)
		require.Contains(t, wrong.body, "验证码不正确")
		require.Regexp(t, `id="resend" data-wait="[1-9][0-9]*"[^>]* disabled`, wrong.body, "after a wrong code the resend button still counts down the server's wait")
		done := b.accountPost(p, "/account/unbind", url.Values{"code": {env.smsCode("+8613711110003")}})
		require.Equal(t, http.StatusOK, done.status, done.body)
		require.Contains(t, done.body, "已解除微信绑定")
		require.Contains(t, done.body, "你在其他设备上的登录已退出")
		require.Contains(t, done.body, `id="not-bound"`)

		u := env.userOf("+8613711110003")
		_, err := env.a.bindings.BindingOf(context.Background(), u.ID)
		require.ErrorIs(t, err, binding.ErrNotFound)
		events := env.auditOf(u.ID, audit.KindUnbind)
		require.Len(t, events, 1)
		require.Equal(t, "", events[0].Actor, "the person themself")
		require.NotEmpty(t, events[0].OpenID)

		require.Contains(t, b.account().body, "我的账号", "this session stays")
		p = other.account()
		require.Contains(t, p.url, "/login?flow=", "the other session is over: its page goes through the login anew")
		require.NotContains(t, p.body, "我的账号")
	})

	t.Run("change phone: refused for another user's number, then changed", func(t *testing.T) {
		b, owner := env.browser(""), env.browser("")
		owner.bindAs("acc_owner", "13711110005")
		b.bindAs("acc_phone", "13711110004")
		b.account()
		p := b.get(env.base + "/account/?step=phone")
		require.Contains(t, p.body, `autocomplete="tel"`)
		taken := b.accountPost(p, "/account/code", url.Values{"step": {"phone"}, "phone": {"13711110005"}})
		require.Equal(t, http.StatusConflict, taken.status)
		require.Contains(t, taken.body, "这个手机号已属于另一个账号")
		require.Len(t, sandboxInbox(t, env.base, "+8613711110005"), 1, "no code to a number that cannot be taken")

		code := b.accountPost(p, "/account/code", url.Values{"step": {"phone"}, "phone": {"13711110006"}})
		require.Equal(t, http.StatusOK, code.status, code.body)
		require.Contains(t, code.body, "137****0006")
		counting := `id="resend" data-wait="[1-9][0-9]*"[^>]* disabled`
		require.Regexp(t, counting, code.body, "the new number's code step has a send-again button, counting down")
		require.Contains(t, code.body, `name="phone" value="&#43;8613711110006"`, "send again goes to the new number")

		// Too soon: refused, and the code step stays (its code still works).
		soon := b.accountPost(code, "/account/code", url.Values{"step": {"phone_code"}, "phone": {"+8613711110006"}})
		require.Equal(t, http.StatusTooManyRequests, soon.status, soon.body)
		require.Contains(t, soon.body, `id="phonecode-h"`)
		require.Contains(t, soon.body, "137****0006")
		require.Regexp(t, counting, soon.body)
		wrong := b.accountPost(code, "/account/phone", url.Values{"phone": {"+8613711110006"}, "code": {"000000"}})
		require.Equal(t, http.StatusBadRequest, wrong.status)
		require.Regexp(t, counting, wrong.body, "after a wrong code the button counts down the new number's wait")
		require.Len(t, sandboxInbox(t, env.base, "+8613711110006"), 1)

		env.clock.Advance(2 * time.Minute)
		again := b.accountPost(code, "/account/code", url.Values{"step": {"phone_code"}, "phone": {"+8613711110006"}})
		require.Equal(t, http.StatusOK, again.status, again.body)
		require.Contains(t, again.body, "验证码已发送至")
		require.Len(t, sandboxInbox(t, env.base, "+8613711110006"), 2, "sent again to the new number")
		done := b.accountPost(code, "/account/phone", url.Values{"phone": {"+8613711110006"}, "code": {env.smsCode("+8613711110006")}})
		require.Equal(t, http.StatusOK, done.status, done.body)
		require.Contains(t, done.body, "手机号已更换")
		require.Contains(t, done.body, "137****0006")
		u := env.userOf("+8613711110006")
		require.Len(t, env.auditOf(u.ID, audit.KindPhoneChange), 1)
	})

	t.Run("replace WeChat: prove the phone, log in with the new account", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("acc_old", "13711110007")
		u := env.userOf("+8613711110007")
		before, err := env.a.bindings.BindingOf(context.Background(), u.ID)
		require.NoError(t, err)
		p := b.accountPost(b.account(), "/account/code", url.Values{"step": {"replace"}})
		require.Contains(t, p.body, "验证并用新微信登录")
		follow := b.c.CheckRedirect
		b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		toWeChat := b.accountPost(p, "/account/replace", url.Values{"code": {env.smsCode("+8613711110007")}})
		b.c.CheckRedirect = follow
		require.Equal(t, http.StatusSeeOther, toWeChat.status, toWeChat.body)
		require.Contains(t, toWeChat.location, "qrconnect")
		authorize, _, _ := strings.Cut(toWeChat.location, "#")
		resp, err := noRedirect.Get(authorize + "&sandbox_user=acc_new")
		require.NoError(t, err)
		resp.Body.Close()
		callback := resp.Header.Get("Location")
		require.Contains(t, callback, "/account/replace/callback")
		done := b.get(callback)
		require.Equal(t, http.StatusOK, done.status, done.body)
		require.Contains(t, done.body, "已更换绑定的微信")
		after, err := env.a.bindings.BindingOf(context.Background(), u.ID)
		require.NoError(t, err)
		require.NotEqual(t, before.IdentityKey, after.IdentityKey)
		again := b.get(callback)
		require.Equal(t, http.StatusBadRequest, again.status, "the state is used once")
		require.Contains(t, again.body, "已过期或无效")

		// The old WeChat account now starts a first login.
		old := env.browser("")
		require.True(t, strings.Contains(old.get(old.scan(old.start(), "acc_old")).body, "绑定手机号"))
	})
}

// replaceWith proves b's phone and comes back from WeChat as person; it
// returns the page the callback answers with.
func (b *browser) replaceWith(phone, person string) page {
	b.env.t.Helper()
	t := b.env.t
	p := b.accountPost(b.account(), "/account/code", url.Values{"step": {"replace"}})
	follow := b.c.CheckRedirect
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	toWeChat := b.accountPost(p, "/account/replace", url.Values{"code": {b.env.smsCode(phone)}})
	b.c.CheckRedirect = follow
	require.Equal(t, http.StatusSeeOther, toWeChat.status, toWeChat.body)
	authorize, _, _ := strings.Cut(toWeChat.location, "#")
	resp, err := noRedirect.Get(authorize + "&sandbox_user=" + person)
	require.NoError(t, err)
	resp.Body.Close()
	return b.get(resp.Header.Get("Location"))
}

func TestAccountPageRefusals(t *testing.T) {
	clock := storetest.NewClock()
	env := startFlowEnvAt(t, clock.Now, "otp: {per_ip_hour: 100}\n")
	env.clock = clock

	t.Run("a WeChat account bound to someone else cannot replace yours", func(t *testing.T) {
		b, other := env.browser(""), env.browser("")
		other.bindAs("acr_taken", "13722220001")
		b.bindAs("acr_mine", "13722220002")
		p := b.replaceWith("+8613722220002", "acr_taken")
		require.Equal(t, http.StatusConflict, p.status)
		require.Contains(t, p.body, "这个微信已绑定另一个账号")
		u := env.userOf("+8613722220002")
		events := env.auditOf(u.ID, audit.KindBind)
		require.Equal(t, "person_bound", events[0].Outcome, "the refusal is audited")
	})

	t.Run("the same WeChat account is no replacement", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("acr_same", "13722220003")
		clock.Advance(2 * time.Minute)
		p := b.replaceWith("+8613722220003", "acr_same")
		require.Equal(t, http.StatusConflict, p.status)
		require.Contains(t, p.body, "这个微信已经绑定在你的账号上")
	})

	t.Run("logging out of CAS signs the account page out", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("acr_logout", "13722220004")
		require.Contains(t, b.account().body, "137****0004")
		b.get(env.base + "/cas/logout")
		p := b.account()
		require.NotContains(t, p.body, "137****0004")
		require.Contains(t, p.url, "/login?flow=")
	})

	t.Run("a form posted after the session ended does nothing", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("acr_late", "13722220005")
		p := b.account()
		b.get(env.base + "/cas/logout")
		late := b.accountPost(p, "/account/code", url.Values{"step": {"unbind"}})
		require.Equal(t, http.StatusForbidden, late.status)
		require.Contains(t, late.body, "你已退出登录，操作未执行")
	})

	t.Run("English", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("acr_en", "13722220006")
		b.account()
		p := b.get(env.base + "/account/?lang=en")
		require.Contains(t, p.body, "My account")
		require.Contains(t, p.body, "Unlink WeChat")
		require.Contains(t, p.body, "Website login")
	})
}

// TestAccountPageProbeFindings are the outside probe's findings on the
// account page, each kept fixed.
func TestAccountPageProbeFindings(t *testing.T) {
	clock := storetest.NewClock()
	env := startFlowEnvAt(t, clock.Now, "otp: {per_ip_hour: 100}\n")
	env.clock = clock

	t.Run("a session alone cannot change the phone: it logs in with WeChat again first", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("apf_stale", "13755550001")
		b.account()
		clock.Advance(account.FreshLogin)
		resp := b.noFollow(env.base + "/account/?step=phone")
		require.Equal(t, http.StatusFound, resp.status)
		require.Contains(t, resp.location, "/cas/login?renew=true&service="+url.QueryEscape(env.base+"/account/"))
		p := b.accountPost(b.account(), "/account/code", url.Values{"step": {"phone"}, "phone": {"13755550002"}})
		require.Contains(t, p.url, "/login?flow=", "a stale session's code request goes through the login again")
		require.Len(t, sandboxInbox(t, env.base, "+8613755550002"), 0, "and no code is sent")

		// Logging in again (renew) comes back to the phone form.
		again := b.get(b.scan(p, "apf_stale"))
		require.Equal(t, env.base+"/account/?step=phone", again.url, again.body[:min(len(again.body), 3000)])
		require.Contains(t, again.body, `autocomplete="tel"`)
	})

	t.Run("asking for someone else's number costs the asker, not the number", func(t *testing.T) {
		owner, asker := env.browser(""), env.browser("")
		owner.bindAs("apf_owner", "13755550003")
		asker.bindAs("apf_asker", "13755550004")
		p := asker.account()
		for range 4 {
			taken := asker.accountPost(p, "/account/code", url.Values{"step": {"phone"}, "phone": {"13755550003"}})
			require.Equal(t, http.StatusConflict, taken.status)
			clock.Advance(61 * time.Second)
		}
		code := owner.accountPost(owner.account(), "/account/code", url.Values{"step": {"unbind"}})
		require.Equal(t, http.StatusOK, code.status, "the owner still gets codes: %s", code.body)
		limited := asker.accountPost(p, "/account/code", url.Values{"step": {"phone"}, "phone": {"13755550003"}})
		require.Equal(t, http.StatusConflict, limited.status, "the fifth probe of the day")
		limited = asker.accountPost(p, "/account/code", url.Values{"step": {"phone"}, "phone": {"13755550099"}})
		require.Equal(t, http.StatusTooManyRequests, limited.status, "the sixth is refused, whatever the number")
	})

	t.Run("a ticket from someone else's sign-in does not sign this browser in", func(t *testing.T) {
		victim, attacker := env.browser(""), env.browser("")
		victim.bindAs("apf_victim", "13755550005")
		attacker.bindAs("apf_attacker", "13755550006")
		require.Contains(t, victim.account().body, "137****0005")
		resp := attacker.noFollow(env.base + "/cas/login?service=" + url.QueryEscape(env.base+"/account/"))
		require.Contains(t, resp.location, "/account/?ticket=ST-")
		forced := victim.get(resp.location)
		require.Equal(t, http.StatusBadRequest, forced.status)
		require.Contains(t, victim.account().body, "137****0005", "the victim is still themself")
	})

	t.Run("HEAD is answered and spends no ticket", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("apf_head", "13755550009")
		toCAS := b.noFollow(env.base + "/account/")
		require.Equal(t, http.StatusFound, toCAS.status)
		back := b.noFollow(env.base + toCAS.location)
		require.Regexp(t, `/account/\?n=[A-Z2-7]+&ticket=ST-`, back.location)
		follow := b.c.CheckRedirect
		b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		head := b.do(http.MethodHead, back.location, nil)
		b.c.CheckRedirect = follow
		require.NotEqual(t, http.StatusSeeOther, head.status, "HEAD does not redeem the ticket")
		p := b.get(back.location)
		require.Equal(t, env.base+"/account/", p.url, "the ticket is still there for the browser's GET")
		require.Contains(t, p.body, "137****0009")
		head = b.do(http.MethodHead, env.base+"/account/", nil)
		require.Equal(t, http.StatusOK, head.status, "signed in, HEAD is GET without the body")
	})

	t.Run("a ticket of someone else's sign-in is refused even while this browser signs in", func(t *testing.T) {
		victim, attacker := env.browser(""), env.browser("")
		victim.bindAs("apf_v2", "13755550010")
		attacker.bindAs("apf_a2", "13755550011")
		toCAS := attacker.noFollow(env.base + "/account/")
		forged := attacker.noFollow(env.base + toCAS.location).location // the attacker's own nonce and ticket
		require.Contains(t, forged, "&ticket=ST-")
		victim.noFollow(env.base + "/account/?step=phone") // the victim's sign-in is pending
		p := victim.get(forged)
		require.Equal(t, http.StatusBadRequest, p.status)
		require.Contains(t, victim.account().body, "137****0010", "the victim signs in as themself")
	})

	t.Run("no WeChat replacement within a day of a phone change", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("apf_hold", "13755550013")
		b.account()
		code := b.accountPost(b.get(env.base+"/account/?step=phone"), "/account/code", url.Values{"step": {"phone"}, "phone": {"13755550014"}})
		require.Equal(t, http.StatusOK, code.status, code.body)
		done := b.accountPost(code, "/account/phone", url.Values{"phone": {"+8613755550014"}, "code": {env.smsCode("+8613755550014")}})
		require.Contains(t, done.body, "手机号已更换")
		clock.Advance(2 * time.Minute)
		p := b.accountPost(done, "/account/code", url.Values{"step": {"replace"}})
		require.Equal(t, http.StatusConflict, p.status)
		require.Contains(t, p.body, "手机号更换后 24 小时内不能更换微信")
		require.Len(t, sandboxInbox(t, env.base, "+8613755550014"), 1, "no code for the replacement")
		clock.Advance(account.PhoneChangeHold)
		later := env.browser("") // the session is long over: a new login
		later.get(later.scan(later.start(), "apf_hold"))
		p = later.accountPost(later.account(), "/account/code", url.Values{"step": {"replace"}})
		require.Equal(t, http.StatusOK, p.status, "a day later")
	})

	t.Run("two tabs sign in at once", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("apf_tabs", "13755550012")
		tab1 := b.noFollow(env.base + "/account/?x=1")
		tab2 := b.noFollow(env.base + "/account/?x=2")
		back1 := b.noFollow(env.base + tab1.location).location
		back2 := b.noFollow(env.base + tab2.location).location
		require.Equal(t, env.base+"/account/?x=2", b.get(back2).url)
		require.Equal(t, env.base+"/account/?x=1", b.get(back1).url)
	})

	t.Run("the language chosen survives the sign-in", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("apf_lang", "13755550007")
		p := b.get(env.base + "/account/?lang=en")
		require.Equal(t, env.base+"/account/", p.url)
		require.Contains(t, p.body, "My account")
	})

	t.Run("declining in WeChat says the account is unchanged", func(t *testing.T) {
		b := env.browser("")
		b.bindAs("apf_decline", "13755550008")
		clock.Advance(2 * time.Minute)
		p := b.accountPost(b.account(), "/account/code", url.Values{"step": {"replace"}})
		toWeChat := b.noFollowPost(p, "/account/replace", url.Values{"code": {env.smsCode("+8613755550008")}})
		u, err := url.Parse(toWeChat.location)
		require.NoError(t, err)
		declined := b.get(env.base + "/account/replace/callback?state=" + u.Query().Get("state"))
		require.Contains(t, declined.body, "绑定的微信没有更换")
	})
}

// noFollow GETs target without following a redirect.
func (b *browser) noFollow(target string) page {
	b.env.t.Helper()
	follow := b.c.CheckRedirect
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	defer func() { b.c.CheckRedirect = follow }()
	return b.get(target)
}

// noFollowPost is accountPost without following a redirect.
func (b *browser) noFollowPost(p page, action string, fields url.Values) page {
	b.env.t.Helper()
	follow := b.c.CheckRedirect
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	defer func() { b.c.CheckRedirect = follow }()
	return b.accountPost(p, action, fields)
}
