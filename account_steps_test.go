package main

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/store/storetest"
)

var enLink = regexp.MustCompile(`<a href="([^"]*)" hreflang="en"`)

// langLinkOf is the English link of page p, parsed.
func langLinkOf(t *testing.T, p page) *url.URL {
	t.Helper()
	m := enLink.FindStringSubmatch(p.body)
	require.NotNil(t, m, "no language link: %s", p.body)
	u, err := url.Parse(html.UnescapeString(m[1]))
	require.NoError(t, err)
	return u
}

// signedInAccount starts wxcas on a clock of its own (a test moves it past
// the send cooldowns) and returns a browser signed in to the account page,
// as a person bound to phone, with the page.
func signedInAccount(t *testing.T, person, phone string) (*flowEnv, *browser, page) {
	t.Helper()
	clock := storetest.NewClock()
	env := startFlowEnvAt(t, clock.Now, "otp: {per_ip_hour: 100}\n")
	env.clock = clock
	b := env.browser("")
	b.bindAs(person, phone)
	return env, b, b.account()
}

// The account page's answers to its posts switch language on a page to GET
// that shows the same step again: not the post's URL, not the site's root
// (a 404), and never with the new number in it.
func TestAccountPageLanguageLinks(t *testing.T) {
	env, b, home := signedInAccount(t, "acl_links", "13766660001")

	for _, tc := range []struct {
		name   string
		answer func() page
		step   string // the ?step= of the link; "" for the page itself
		shows  string // what the page at the link shows
	}{
		{"the new number's code step", func() page {
			return b.accountPost(home, "/account/code", url.Values{"step": {"phone"}, "phone": {"13766660002"}})
		}, "phone_code", `id="phonecode-h"`}, // found from the session's pending code (an outside probe lost it)
		{"a mistyped new number", func() page {
			return b.accountPost(home, "/account/code", url.Values{"step": {"phone"}, "phone": {"12"}})
		}, "phone", `id="newphone-h"`},
		{"unbind's code step", func() page { return b.accountPost(home, "/account/code", url.Values{"step": {"unbind"}}) },
			"unbind", `id="confirm-h"`},
		{"unbind's step after a wrong code", func() page { return b.accountPost(home, "/account/unbind", url.Values{"code": {"000000"}}) },
			"unbind", `id="confirm-h"`},
		{"replace's step after a wrong code", func() page { return b.accountPost(home, "/account/replace", url.Values{"code": {"000000"}}) },
			"replace", `id="confirm-h"`},
		{"a refused token", func() page {
			return b.do(http.MethodPost, env.base+"/account/code", url.Values{"step": {"unbind"}, "_csrf": {"forged"}})
		}, "", `id="actions-h"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.answer()
			link := langLinkOf(t, p)
			require.NotContains(t, link.String(), "13766660002", "the number is never in a link")
			require.Equal(t, "/account/", link.Path)
			q := link.Query()
			require.Equal(t, "en", q.Get("lang"))
			require.Equal(t, tc.step, q.Get("step"))
			q.Del("lang")
			q.Del("step")
			require.Empty(t, q, "nothing else in the link")
			sent := len(sandboxInbox(t, env.base, "+8613766660001"))
			there := b.get(env.base + link.String())
			require.Equal(t, http.StatusOK, there.status, there.body)
			require.Contains(t, there.body, `<html lang="en">`)
			require.Contains(t, there.body, tc.shows)
			require.Len(t, sandboxInbox(t, env.base, "+8613766660001"), sent, "showing a step sends nothing")
		})
	}

	t.Run("the phone change's code step shown again names the new number and takes its code", func(t *testing.T) {
		p := b.get(env.base + "/account/?step=phone_code&lang=en")
		require.Contains(t, p.body, `id="phonecode-h"`)
		require.Contains(t, p.body, "137****0002")
		require.Contains(t, p.body, `name="phone" value="&#43;8613766660002"`, "the form carries the number found")
		other := env.browser("") // the same person in another browser: another session
		other.get(other.scan(other.start(), "acl_links"))
		other.account()
		q := other.get(env.base + "/account/?step=phone_code")
		require.NotContains(t, q.body, "137****0002", "another session has no pending code: the number's form")
		require.Contains(t, q.body, `id="newphone-h"`)
	})

	t.Run("a code step shown again has its send-again button, counting down", func(t *testing.T) {
		env.clock.Advance(2 * time.Minute) // past the unbind code's cooldown
		b.accountPost(home, "/account/code", url.Values{"step": {"replace"}})
		sent := len(sandboxInbox(t, env.base, "+8613766660001"))
		p := b.get(env.base + "/account/?step=replace&lang=en")
		require.Contains(t, p.body, `action="/account/replace"`)
		require.Regexp(t, `id="resend" data-wait="[1-9][0-9]*"[^>]* disabled`, p.body)
		require.Len(t, sandboxInbox(t, env.base, "+8613766660001"), sent)
	})
}

// A code step shown again after a refusal still says the code was sent (it
// was, and it still works); a refused number is marked on its field, and
// tied to the error, as on the login's bind page.
func TestAccountStepsAfterARefusal(t *testing.T) {
	env, b, home := signedInAccount(t, "acr_steps", "13766660011")
	const sent, goes = "验证码已发送至", "验证码发送到"

	code := b.accountPost(home, "/account/code", url.Values{"step": {"unbind"}})
	require.Contains(t, code.body, sent)
	for _, tc := range []struct {
		name   string
		answer func() page
	}{
		{"a wrong code", func() page { return b.accountPost(code, "/account/unbind", url.Values{"code": {"000000"}}) }},
		{"a resend too soon", func() page {
			return b.accountPost(code, "/account/code", url.Values{"step": {"unbind"}, "resend": {"1"}})
		}},
		{"a wrong code for a new WeChat account", func() page {
			return b.accountPost(code, "/account/replace", url.Values{"code": {"000000"}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.answer()
			require.Contains(t, p.body, `id="account-error"`)
			require.Contains(t, p.body, sent)
			require.NotContains(t, p.body, goes)
		})
	}
	t.Run("the code step shown by itself cannot tell", func(t *testing.T) {
		p := b.get(env.base + "/account/?step=unbind")
		require.Contains(t, p.body, goes)
	})

	t.Run("the new number's code step after a wrong code", func(t *testing.T) {
		env.clock.Advance(2 * time.Minute)
		phoneCode := b.accountPost(home, "/account/code", url.Values{"step": {"phone"}, "phone": {"13766660012"}})
		require.Contains(t, phoneCode.body, sent)
		p := b.accountPost(phoneCode, "/account/phone", url.Values{"phone": {"+8613766660012"}, "code": {"000000"}})
		require.Contains(t, p.body, sent)
		require.NotContains(t, p.body, goes)
	})

	t.Run("a refused number is marked and tied to the error", func(t *testing.T) {
		p := b.accountPost(home, "/account/code", url.Values{"step": {"phone"}, "phone": {"12"}})
		require.Equal(t, http.StatusBadRequest, p.status)
		require.Regexp(t, `<input id="phone"[^>]* aria-invalid="true"[^>]* aria-describedby="phone-hint account-error"`, p.body)
		require.Contains(t, p.body, `<p id="account-error"`)
		form := b.get(env.base + "/account/?step=phone")
		require.NotContains(t, form.body, `aria-invalid`)
		require.Contains(t, form.body, `aria-describedby="phone-hint"`)
	})
}
