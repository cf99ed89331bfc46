package web

import (
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/challenge"
	"wxcas/challenge/challengetest"
	"wxcas/otp"
	"wxcas/otp/otptest"
)

// pageChallenge is the challenge the page's widget carries, nil for none.
func pageChallenge(t *testing.T, p page) *challenge.Challenge {
	t.Helper()
	m := regexp.MustCompile(`challengejson="([^"]*)"`).FindStringSubmatch(p.Body)
	if m == nil {
		return nil
	}
	var c challenge.Challenge
	require.NoError(t, json.Unmarshal([]byte(html.UnescapeString(m[1])), &c))
	return &c
}

// TestChallengeOnThePages: a signal that shows only once the number is
// typed (a phone with codes this hour) refuses the send with
// challenge_required; the bind page comes back with the widget, and the
// send with its solution goes through. The code page's resend carries the
// widget as soon as a resend would need one.
func TestChallengeOnThePages(t *testing.T) {
	e := newEnv(t)
	cfg := otp.DefaultChallengeConfig()
	cfg.IPHour, cfg.IPUnconfirmed, cfg.PhoneHour, cfg.IdentityDay, cfg.GlobalHour = 0, 0, 1, 0, 0
	chal, err := challenge.New([]byte("web-test-challenge-key-0123456789ab"), challenge.SQLStore{DB: e.db}, e.clock.Now)
	require.NoError(t, err)
	e.codes.Svc.UseChallenges(chal, cfg)
	phone := otptest.Phone(71)

	// Someone else's login sent this number a code: the phone is busy.
	_, other := e.browser().toCodePage("olga", phone)
	require.NotNil(t, pageChallenge(t, other), "her resend would be the phone's second code this hour: the widget is already there")
	e.clock.Advance(otp.DefaultConfig().Cooldown) // past the cooldown: only the challenge stands in the way

	b := e.browser()
	id, p := b.toBindPage("paul")
	require.Nil(t, pageChallenge(t, p), "no number typed yet: nothing to ask")
	p = b.post(p, "/login/phone", "phone", string(phone))
	require.Equal(t, http.StatusSeeOther, p.Status)
	p = b.get(p.Location)
	require.Equal(t, http.StatusForbidden, p.Status)
	requireText(t, p, "bind_title")
	requireText(t, p, "challenge_required")
	c := pageChallenge(t, p)
	require.NotNil(t, c, "the page brings the challenge to solve")
	require.Contains(t, p.Body, `src="/static/altcha/altcha.js"`)
	require.Equal(t, 1, e.codes.Outbox.Count(phone), "nothing sent")

	p = b.post(p, "/login/phone", "phone", string(phone), "altcha", challengetest.Payload(*c, c.MaxNumber+1))
	p = b.get(p.Location)
	requireText(t, p, "challenge_failed")
	fresh := pageChallenge(t, p)
	require.NotNil(t, fresh)

	p = b.post(p, "/login/phone", "phone", string(phone), "altcha", challengetest.Solve(*fresh))
	require.Equal(t, flowPath(id), p.Location)
	p = b.get(p.Location)
	require.Equal(t, http.StatusOK, p.Status)
	requireText(t, p, "code_title")
	require.Equal(t, 2, e.codes.Outbox.Count(phone))
	c = pageChallenge(t, p)
	require.NotNil(t, c, "a resend to this busy phone needs one: the widget solves while the button counts down")
	requireText(t, p, "challenge_explain_resend")
	e.clock.Advance(otp.DefaultConfig().Cooldown)
	p = b.post(p, "/login/resend", "altcha", challengetest.Solve(*c))
	p = b.get(p.Location)
	requireText(t, p, "code_title")
	require.Equal(t, 3, e.codes.Outbox.Count(phone), "resent with the solution")
	landedOnService(t, b.post(p, "/login/code", "code", e.codes.Outbox.Last(phone)))
}
