package main

// SMS codes belong to the login that asked for them (issue 11 item 5),
// checked over HTTP through the browser login flow with the sandbox's
// WeChat emulator and SMS inbox.

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFlowSMSCodeBelongsToItsLogin(t *testing.T) {
	// No resend cooldown, so that a second login can get its own code for
	// the same phone at once; every other SMS limit is as shipped.
	env := startFlowEnv(t, "otp: {resend_cooldown: 0s, challenge: {enabled: false}}\n" /* many sends from one address; the challenge has tests of its own */)

	// codeStep takes a new browser through WeChat as person and asks for a
	// code to phone; it returns the browser, the code page and the code.
	codeStep := func(t *testing.T, person, phone, e164 string) (*browser, page, string) {
		t.Helper()
		b := env.browser("")
		bind := b.get(b.scan(b.start(), person))
		p := b.post(bind, "/login/phone", url.Values{"phone": {phone}})
		require.Equal(t, http.StatusOK, p.status, "%s", p.body)
		return b, p, env.smsCode(e164)
	}
	// wrongFor returns a 6-digit code that is none of codes.
	wrongFor := func(codes ...string) string {
		for _, w := range []string{"000000", "111111", "222222"} {
			if w != codes[0] && w != codes[len(codes)-1] {
				return w
			}
		}
		panic("unreachable")
	}

	t.Run("the victim's code does not log in another login aimed at the phone", func(t *testing.T) {
		// The attacker's login reaches the code step first; then the
		// victim asks for a code and (tricked) reads it out.
		attacker, aCode, _ := codeStep(t, "mallory1", "13100131001", "+8613100131001")
		victim, vCode, code := codeStep(t, "victim1", "13100131001", "+8613100131001")

		p := attacker.post(aCode, "/login/code", url.Values{"code": {code}})
		require.Equal(t, http.StatusBadRequest, p.status, "the attacker must not be bound to the victim's phone: %+v", p)
		require.Empty(t, p.location)

		done := victim.post(vCode, "/login/code", url.Values{"code": {code}})
		require.Equal(t, http.StatusSeeOther, done.status, "%+v", done)
		ticketOf(t, done)
	})

	t.Run("another login's wrong guesses do not burn the victim's code", func(t *testing.T) {
		victim, vCode, code := codeStep(t, "victim2", "13100131002", "+8613100131002")
		attacker, aCode, theirs := codeStep(t, "mallory2", "13100131002", "+8613100131002")

		wrong := wrongFor(code, theirs)
		var last page
		for range 5 {
			last = attacker.post(aCode, "/login/code", url.Values{"code": {wrong}})
			require.Equal(t, http.StatusBadRequest, last.status)
		}
		require.Contains(t, last.body, "错误次数过多", "the guesses burn only the attacker's own code")

		done := victim.post(vCode, "/login/code", url.Values{"code": {code}})
		require.Equal(t, http.StatusSeeOther, done.status, "the victim's code survives: %+v", done)
		ticketOf(t, done)

		p := attacker.post(aCode, "/login/code", url.Values{"code": {theirs}})
		require.Equal(t, http.StatusBadRequest, p.status)
		require.Contains(t, p.body, "错误次数过多")
	})

	t.Run("typos use no attempt", func(t *testing.T) {
		b, codePage, code := codeStep(t, "typist", "13100131003", "+8613100131003")
		typos := []string{"", "12ab56", "12345", "1234567", " 12 34 ", "abcdef"}
		require.Greater(t, len(typos), 5, "more typos than attempts")
		for _, typo := range typos {
			p := b.post(codePage, "/login/code", url.Values{"code": {typo}})
			require.Equal(t, http.StatusBadRequest, p.status, "%q", typo)
			require.Contains(t, p.body, "请完整输入短信中的数字验证码", "%q", typo)
			require.NotContains(t, p.body, "还可尝试", "%q: no attempt count for a typo", typo)
		}
		p := b.post(codePage, "/login/code", url.Values{"code": {wrongFor(code)}})
		require.Contains(t, p.body, "还可尝试 4 次", "the first real guess is the first attempt")
		done := b.post(codePage, "/login/code", url.Values{"code": {code}})
		require.Equal(t, http.StatusSeeOther, done.status, "%+v", done)
		ticketOf(t, done)
	})

	t.Run("typo message in English", func(t *testing.T) {
		b, codePage, _ := codeStep(t, "typist-en", "13100131004", "+8613100131004")
		form := url.Values{"code": {"12ab56"}, "_csrf": {csrfField.FindStringSubmatch(codePage.body)[1]}, "flow": {flowField.FindStringSubmatch(codePage.body)[1]}}
		p := b.do(http.MethodPost, env.base+"/login/code?lang=en", form)
		require.Equal(t, http.StatusBadRequest, p.status)
		require.Contains(t, p.body, "Enter the whole code from the text message, digits only.")
	})
}
