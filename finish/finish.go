// Package finish is the login's finish line: what is issued once a journey
// (package journey) ends with a person. Wiring chooses a Finisher per
// transport — the CAS server's SSO session and service ticket, the Apereo
// token hand-off, the JSON API's CAS session (and next, an OAuth
// authorization code) — so the journey knows none of them, cas knows
// nothing of the pages, and login nothing of CAS.
package finish

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"wxcas/apereo"
	"wxcas/cas"
	"wxcas/journey"
)

// Principal is the CAS principal of a person logged in with WeChat. The
// attributes are offered to services, which release only those listed in
// their registry entry.
func Principal(p *journey.Person) cas.Principal {
	u := p.User
	attrs := map[string][]string{
		"userId":       {u.ID},
		"phone":        {u.Phone},
		"loginChannel": {"wechat"},
	}
	if p.Account.Nickname != "" {
		attrs["nickname"] = []string{p.Account.Nickname}
	}
	if p.Account.UnionID != "" {
		attrs["wechatUnionId"] = []string{p.Account.UnionID}
	}
	for k, v := range u.Attributes {
		attrs[k] = []string{v}
	}
	principal := u.Principal
	if principal == "" {
		principal = u.ID
	}
	return cas.Principal{ID: principal, Attributes: attrs, AuthenticatedAt: p.AuthenticatedAt}
}

// UserID is the directory user of a principal Principal made: the userId
// attribute (the principal id may be the directory's own name for the
// person instead). A principal without it is named by its id.
func UserID(p cas.Principal) string {
	if v := p.Attributes["userId"]; len(v) > 0 && v[0] != "" {
		return v[0]
	}
	return p.ID
}

// CASReturn is what a browser journey started by /cas/login keeps in
// Journey.Return: the CAS login request. It is written without HTML
// escaping: json.Marshal would turn every & < > of the service URL into a
// six-byte \u0026, so a query string of &s would take six times its size in
// every journey row (the row is never put into a page).
func CASReturn(req cas.LoginRequest) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(req) // plain strings and bools: cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

// CASRequest reads CASReturn back.
func CASRequest(j *journey.Journey) (cas.LoginRequest, error) {
	var req cas.LoginRequest
	if err := json.Unmarshal([]byte(j.Return), &req); err != nil {
		return cas.LoginRequest{}, fmt.Errorf("finish: journey %s holds no CAS login request: %w", shortID(j.ID), err)
	}
	return req, nil
}

func shortID(id string) string { return id[:min(8, len(id))] }

// CAS finishes a browser journey on wxcas's own CAS server: SSO session,
// cookie, and the redirect to the service with a service ticket.
type CAS struct{ Server *cas.Server }

// Finish implements journey.Finisher.
func (f CAS) Finish(w http.ResponseWriter, r *http.Request, j *journey.Journey, p *journey.Person) error {
	req, err := CASRequest(j)
	if err != nil {
		return err
	}
	return f.Server.CompleteLogin(w, r, req, Principal(p))
}

// Apereo finishes a browser journey by handing the login to an Apereo CAS
// server with a short-lived signed token; Apereo creates the SSO session
// and the ticket.
type Apereo struct {
	Minter *apereo.Minter
	// Pages shows why a hand-off could not be made.
	Pages cas.Pages
}

// Finish implements journey.Finisher.
func (f Apereo) Finish(w http.ResponseWriter, r *http.Request, j *journey.Journey, p *journey.Person) error {
	req, err := CASRequest(j)
	if err != nil {
		return err
	}
	if err := f.Minter.Redirect(w, r, req.ServiceID, req.ServiceURL, Principal(p)); err != nil {
		// Redirect writes nothing when it fails.
		f.Pages.Error(w, r, http.StatusBadRequest, cas.ReasonPrincipalInvalid)
		return err
	}
	return nil
}

// Sessions starts CAS SSO sessions for clients without a browser;
// *cas.Server is one.
type Sessions interface {
	CreateSession(ctx context.Context, p cas.Principal) (tgtID string, expiresAt time.Time, err error)
}

// Session finishes a JSON API journey: a CAS SSO session whose TGT the app
// then spends at the CAS REST endpoint, answered as {"status":"logged_in"}.
type Session struct{ Sessions Sessions }

// LoggedIn is the JSON API's answer to a finished login (docs/api.md).
type LoggedIn struct {
	Status       string `json:"status"` // "logged_in"
	TGT          string `json:"tgt"`
	TGTExpiresAt string `json:"tgt_expires_at"`
	UserID       string `json:"user_id"`
}

// Finish implements journey.Finisher.
func (f Session) Finish(w http.ResponseWriter, r *http.Request, _ *journey.Journey, p *journey.Person) error {
	tgt, expires, err := f.Sessions.CreateSession(r.Context(), Principal(p))
	if err != nil {
		return err // nothing written: the API answers with its error
	}
	b, err := json.Marshal(LoggedIn{Status: "logged_in", TGT: tgt, TGTExpiresAt: expires.UTC().Format(time.RFC3339), UserID: p.User.ID})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(append(b, '\n'))
	return err
}
