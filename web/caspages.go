package web

import (
	"net/http"

	"wxcas/cas"
)

// CASPages renders the CAS server's pages with wxcas's templates.
type CASPages struct{ Pages *Pages }

var _ cas.Pages = CASPages{}

// casReasons maps the CAS server's error reasons to catalogued text.
var casReasons = map[string][2]string{
	cas.ReasonServiceMissing:    {"service_missing_title", "service_missing"},
	cas.ReasonServiceInvalid:    {"service_unknown_title", "service_invalid"},
	cas.ReasonServiceUnknown:    {"service_unknown_title", "service_unknown"},
	cas.ReasonMethodUnsupported: {"error_title", "method_unsupported"},
	cas.ReasonLoginUnavailable:  {"error_title", "login_unavailable"},
	cas.ReasonPrincipalInvalid:  {"error_title", "principal_invalid"},
	cas.ReasonInternal:          {"error_title", "error_internal"},
	// The OpenID provider's: an authorization request that is gone.
	"authorization_expired":   {"error_title", "authorization_expired"},
	"authorization_invalid":   {"service_unknown_title", "authorization_invalid"},
	"authorization_malformed": {"error_title", "authorization_malformed"},
	"logout_invalid":          {"error_title", "logout_invalid"},
	"too_many_requests":       {"error_title", "error_too_many"},
}

// Error implements cas.Pages.
func (p CASPages) Error(w http.ResponseWriter, r *http.Request, status int, reason string) {
	keys, ok := casReasons[reason]
	if !ok {
		keys = [2]string{"error_title", "error_internal"}
	}
	if status == http.StatusServiceUnavailable && reason == cas.ReasonInternal {
		// The database is away for a moment: say so, not "a problem
		// on our side, contact the administrator".
		keys[1] = "error_unavailable"
	}
	_ = p.Pages.Error(w, r, status, keys[0], keys[1], "")
}

// LoggedOut implements cas.Pages.
func (p CASPages) LoggedOut(w http.ResponseWriter, r *http.Request, back *cas.ServiceLink) {
	d := InfoPage{TitleKey: "logged_out_title", MessageKey: "logged_out"}
	if back != nil {
		d.BackURL, d.BackName = back.URL, back.Name
	}
	_ = p.Pages.Info(w, r, http.StatusOK, d)
}

// LoggedIn implements cas.Pages.
func (p CASPages) LoggedIn(w http.ResponseWriter, r *http.Request, principalID string) {
	_ = p.Pages.Info(w, r, http.StatusOK, InfoPage{TitleKey: "logged_in_title", MessageKey: "logged_in", Detail: principalID,
		LogoutURL: p.Pages.base + "/cas/logout"})
}

// PostRedirect implements cas.Pages (CAS method=POST).
func (p CASPages) PostRedirect(w http.ResponseWriter, r *http.Request, action string, fields map[string]string) {
	_ = p.Pages.PostRedirect(w, r, http.StatusOK, PostRedirectPage{Action: action, Fields: fields})
}
