package web

import (
	"encoding/json"

	"wxcas/challenge"
	"wxcas/i18n"
)

// ChallengeView is a proof-of-work challenge as a form shows it: the ALTCHA
// widget (static/altcha, vendored by scripts/vendor-altcha.sh) solves it in
// the browser and posts the solution as the form field "altcha". It starts
// solving as soon as the page loads, so a person who needs a moment to type
// their number usually finds it done.
type ChallengeView struct {
	JSON    string // the challenge, for the widget's challengejson attribute
	Strings string // the widget's text in the page's language
}

// challengeView prepares c for a page in lang; nil for no challenge.
func challengeView(lang string, c *challenge.Challenge) *ChallengeView {
	if c == nil {
		return nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil
	}
	keys := map[string]string{
		"label": "challenge_label", "verified": "challenge_verified", "verifying": "challenge_verifying",
		"waitAlert": "challenge_wait", "error": "challenge_error", "expired": "challenge_expired",
		"verificationRequired": "challenge_required_short",
	}
	strs := make(map[string]string, len(keys))
	for k, key := range keys {
		strs[k] = i18n.T(lang, key)
	}
	s, _ := json.Marshal(strs)
	return &ChallengeView{JSON: string(b), Strings: string(s)}
}

// countdownUnits is i18n.Units as JSON, for countdown.js.
func countdownUnits(lang string) string {
	b, _ := json.Marshal(i18n.Units(lang))
	return string(b)
}
