package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/api"
	"wxcas/challenge/challengetest"
	"wxcas/i18n"
	"wxcas/otp"
	"wxcas/store"
	"wxcas/store/storetest"
)

// TestSMSSendChallenge: under the adaptive challenge, bind/sms/send answers
// challenge_required with the challenge; the app solves it and sends again
// with the same bind token and the solution as "altcha".
func TestSMSSendChallenge(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		cfg := otp.DefaultChallengeConfig()
		cfg.IPHour, cfg.IPUnconfirmed, cfg.PhoneHour, cfg.IdentityDay, cfg.GlobalHour = 1, 0, 0, 0, 0
		e := newEnv(t, db, envOpts{challenge: &cfg})

		first := e.login(mini, e.jsCode("alice"), api.StatusBindingRequired)
		e.sendCode(first.BindToken, "138 0013 8000") // below the threshold: no challenge

		second := e.login(mobile, e.appCode("bob"), api.StatusBindingRequired)
		asked := e.post("/bind/sms/send?lang=en", api.SMSSendRequest{BindToken: second.BindToken, Phone: "139 0013 9000"})
		requireError(t, asked, http.StatusForbidden, "challenge_required")
		// An app's people see no page with a check below it.
		require.Equal(t, "A security check is needed before a code can be sent.", asked.Err.Message)
		c := asked.Err.Challenge
		require.NotNil(t, c, "%s", asked.Raw)
		require.Equal(t, "SHA-256", c.Algorithm)
		require.Equal(t, cfg.Difficulty, c.MaxNumber)
		require.Zero(t, e.codes.Outbox.Count(otp.Phone("+8613900139000")), "nothing was sent")

		wrong := e.post("/bind/sms/send", api.SMSSendRequest{BindToken: second.BindToken, Phone: "139 0013 9000",
			Altcha: challengetest.Payload(*c, c.MaxNumber+1)})
		requireError(t, wrong, http.StatusForbidden, "challenge_failed")
		require.Equal(t, i18n.T(i18n.ZH, "api_challenge_failed"), wrong.Err.Message)
		require.NotNil(t, wrong.Err.Challenge)
		require.NotEqual(t, c.Challenge, wrong.Err.Challenge.Challenge, "a new challenge")

		solved := e.post("/bind/sms/send", api.SMSSendRequest{BindToken: second.BindToken, Phone: "139 0013 9000",
			Altcha: challengetest.Solve(*wrong.Err.Challenge)})
		require.Equal(t, http.StatusOK, solved.Status, "%s", solved.Raw)
		require.Equal(t, api.StatusCodeSent, solved.OK.Status)
		require.Equal(t, 1, e.codes.Outbox.Count(otp.Phone("+8613900139000")))

		// The solution was spent: the next step's token with it again is
		// asked for a new one (the address is still busy).
		again := e.post("/bind/sms/send", api.SMSSendRequest{BindToken: solved.OK.BindToken, Phone: "139 0013 9001",
			Altcha: challengetest.Solve(*wrong.Err.Challenge)})
		requireError(t, again, http.StatusForbidden, "challenge_failed")
	})
}
