package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/api"
	"wxcas/otp/otptest"
	"wxcas/store"
	"wxcas/store/storetest"
)

// TestSMSCodeBelongsToItsChain: an SMS code belongs to the binding (the
// journey behind a bind-token chain) that asked for it (issue 11 item 5).
// Another binding aimed at the same phone can neither use it nor burn it,
// and typos cost no attempt.
func TestSMSCodeBelongsToItsChain(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		t.Run("the victim's code does not bind another chain", func(t *testing.T) {
			e := newEnv(t, db, envOpts{})
			const phone = "13600136001"
			// The attacker's chain has a code step for the phone first.
			attacker := e.login(mini, e.jsCode("mallory1"), api.StatusBindingRequired)
			aNext, _ := e.sendCode(attacker.BindToken, phone)
			e.clock.Advance(time.Minute) // the per-phone cooldown
			victim := e.login(mobile, e.appCode("victim1"), api.StatusBindingRequired)
			vNext, code := e.sendCode(victim.BindToken, phone)

			r := e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: aNext, Code: code})
			require.NotEqual(t, http.StatusOK, r.Status, "the attacker must not be bound to the victim's phone: %s", r.Raw)
			requireError(t, r, http.StatusBadRequest, api.CodeWrongCode)

			r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: vNext, Code: code})
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
			require.Equal(t, api.StatusLoggedIn, r.OK.Status)
		})

		t.Run("another chain's wrong guesses do not burn the victim's code", func(t *testing.T) {
			e := newEnv(t, db, envOpts{})
			const phone = "13600136002"
			victim := e.login(mobile, e.appCode("victim2"), api.StatusBindingRequired)
			vNext, code := e.sendCode(victim.BindToken, phone)
			e.clock.Advance(time.Minute)
			attacker := e.login(mini, e.jsCode("mallory2"), api.StatusBindingRequired)
			aNext, theirs := e.sendCode(attacker.BindToken, phone)

			wrong := otptest.Wrong(code)
			if wrong == theirs {
				wrong = otptest.Wrong(wrong)
			}
			var r result
			for left := 4; left >= 0; left-- {
				r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: aNext, Code: wrong})
				want := api.CodeWrongCode
				if left == 0 {
					want = api.CodeTooManyAttempts // the guess that burns the code says so
				}
				requireError(t, r, http.StatusBadRequest, want)
				require.Equal(t, left, *r.Err.AttemptsLeft, "the attacker spends the attempts of their own code")
			}
			r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: aNext, Code: theirs})
			requireError(t, r, http.StatusBadRequest, api.CodeTooManyAttempts)

			r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: vNext, Code: code})
			require.Equal(t, http.StatusOK, r.Status, "the victim's code survives: %s", r.Raw)
			require.Equal(t, api.StatusLoggedIn, r.OK.Status)
		})

		t.Run("a chain without a code step gets no_code, not someone else's code", func(t *testing.T) {
			e := newEnv(t, db, envOpts{})
			const phone = "13600136003"
			victim := e.login(mobile, e.appCode("victim3"), api.StatusBindingRequired)
			vNext, code := e.sendCode(victim.BindToken, phone)
			// The same person's earlier chain, or any other, holds no code.
			other := e.login(mini, e.jsCode("victim3"), api.StatusBindingRequired)
			r := e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: other.BindToken, Code: code})
			requireError(t, r, http.StatusBadRequest, api.CodeNoCode)
			r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: vNext, Code: code})
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		})

		t.Run("typos are malformed_code and use no attempt", func(t *testing.T) {
			e := newEnv(t, db, envOpts{})
			const phone = "13600136004"
			start := e.login(mini, e.jsCode("typist4"), api.StatusBindingRequired)
			next, code := e.sendCode(start.BindToken, phone)
			typos := []string{"", "12ab56", "12345", "1234567", "abcdef", " 12 34 "}
			require.Greater(t, len(typos), e.codes.Config.MaxAttempts)
			for _, typo := range typos {
				r := e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: typo}, "Accept-Language", "en")
				requireError(t, r, http.StatusBadRequest, api.CodeMalformedCode)
				require.Nil(t, r.Err.AttemptsLeft, "%q", typo)
				require.Equal(t, "Enter the whole code from the text message, digits only. This try was not counted.", r.Err.Message)
			}
			r := e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: "12ab56"})
			require.Equal(t, "请完整输入短信中的数字验证码（只含数字）。本次输入不计入尝试次数。", r.Err.Message)
			r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: otptest.Wrong(code)})
			requireError(t, r, http.StatusBadRequest, api.CodeWrongCode)
			require.Equal(t, 4, *r.Err.AttemptsLeft, "the first real guess is the first attempt")
			r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: code})
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		})
	})
}
