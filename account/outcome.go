package account

import (
	"errors"
	"net/http"
	"time"

	"wxcas/journey"
)

// Outcome is how the account page and the JSON API report a refused
// change: a stable code (the JSON API's error code and the catalogue key of
// the page's message) and the HTTP status.
type Outcome struct {
	Code         string
	Status       int
	AttemptsLeft *int          // wrong_code
	RetryAfter   time.Duration // rate_limited, sms_budget_exhausted
}

// Codes of the account's own refusals; the code refusals (wrong_code,
// rate_limited, ...) are the login's (journey.Code).
var accountOutcomes = []struct {
	err    error
	code   string
	status int
}{
	{ErrNotBound, "not_bound", http.StatusConflict},
	{ErrPhoneManaged, "phone_managed", http.StatusConflict},
	{ErrPhoneTaken, "phone_taken", http.StatusConflict},
	{ErrSamePhone, "same_phone", http.StatusBadRequest},
	{ErrSameWeChat, "same_wechat", http.StatusConflict},
	{ErrPersonBound, "wechat_bound_elsewhere", http.StatusConflict},
	{ErrNoUser, "no_user", http.StatusNotFound},
	{ErrLoginTooOld, "fresh_login_required", http.StatusForbidden},
	{ErrRecentPhoneChange, "recent_phone_change", http.StatusConflict},
	{ErrNoReplacement, "replacement_expired", http.StatusBadRequest},
}

// OutcomeCodes lists every code OutcomeOf can give of its own (for
// catalogue checks).
func OutcomeCodes() []string {
	out := make([]string, 0, len(accountOutcomes))
	for _, o := range accountOutcomes {
		out = append(out, o.code)
	}
	return out
}

// OutcomeOf reports err as a refusal; ok is false for an internal error
// (the database, a bug), which callers answer with a generic 5xx.
func OutcomeOf(err error) (o Outcome, ok bool) {
	for _, a := range accountOutcomes {
		if errors.Is(err, a.err) {
			return Outcome{Code: a.code, Status: a.status}, true
		}
	}
	if e := journey.Outcome(err); e != nil {
		return Outcome{Code: string(e.Code), Status: e.Code.Status(), AttemptsLeft: e.AttemptsLeft, RetryAfter: e.RetryAfter}, true
	}
	return Outcome{}, false
}
