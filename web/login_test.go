package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/journey"
	"wxcas/otp/otptest"
	"wxcas/templates"
	"wxcas/wechat"
)

func TestFirstLoginEndToEnd(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	id := b.start()

	qr, state := b.qr(id)
	requireText(t, qr, "qr_instructions")
	require.Contains(t, qr.Body, "The App", "the page names the service")
	require.Contains(t, qr.Body, `"appid":"`+appWeb+`"`)

	e.wx.issue(appWeb, "c1", person("alice"), nil)
	p := b.scan(state, "c1")
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, flowPath(id), p.Location)

	p = b.get(p.Location)
	require.Equal(t, http.StatusOK, p.Status)
	requireText(t, p, "bind_title")
	require.Contains(t, p.Body, "alice", "the nickname WeChat gave")

	phone := otptest.Phone(1)
	p = b.post(p, "/login/phone", "phone", "138 0000 0001")
	require.Equal(t, http.StatusSeeOther, p.Status, "POST → 303 → GET")
	require.Equal(t, flowPath(id), p.Location)
	require.Equal(t, 1, e.codes.Outbox.Count(phone))

	p = b.get(p.Location)
	require.Equal(t, http.StatusOK, p.Status)
	requireText(t, p, "code_title")
	require.Contains(t, p.Body, escaped(phone.Display()), "the number, masked")
	require.Contains(t, p.Body, `data-wait="60"`, "the resend countdown after a send")

	code := e.codes.Outbox.Last(phone)
	p = b.post(p, "/login/code", "code", otptest.Wrong(code))
	require.Equal(t, http.StatusSeeOther, p.Status, "a wrong code goes to the page too")
	p = b.get(p.Location)
	require.Equal(t, http.StatusBadRequest, p.Status, "the outcome's status")
	requireText(t, p, "wrong_code")
	require.Contains(t, p.Body, "4 attempts left.")
	require.Contains(t, p.Body, `data-wait="60"`, "after a wrong code the countdown goes on: the server would still refuse a resend")

	reload := b.get(flowPath(id))
	require.Equal(t, http.StatusOK, reload.Status, "the notice is shown once")
	require.NotContains(t, reload.Body, text("wrong_code"))

	require.Empty(t, e.finishedLogins())
	p = b.post(reload, "/login/code", "code", code)
	landedOnService(t, p)
	done := e.finishedLogins()
	require.Len(t, done, 1, "finished once")
	require.Equal(t, id, done[0].JourneyID)
	require.True(t, done[0].Person.NewlyBound)
	require.Equal(t, string(phone), done[0].Person.User.Phone)
	require.Equal(t, "o-alice", done[0].Person.Account.OpenID)

	// Reload or Back after the login: /cas/login, where the SSO session
	// issues the ticket.
	p = b.get(flowPath(id))
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, restartFor(service), p.Location)
	e.clock.Advance(e.ttl + journey.FinishGrace)
	p = b.get(flowPath(id))
	require.Equal(t, http.StatusSeeOther, p.Status, "long after, too")
	require.Equal(t, restartFor(service), p.Location)
	require.Len(t, e.finishedLogins(), 1)
}

func TestReturningUserLandsOnTheService(t *testing.T) {
	e := newEnv(t)
	e.bindPerson("bob", otptest.Phone(2))
	b := e.browser()
	id := b.start()
	_, state := b.qr(id)
	e.wx.issue(appWeb, "again", person("bob"), nil)
	landedOnService(t, b.scan(state, "again"))
	done := e.finishedLogins()
	require.Len(t, done, 2)
	require.Equal(t, id, done[1].JourneyID)
	require.False(t, done[1].Person.NewlyBound)
	require.Equal(t, done[0].Person.User.ID, done[1].Person.User.ID)
}

func TestRedirectQRMode(t *testing.T) {
	e := newEnv(t, func(o *LoginOptions) { o.QRMode = "redirect" })
	b := e.browser()
	id := b.start()
	p := b.get(flowPath(id))
	require.Equal(t, http.StatusSeeOther, p.Status)
	u, err := url.Parse(p.Location)
	require.NoError(t, err)
	require.Equal(t, "/connect/qrconnect", u.Path)
	require.Equal(t, appWeb, u.Query().Get("appid"))
	require.Equal(t, e.public+"/wechat/callback", u.Query().Get("redirect_uri"))
	e.wx.issue(appWeb, "c", person("carol"), nil)
	p = b.scan(u.Query().Get("state"), "c")
	require.Equal(t, flowPath(id), p.Location)
}

func TestOfficialAccountInsideWeChat(t *testing.T) {
	e := newEnv(t)
	// Bound through the website app; the Official Account's silent login
	// does not reveal the unionid, so the journey asks WeChat once more.
	e.bindPerson("dave", otptest.Phone(3))
	b := e.browser()
	b.ua = "Mozilla/5.0 (iPhone) AppleWebKit MicroMessenger/8.0.50"
	id := b.start()

	authorize := func(p page, scope string) string { return oaAuthorize(t, p, appOA, scope) }
	state := authorize(b.get(flowPath(id)), wechat.ScopeBase)
	e.wx.issue(appOA, "base", binding0("dave", false), nil)
	state2 := authorize(b.scan(state, "base"), wechat.ScopeUserInfo)
	require.NotEqual(t, state, state2)

	e.wx.issue(appOA, "userinfo", binding0("dave", true), nil)
	landedOnService(t, b.scan(state2, "userinfo"))
	done := e.finishedLogins()
	require.Len(t, done, 2)
	require.Equal(t, done[0].Person.User.ID, done[1].Person.User.ID, "the same person through the Official Account")
	require.Equal(t, journey.ChannelOAUserinfo, done[1].Person.Channel)
}

// oaAuthorize checks that p sends the browser to WeChat's web
// authorization of appID with scope, and returns its state.
func oaAuthorize(t *testing.T, p page, appID, scope string) string {
	t.Helper()
	require.Equal(t, http.StatusFound, p.Status, p.Body)
	u, err := url.Parse(p.Location)
	require.NoError(t, err)
	require.Equal(t, "/connect/oauth2/authorize", u.Path)
	require.Equal(t, appID, u.Query().Get("appid"))
	require.Equal(t, scope, u.Query().Get("scope"))
	return u.Query().Get("state")
}

func TestEntryOfficialAccounts(t *testing.T) {
	const weChat = "Mozilla/5.0 (iPhone) AppleWebKit MicroMessenger/8.0.50"
	entryLink := "/cas/login?service=" + url.QueryEscape(service) + "&appid="

	t.Run("the entry link's account, then the step-up on the unionid account", func(t *testing.T) {
		e := newEnv(t)
		e.bindPerson("erin", otptest.Phone(5))
		b := e.browser()
		b.ua = weChat
		id := b.startAt(entryLink + appOA2)
		state := oaAuthorize(t, b.get(flowPath(id)), appOA2, wechat.ScopeBase)
		entry := binding0("erin", false)
		e.wx.issue(appOA2, "base", entry, nil)
		state2 := oaAuthorize(t, b.scan(state, "base"), appOA, wechat.ScopeUserInfo)
		e.wx.issue(appOA, "userinfo", binding0("erin", true), nil)
		landedOnService(t, b.scan(state2, "userinfo"))

		// Bound elsewhere (the website): without a phone proven in the
		// chain's journey the entry account is not linked, so the next
		// login from it steps up again (silently, in WeChat).
		b2 := e.browser()
		b2.ua = weChat
		id = b2.startAt(entryLink + appOA2)
		state = oaAuthorize(t, b2.get(flowPath(id)), appOA2, wechat.ScopeBase)
		e.wx.issue(appOA2, "base-2", entry, nil)
		state2 = oaAuthorize(t, b2.scan(state, "base-2"), appOA, wechat.ScopeUserInfo)
		e.wx.issue(appOA, "userinfo-2", binding0("erin", true), nil)
		landedOnService(t, b2.scan(state2, "userinfo-2"))
	})

	t.Run("the service's account when the link names none; the default otherwise", func(t *testing.T) {
		e := newEnv(t, func(o *LoginOptions) { o.EntryAccounts = map[string]string{"app": appOA2} })
		b := e.browser()
		b.ua = weChat
		oaAuthorize(t, b.get(flowPath(b.start())), appOA2, wechat.ScopeBase)
		oaAuthorize(t, b.get(flowPath(b.startAt(entryLink+appOA))), appOA, wechat.ScopeBase)

		e = newEnv(t)
		b = e.browser()
		b.ua = weChat
		oaAuthorize(t, b.get(flowPath(b.start())), appOA, wechat.ScopeBase)
	})

	t.Run("a link naming no configured Official Account is refused", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		for _, appID := range []string{"wxnotconfigured0001", appWeb} {
			p := b.get(entryLink + appID)
			require.Equal(t, http.StatusBadRequest, p.Status, appID)
			requireText(t, p, "entry_unknown")
		}
	})

	t.Run("a platform-served account that withdrew, or has no ticket yet, gets a clear page", func(t *testing.T) {
		states := map[string]AccountState{appOA3: AccountWithdrawn}
		e := newEnv(t, func(o *LoginOptions) {
			o.AccountState = func(_ context.Context, appID string) (AccountState, error) { return states[appID], nil }
		})
		b := e.browser()
		b.ua = weChat
		p := b.get(flowPath(b.startAt(entryLink + appOA3)))
		require.Equal(t, http.StatusForbidden, p.Status)
		requireText(t, p, "account_unauthorized")

		states[appOA3] = AccountNotReady
		id := b.startAt(entryLink + appOA3)
		p = b.get(flowPath(id))
		require.Equal(t, http.StatusServiceUnavailable, p.Status, "no ticket from WeChat yet: stopped before WeChat")
		requireText(t, p, "wechat_unavailable")
		require.Contains(t, p.Body, `href="`+flowPath(id)+`"`, "with a way to try again")

		states[appOA3] = AccountUsable
		p = b.get(flowPath(b.startAt(entryLink + appOA3)))
		require.Equal(t, http.StatusFound, p.Status)
		require.Contains(t, p.Location, "&component_appid=wxcomponent0000001#wechat_redirect", "on behalf of the platform")
	})

	t.Run("a callback naming another account than its state's is refused", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		b.ua = weChat
		state := oaAuthorize(t, b.get(flowPath(b.startAt(entryLink+appOA3))), appOA3, wechat.ScopeBase)
		e.wx.issue(appOA3, "base", binding0("frank", false), nil)
		p := b.get("/wechat/callback?code=base&state=" + url.QueryEscape(state) + "&appid=" + appOA2)
		require.Equal(t, http.StatusBadRequest, p.Status)
		requireText(t, p, "state_invalid")
		require.Zero(t, e.wx.calls, "no code exchanged")
	})
}

// TestStatePresentedElsewhere: WeChat sends its callback to the browser the
// authorization ran in. A state that shows up in another browser has left
// it (a link passed on): the journey ends, so the callback replayed later in
// the journey's own browser logs nobody in and links nothing.
func TestStatePresentedElsewhere(t *testing.T) {
	const weChat = "Mozilla/5.0 (iPhone) AppleWebKit MicroMessenger/8.0.50"
	e := newEnv(t)
	attacker := e.browser()
	attacker.ua = weChat
	id := attacker.startAt("/cas/login?service=" + url.QueryEscape(service) + "&appid=" + appOA2)
	state := oaAuthorize(t, attacker.get(flowPath(id)), appOA2, wechat.ScopeBase)
	e.wx.issue(appOA2, "base", binding0("gary", false), nil)

	victim := e.browser()
	victim.ua = weChat
	p := victim.scan(state, "base")
	require.Equal(t, http.StatusBadRequest, p.Status)
	requireText(t, p, "state_invalid")

	p = attacker.scan(state, "base")
	require.Equal(t, http.StatusBadRequest, p.Status, "the replay in the journey's own browser is refused")
	require.Zero(t, e.wx.calls, "no code was exchanged")
	p = attacker.get(flowPath(id))
	requireText(t, p, "login_ended")

	// A state of no journey (or a made-up one) ends nothing.
	other := e.browser()
	other.ua = weChat
	id2 := other.start()
	state2 := oaAuthorize(t, other.get(flowPath(id2)), appOA, wechat.ScopeBase)
	last := "Q"
	if strings.HasSuffix(state2, last) {
		last = "R" // a forgery must differ from the state
	}
	for _, forged := range []string{"", "x", id2 + "AAAAAAAAAAAAAAAAAAAAAAAAAA", state2[:len(state2)-1] + last} {
		require.Equal(t, http.StatusBadRequest, victim.scan(forged, "base").Status, forged)
	}
	e.wx.issue(appOA, "base2", binding0("gary", false), nil)
	require.NotEqual(t, http.StatusBadRequest, other.scan(state2, "base2").Status, "its own browser goes on")
}

func TestMobileGuidance(t *testing.T) {
	t.Run("a phone's browser", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		b.ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148 Safari/604.1"
		id := b.start()
		p := b.get(flowPath(id))
		require.Equal(t, http.StatusOK, p.Status)
		requireText(t, p, "mobile_in_browser")
		require.Contains(t, p.Body, `value="`+e.public+restartFor(service)+`"`, "the link to open in WeChat")
		require.Contains(t, p.Body, `href="/login?flow=`+id+`&amp;qr=1"`)
		p = b.get("/login?flow=" + id + "&qr=1")
		require.Equal(t, http.StatusOK, p.Status)
		require.Regexp(t, wxState, p.Body, "the QR code anyway")
	})
	t.Run("inside WeChat without an Official Account", func(t *testing.T) {
		e := newEnv(t, func(o *LoginOptions) { o.OfficialAccountAppID = "" })
		b := e.browser()
		b.ua = "Mozilla/5.0 (Android 14) MicroMessenger/8.0.50"
		p := b.get(flowPath(b.start()))
		require.Equal(t, http.StatusOK, p.Status)
		requireText(t, p, "mobile_in_wechat_no_oa")
	})
}

func TestResend(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	phone := otptest.Phone(4)
	id, p := b.toCodePage("erin", phone)

	p = b.post(p, "/login/resend")
	require.Equal(t, http.StatusSeeOther, p.Status)
	p = b.get(p.Location)
	require.Equal(t, http.StatusTooManyRequests, p.Status, "within the cooldown")
	require.Equal(t, "60", p.Header.Get("Retry-After"))
	requireText(t, p, "rate_limited")
	require.Contains(t, p.Body, "Try again in 1 minute.")
	require.Equal(t, 1, e.codes.Outbox.Count(phone))

	e.clock.Advance(time.Minute)
	p = b.post(p, "/login/resend")
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, flowPath(id), p.Location)
	require.Equal(t, 2, e.codes.Outbox.Count(phone))
	p = b.get(p.Location)
	require.Equal(t, http.StatusOK, p.Status)
	requireText(t, p, "code_title")
	p = b.post(p, "/login/code", "code", e.codes.Outbox.Last(phone))
	landedOnService(t, p)
}

func TestChangeNumber(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	first, second := otptest.Phone(5), otptest.Phone(6)
	id, p := b.toCodePage("frank", first)
	p = b.post(p, "/login/change-phone")
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, flowPath(id), p.Location)
	p = b.get(p.Location)
	requireText(t, p, "bind_title")

	p = b.post(p, "/login/phone", "phone", string(second))
	p = b.get(p.Location)
	require.Contains(t, p.Body, escaped(second.Display()))
	p = b.post(p, "/login/code", "code", e.codes.Outbox.Last(first))
	require.Equal(t, http.StatusSeeOther, p.Status, "the first number's code no longer counts")
	p = b.get(p.Location)
	require.Equal(t, http.StatusBadRequest, p.Status)
	landedOnService(t, b.post(p, "/login/code", "code", e.codes.Outbox.Last(second)))
	require.Equal(t, string(second), e.finishedLogins()[0].Person.User.Phone)
}

func TestRefusedNumberIsShownAgain(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	id, p := b.toBindPage("gina")
	p = b.post(p, "/login/phone", "phone", "12-3")
	require.Equal(t, http.StatusSeeOther, p.Status)
	p = b.get(p.Location)
	require.Equal(t, http.StatusBadRequest, p.Status)
	requireText(t, p, "invalid_phone")
	require.Contains(t, p.Body, `value="12-3"`, "the number as typed, to fix")

	p = b.get(flowPath(id))
	require.Equal(t, http.StatusOK, p.Status)
	require.NotContains(t, p.Body, `value="12-3"`)

	// A new number refused while a code is out: the bind page again.
	_, p = b.toCodePage("hana", otptest.Phone(7))
	p = b.post(p, "/login/phone", "phone", "nonsense")
	p = b.get(p.Location)
	require.Equal(t, http.StatusBadRequest, p.Status)
	requireText(t, p, "bind_title")
	require.Contains(t, p.Body, `value="nonsense"`)
}

func TestCancel(t *testing.T) {
	for _, step := range []string{"qr", "bind", "code"} {
		t.Run(step, func(t *testing.T) {
			e := newEnv(t)
			b := e.browser()
			var id string
			var p page
			switch step {
			case "qr":
				id = b.start()
				p, _ = b.qr(id)
			case "bind":
				id, p = b.toBindPage("ivan")
			case "code":
				id, p = b.toCodePage("ivan", otptest.Phone(8))
			}
			p = b.post(p, "/login/cancel")
			require.Equal(t, http.StatusSeeOther, p.Status)
			require.Equal(t, flowPath(id), p.Location)
			p = b.get(p.Location)
			require.Equal(t, http.StatusOK, p.Status)
			requireText(t, p, "login_cancelled")
			require.Contains(t, p.Body, `href="`+escaped(restartFor(service))+`"`)

			p = b.get(flowPath(id))
			requireText(t, p, "login_ended")
			require.Contains(t, p.Body, `href="`+escaped(restartFor(service))+`"`)
			require.Empty(t, e.finishedLogins())
		})
	}
}

func TestExpiredJourneyAtEachStep(t *testing.T) {
	for _, step := range []string{"qr", "callback", "bind", "phone", "code-page", "resend"} {
		t.Run(step, func(t *testing.T) {
			e := newEnv(t)
			b := e.browser()
			var p page
			switch step {
			case "qr":
				id := b.start()
				e.clock.Advance(e.ttl)
				p = b.get(flowPath(id))
			case "callback":
				id := b.start()
				_, state := b.qr(id)
				e.clock.Advance(e.ttl)
				e.wx.issue(appWeb, "late", person("jan"), nil)
				p = b.scan(state, "late")
			case "bind":
				id, _ := b.toBindPage("jan")
				e.clock.Advance(e.ttl)
				p = b.get(flowPath(id))
			case "phone":
				_, form := b.toBindPage("jan")
				e.clock.Advance(e.ttl)
				p = b.post(form, "/login/phone", "phone", string(otptest.Phone(9)))
				require.Equal(t, http.StatusSeeOther, p.Status)
				p = b.get(p.Location)
				require.Zero(t, e.codes.Outbox.Count(otptest.Phone(9)), "no SMS for an expired journey")
			case "code-page":
				id, _ := b.toCodePage("jan", otptest.Phone(9))
				e.clock.Advance(e.ttl)
				p = b.get(flowPath(id))
			case "resend":
				_, form := b.toCodePage("jan", otptest.Phone(9))
				e.clock.Advance(e.ttl)
				p = b.get(b.post(form, "/login/resend").Location)
				require.Equal(t, 1, e.codes.Outbox.Count(otptest.Phone(9)))
			}
			requireExpiryPage(t, p, http.StatusBadRequest, "journey_expired", restartFor(service))
			require.Empty(t, e.finishedLogins())
		})
	}
}

func TestCodeAfterExpirySaysSo(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	phone := otptest.Phone(10)
	_, p := b.toCodePage("kim", phone)
	e.clock.Advance(e.ttl)
	p = b.post(p, "/login/code", "code", e.codes.Outbox.Last(phone))
	require.Equal(t, http.StatusSeeOther, p.Status)
	p = b.get(p.Location)
	requireExpiryPage(t, p, http.StatusBadRequest, "journey_expired_code", restartFor(service))
	require.Empty(t, e.finishedLogins())
}

func TestJourneyGoneStillRestartsForTheService(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	id, _ := b.toBindPage("lena")
	e.clock.Advance(2 * e.ttl)
	n, err := e.store.Cleanup(context.Background(), e.clock.Now())
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	requireExpiryPage(t, b.get(flowPath(id)), http.StatusBadRequest, "journey_expired", restartFor(service))
}

// A late page restarts the login for the same service although the
// journey and its CSRF cookie are gone: the browser's journey cookie
// outlives them, keeping the service but not the nonce, so nothing of the
// login can go on or be repeated from it.
func TestLatePagesRestartForTheService(t *testing.T) {
	for _, tc := range []struct {
		name  string
		visit func(e *env, b *browser) page
		// restart is where "log in again" goes.
		status  int
		restart string
	}{
		{"the bind page reloaded", func(e *env, b *browser) page {
			id, _ := b.toBindPage("ola")
			e.clock.Advance(e.ttl + 2*time.Second)
			return b.get(flowPath(id))
		}, http.StatusBadRequest, restartFor(service)},
		{"the right code, sent late", func(e *env, b *browser) page {
			_, p := b.toCodePage("pia", otptest.Phone(30))
			e.clock.Advance(e.ttl + 2*time.Second)
			return b.post(p, "/login/code", "code", e.codes.Outbox.Last(otptest.Phone(30)))
		}, http.StatusForbidden, restartFor(service)},
		{"WeChat's answer, late", func(e *env, b *browser) page {
			_, state := b.qr(b.start())
			e.clock.Advance(e.ttl + 2*time.Second)
			e.wx.issue(appWeb, "late", person("quin"), nil)
			return b.scan(state, "late")
		}, http.StatusBadRequest, restartFor(service)},
		{"the page, the journey's row cleaned up", func(e *env, b *browser) page {
			id := b.start()
			e.clock.Advance(e.ttl + 59*time.Minute)
			_, err := e.store.Cleanup(context.Background(), e.clock.Now())
			require.NoError(t, err)
			return b.get(flowPath(id))
		}, http.StatusBadRequest, restartFor(service)},
		{"the page, after the cookie's afterlife", func(e *env, b *browser) page {
			id := b.start()
			e.clock.Advance(e.ttl + time.Hour + time.Second)
			return b.get(flowPath(id))
		}, http.StatusBadRequest, "/cas/login"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b := e.browserOnClock()
			p := tc.visit(e, b)
			requireExpiryPage(t, p, tc.status, "journey_expired", tc.restart)
			require.Empty(t, e.finishedLogins())
			// Once the journeys can no longer be live (a finished one's
			// repeats included), the cookie names their services, not
			// their nonces.
			e.clock.Advance(journey.FinishGrace)
			req := httptest.NewRequest(http.MethodGet, "/login", nil)
			for _, c := range b.client.Jar.Cookies(mustURL(t, e.public+"/login")) {
				req.AddCookie(c)
			}
			for _, h := range e.login.helds(req) {
				require.Empty(t, h.Nonce, "journey %s", h.ID)
			}
		})
	}
}

func TestJourneyFromAnotherBrowser(t *testing.T) {
	e := newEnv(t)
	a := e.browser()
	id, form := a.toBindPage("mia")

	other := e.browser()
	requireExpiryPage(t, other.get(flowPath(id)), http.StatusBadRequest, "journey_expired", "/cas/login")

	// Its own CSRF token, the other browser's journey id: nothing happens.
	mine, _ := other.qr(other.start())
	p := other.do(http.MethodPost, "/login/phone", url.Values{
		"flow": {id}, "_csrf": {field(t, mine, "_csrf")}, "phone": {string(otptest.Phone(11))},
	}, nil)
	require.Equal(t, http.StatusSeeOther, p.Status)
	requireExpiryPage(t, other.get(p.Location), http.StatusBadRequest, "journey_expired", "/cas/login")
	require.Zero(t, e.codes.Outbox.Count(otptest.Phone(11)))

	// The owner carries on.
	p = a.post(form, "/login/phone", "phone", string(otptest.Phone(11)))
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, 1, e.codes.Outbox.Count(otptest.Phone(11)))
}

func TestDuplicateCallback(t *testing.T) {
	t.Run("a returning person lands on the service twice", func(t *testing.T) {
		e := newEnv(t)
		e.bindPerson("nora", otptest.Phone(12))
		b := e.browser()
		id := b.start()
		_, state := b.qr(id)
		e.wx.issue(appWeb, "dup", person("nora"), nil)
		landedOnService(t, b.scan(state, "dup"))
		landedOnService(t, b.scan(state, "dup"))
		require.Len(t, e.finishedLogins(), 3, "finished again for the repeat")
		require.Equal(t, 1+1, e.wx.calls, "the repeat does not ask WeChat")
	})
	t.Run("a first login shows the bind page again", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		id := b.start()
		_, state := b.qr(id)
		e.wx.issue(appWeb, "dup", person("olga"), nil)
		require.Equal(t, flowPath(id), b.scan(state, "dup").Location)
		p := b.scan(state, "dup")
		require.Equal(t, http.StatusSeeOther, p.Status)
		require.Equal(t, flowPath(id), p.Location)
		requireText(t, b.get(p.Location), "bind_title")
	})
	t.Run("both at once", func(t *testing.T) {
		e := newEnv(t)
		e.bindPerson("pia", otptest.Phone(13))
		b := e.browser()
		_, state := b.qr(b.start())
		e.wx.issue(appWeb, "dup", person("pia"), nil)
		var wg sync.WaitGroup
		pages := make([]page, 2)
		for i := range pages {
			wg.Go(func() { pages[i] = b.scan(state, "dup") })
		}
		wg.Wait()
		for _, p := range pages {
			landedOnService(t, p)
		}
	})
}

func TestDoubleCodeSubmitLandsOnTheService(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	phone := otptest.Phone(14)
	_, p := b.toCodePage("quinn", phone)
	code := e.codes.Outbox.Last(phone)
	var wg sync.WaitGroup
	pages := make([]page, 2)
	for i := range pages {
		wg.Go(func() { pages[i] = b.post(p, "/login/code", "code", code) })
	}
	wg.Wait()
	for _, got := range pages {
		landedOnService(t, got)
	}
	done := e.finishedLogins()
	require.Len(t, done, 2)
	require.Equal(t, done[0].Person.User.ID, done[1].Person.User.ID, "one person")
	_, err := e.dir.FindByPhone(context.Background(), string(phone))
	require.NoError(t, err)

	// And once more, after both.
	landedOnService(t, b.post(p, "/login/code", "code", code))
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	_, p := b.toBindPage("rosa")
	phone := otptest.Phone(15)
	id := field(t, p, "flow")

	for name, form := range map[string]url.Values{
		"missing": {"flow": {id}, "phone": {string(phone)}},
		"wrong":   {"flow": {id}, "phone": {string(phone)}, "_csrf": {"not-the-token"}},
	} {
		t.Run(name, func(t *testing.T) {
			got := b.do(http.MethodPost, "/login/phone", form, nil)
			requireExpiryPage(t, got, http.StatusForbidden, "journey_expired", restartFor(service))
			require.Zero(t, e.codes.Outbox.Count(phone), "refused: nothing sent")
		})
	}
	t.Run("another site", func(t *testing.T) {
		got := b.do(http.MethodPost, "/login/phone", url.Values{"flow": {id}, "phone": {string(phone)}, "_csrf": {field(t, p, "_csrf")}},
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
		require.Equal(t, http.StatusForbidden, got.Status)
		require.Zero(t, e.codes.Outbox.Count(phone))
	})
	t.Run("a same-origin browser needs no token", func(t *testing.T) {
		got := b.do(http.MethodPost, "/login/phone", url.Values{"flow": {id}, "phone": {string(phone)}},
			map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "null"})
		require.Equal(t, http.StatusSeeOther, got.Status)
		require.Equal(t, 1, e.codes.Outbox.Count(phone))
	})
}

func TestBackAndReloadNeverSendAgain(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	phone := otptest.Phone(16)
	id, _ := b.toCodePage("sam", phone)
	for range 3 {
		p := b.get(flowPath(id)) // every page of the journey has this one URL
		require.Equal(t, http.StatusOK, p.Status)
		requireText(t, p, "code_title")
	}
	require.Equal(t, 1, e.codes.Outbox.Count(phone))
}

func TestWeChatRefusals(t *testing.T) {
	t.Run("declined in WeChat", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		id := b.start()
		_, state := b.qr(id)
		p := b.get("/wechat/callback?state=" + state)
		require.Equal(t, http.StatusOK, p.Status)
		requireText(t, p, "wechat_refused")
		require.Contains(t, p.Body, `href="`+flowPath(id)+`"`, "try again: a new QR code")
		_, again := b.qr(id)
		require.NotEqual(t, state, again)
	})
	t.Run("a snapshot-page user", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		id := b.start()
		_, state := b.qr(id)
		e.wx.issue(appWeb, "snap", person("tom"), wechat.ErrSnapshotUser)
		p := b.scan(state, "snap")
		require.Equal(t, http.StatusForbidden, p.Status)
		requireText(t, p, "snapshot")
		require.Contains(t, p.Body, `href="`+escaped(restartFor(service))+`"`, "only a new journey can succeed")
		requireText(t, b.get(flowPath(id)), "login_ended")
	})
	t.Run("WeChat unavailable", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		id := b.start()
		_, state := b.qr(id)
		e.wx.issue(appWeb, "busy", person("uma"), wechat.ErrBusy)
		p := b.scan(state, "busy")
		require.Equal(t, http.StatusBadGateway, p.Status)
		requireText(t, p, "wechat_busy")
		require.Contains(t, p.Body, `href="`+flowPath(id)+`"`)
	})
	t.Run("a code WeChat does not know", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		_, state := b.qr(b.start())
		p := b.scan(state, "never-issued")
		require.Equal(t, http.StatusBadRequest, p.Status)
		requireText(t, p, "wechat_failed")
	})
	t.Run("a state this browser never got", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		_, state := b.qr(b.start())
		p := e.browser().scan(state, "x")
		require.Equal(t, http.StatusBadRequest, p.Status)
		requireText(t, p, "state_invalid")
		p = b.scan("NOTASTATE", "x")
		require.Equal(t, http.StatusBadRequest, p.Status)
		requireText(t, p, "state_invalid")
	})
	t.Run("a reload shows the first state again; once spent, the page issues a new one and the old is refused", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		id := b.start()
		_, first := b.qr(id)
		_, again := b.qr(id)
		require.Equal(t, first, again)
		j, err := e.store.Get(context.Background(), id)
		require.NoError(t, err)
		require.Zero(t, j.Version, "the journey started with its first state: showing it wrote nothing")
		requireText(t, b.scan(first, "never-issued"), "wechat_failed")
		_, current := b.qr(id)
		require.NotEqual(t, first, current)
		_, reloaded := b.qr(id)
		require.NotEqual(t, current, reloaded, "a state issued on the page is replaced by a reload")
		e.wx.issue(appWeb, "c", person("vic"), nil)
		requireText(t, b.scan(first, "c"), "state_invalid")
		requireText(t, b.scan(current, "c"), "state_invalid")
		require.Equal(t, flowPath(id), b.scan(reloaded, "c").Location, "the code on screen works")
	})
}

// A page answering WeChat's callback switches language on the journey's
// page: the callback's URL, without its spent state and code, would only
// say the link is no longer valid, and the login would be lost.
func TestCallbackPagesSwitchLanguageOnTheJourney(t *testing.T) {
	for _, tc := range []struct {
		name     string
		callback func(e *env, state string) string // the callback's query
		key      string
	}{
		{"declined in WeChat", func(_ *env, state string) string { return "state=" + state }, "wechat_refused"},
		{"WeChat busy", func(e *env, state string) string {
			e.wx.issue(appWeb, "busy", person("ida"), wechat.ErrBusy)
			return "code=busy&state=" + state
		}, "wechat_busy"},
		{"the journey expired meanwhile", func(e *env, state string) string {
			e.clock.Advance(e.ttl)
			return "code=late&state=" + state
		}, "journey_expired"},
		{"another app named", func(_ *env, state string) string { return "code=x&state=" + state + "&appid=" + appOA2 }, "state_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b := e.browser()
			id := b.start()
			_, state := b.qr(id)
			p := b.get("/wechat/callback?" + tc.callback(e, state))
			requireText(t, p, tc.key)
			for _, lang := range []string{"zh-CN", "en"} {
				require.Contains(t, p.Body, `href="`+escaped(flowPath(id)+"&lang="+lang)+`"`, "the %s link", lang)
			}
			require.NotContains(t, p.Body, "/wechat/callback?")
		})
	}
}

func TestConcurrentPageLoads(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	id := b.start()
	var wg sync.WaitGroup
	pages := make([]page, 32)
	for i := range pages {
		wg.Go(func() { pages[i] = b.get(flowPath(id)) })
	}
	wg.Wait()
	for _, p := range pages {
		require.Contains(t, []int{http.StatusOK, http.StatusSeeOther}, p.Status, p.Body)
	}
}

func TestAtMostFourJourneysPerBrowser(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	var ids []string
	for range 5 {
		ids = append(ids, b.start())
		e.clock.Advance(time.Second) // the order the cookie keeps them in
	}
	requireExpiryPage(t, b.get(flowPath(ids[0])), http.StatusBadRequest, "journey_expired", "/cas/login")
	for _, id := range ids[1:] {
		_, state := b.qr(id)
		require.NotEmpty(t, state)
	}
}

// Long service URLs: the cookie stays under browsers' 4 KB by letting the
// oldest journeys go, and a URL too long to remember still has its journey.
func TestLongServiceURLs(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	long := service + "&pad=" + strings.Repeat("a", maxCookieService-len(service)-5)
	require.Len(t, long, maxCookieService)
	var ids []string
	for range maxJourneys {
		p := b.get("/cas/login?service=" + url.QueryEscape(long))
		require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
		ids = append(ids, strings.TrimPrefix(p.Location, "/login?flow="))
		e.clock.Advance(time.Second)
	}
	for _, c := range b.client.Jar.Cookies(mustURL(t, e.public+"/login")) {
		require.Less(t, len(c.Value), 4000, c.Name)
	}
	_, state := b.qr(ids[len(ids)-1])
	require.NotEmpty(t, state, "the newest journey is held")
	e.clock.Advance(e.ttl)
	requireExpiryPage(t, b.get(flowPath(ids[len(ids)-1])), http.StatusBadRequest, "journey_expired", restartFor(long))

	tooLong := long + "b"
	p := b.get("/cas/login?service=" + url.QueryEscape(tooLong))
	require.Equal(t, http.StatusSeeOther, p.Status)
	id := strings.TrimPrefix(p.Location, "/login?flow=")
	_, state = b.qr(id)
	require.NotEmpty(t, state)
	e.clock.Advance(e.ttl)
	requireExpiryPage(t, b.get(flowPath(id)), http.StatusBadRequest, "journey_expired", restartFor(tooLong))
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func TestServiceTheFinishCannotReach(t *testing.T) {
	e := newEnv(t, func(o *LoginOptions) { o.Accepts = func(req cas.LoginRequest) bool { return false } })
	p := e.browser().get("/cas/login?service=" + url.QueryEscape(service))
	require.Equal(t, http.StatusBadRequest, p.Status)
	requireText(t, p, "service_unknown")
}

func TestPagesAreCheckedAtStart(t *testing.T) {
	for name, content := range map[string]string{
		"a missing field":           `{{define "content"}}{{.Data.NoSuchField}}{{end}}`,
		"a missing field in an if":  `{{define "content"}}{{if .Data.ErrorKey}}{{.Data.NoSuchField}}{{end}}{{end}}`,
		"a missing field in a with": `{{define "content"}}{{with .Data.MaskedPhone}}{{$.Data.Nope}}{{end}}{{end}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "login_code.html"), []byte(content), 0o644))
			_, err := NewPages(Overlay(dir, templates.FS), false)
			require.ErrorContains(t, err, "login_code.html")
		})
	}
	t.Run("a missing page", func(t *testing.T) {
		_, err := NewPages(noFile{templates.FS, "login_expired.html"}, false)
		require.ErrorContains(t, err, "login_expired.html")
	})
}

func TestNewLoginChecksItsOptions(t *testing.T) {
	_, err := NewLogin(LoginOptions{})
	require.ErrorContains(t, err, "Engine")
	require.ErrorContains(t, err, "Finisher")
}

// Behind a proxy that strips public_url's path, every URL handed to the
// browser carries it.
func TestBasePath(t *testing.T) {
	e := newEnv(t)
	o := e.login.o
	o.PublicURL = mustURL(t, "https://login.example.edu/wxcas/")
	h, err := NewLogin(o)
	require.NoError(t, err)
	w := httptest.NewRecorder()
	h.Authenticate(w, httptest.NewRequest(http.MethodGet, "/cas/login", nil), cas.LoginRequest{ServiceURL: service})
	require.Equal(t, http.StatusSeeOther, w.Code)
	require.True(t, strings.HasPrefix(w.Header().Get("Location"), "/wxcas/login?flow="), w.Header().Get("Location"))
	ck := w.Result().Cookies()
	require.Len(t, ck, 1)
	require.Equal(t, "/wxcas/", ck[0].Path)
	require.True(t, ck[0].Secure && ck[0].HttpOnly)
	require.Equal(t, "/wxcas/cas/login?service="+url.QueryEscape(service), h.loginURL(service))
	require.Equal(t, "https://login.example.edu/wxcas/wechat/callback", h.callback)
}
