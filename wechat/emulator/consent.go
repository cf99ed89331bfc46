package emulator

import (
	"net/http"
	"net/url"
	"strings"
)

// PersonCookie names the cookie, on the emulator's origin, that says which
// WeChat account the browser's "phone WeChat" is signed in to. Real WeChat
// knows its user without asking; with this cookie the Official Account
// pages behave the same: snsapi_base is silent and snsapi_userinfo asks
// only until the person has consented for that app.
const PersonCookie = "wxemu_person"

const (
	msgSignedIn  = "已登录模拟微信 / Signed in to the simulated WeChat"
	msgSignedOut = "已退出模拟微信 / Signed out of the simulated WeChat"
	msgBadNext   = "next 必须是模拟器上的路径 / next must be a path on the emulator"
)

// signedIn returns the person named by the cookie, if it names a valid one.
func signedIn(r *http.Request) (string, bool) {
	c, err := r.Cookie(PersonCookie)
	if err != nil {
		return "", false
	}
	name, err := url.PathUnescape(c.Value)
	if err != nil || checkName(name) != nil {
		return "", false
	}
	return name, true
}

// setPersonCookie signs the browser in as name; an empty name signs it out.
// The name is path-escaped: names may hold spaces, quotes or semicolons.
func setPersonCookie(w http.ResponseWriter, r *http.Request, name string) {
	c := &http.Cookie{
		Name: PersonCookie, Value: url.PathEscape(name), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		// Secure only where the emulator is reached over TLS itself: the
		// tests and a local sandbox serve it over plain http.
		Secure: r.TLS != nil,
	}
	if name == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

func consentKey(appID, person string) string { return appID + "|" + person }

// Consent records that person has approved snsapi_userinfo for the app, so
// that a signed-in browser is no longer asked (unless forcePopup=true).
func (e *Emulator) Consent(appID, person string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.consents[consentKey(appID, person)] = true
}

// Consented tells whether person has approved snsapi_userinfo for the app.
func (e *Emulator) Consented(appID, person string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.consents[consentKey(appID, person)]
}

// ConsentPages returns how many consent or user-picker pages were shown
// for the app's authorize requests (GET; a page shown again after a form
// error is not counted).
func (e *Emulator) ConsentPages(appID string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.consentPages[appID]
}

// Authorizations returns how many valid authorize requests (GET, past the
// checks that end on an error page) arrived for the app.
func (e *Emulator) Authorizations(appID string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.authorizations[appID]
}

func (e *Emulator) count(m map[string]int, appID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m[appID]++
}

type consentPage struct {
	pageBase
	AppID        string
	Kind         Kind
	Scope        string
	RedirectHost string
	Ticket       string
	Person       Person
	SwitchURL    string
}

// renderConsentPage asks the signed-in person to approve snsapi_userinfo:
// no user picker, since the phone's WeChat knows who it is.
func (e *Emulator) renderConsentPage(w http.ResponseWriter, r *http.Request, req *authRequest, ticket string) {
	e.mu.Lock()
	p, err := e.personLocked(req.person)
	var person Person
	if err == nil {
		person = *p
	}
	e.mu.Unlock()
	host := ""
	if u, err := url.Parse(req.redirectURI); err == nil {
		host = u.Host
	}
	// The switch link leads to the sign-out helper and back here; it is
	// relative so that it works under any mount prefix.
	back := PathOAuth2Authorize + "?" + r.URL.RawQuery
	e.pages.render(w, http.StatusOK, "consent.html", consentPage{
		pageBase: pageBase{Banner, "模拟微信网页授权 / Simulated WeChat authorization"},
		AppID:    req.app.AppID, Kind: req.app.Kind, Scope: req.scope, RedirectHost: host,
		Ticket: ticket, Person: person,
		SwitchURL: "../.." + PathSandboxSignOut + "?next=" + url.QueryEscape(back),
	})
}

type signPage struct {
	pageBase
	Message string
	Person  string
}

// GET /_sandbox/signin?user=NAME[&next=/path]
//
// Signs this browser's simulated WeChat in as NAME (created if new), then
// answers a short page, or a 303 to next when next is a path on the
// emulator (the mount prefix is added).
func (e *Emulator) handleSignIn(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		e.errorPage(w, http.StatusMethodNotAllowed, msgBadForm)
		return
	}
	q := r.URL.Query()
	name := strings.TrimSpace(q.Get("user"))
	next, ok := localPath(q.Get("next"))
	if !ok {
		e.errorPage(w, http.StatusBadRequest, msgBadNext)
		return
	}
	e.mu.Lock()
	_, err := e.personLocked(name)
	e.mu.Unlock()
	if err != nil {
		e.errorPage(w, http.StatusBadRequest, msgPickUser)
		return
	}
	setPersonCookie(w, r, name)
	e.signDone(w, r, next, msgSignedIn, name)
}

// GET /_sandbox/signout[?next=/path]
func (e *Emulator) handleSignOut(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		e.errorPage(w, http.StatusMethodNotAllowed, msgBadForm)
		return
	}
	next, ok := localPath(r.URL.Query().Get("next"))
	if !ok {
		e.errorPage(w, http.StatusBadRequest, msgBadNext)
		return
	}
	setPersonCookie(w, r, "")
	e.signDone(w, r, next, msgSignedOut, "")
}

func (e *Emulator) signDone(w http.ResponseWriter, r *http.Request, next, msg, person string) {
	if next != "" {
		http.Redirect(w, r, mountPrefix(r)+next, http.StatusSeeOther)
		return
	}
	e.pages.render(w, http.StatusOK, "signin.html", signPage{pageBase{Banner, "模拟微信 / Simulated WeChat"}, msg, person})
}

// localPath accepts "" or a path on the emulator ("/connect/..."), never an
// absolute or scheme-relative URL, so next cannot lead elsewhere.
func localPath(next string) (string, bool) {
	if next == "" {
		return "", true
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" ||
		!strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "", false
	}
	return next, true
}

// mountPrefix is the path the emulator is mounted under (what
// http.StripPrefix removed), found by comparing the original request URI
// with the path the emulator sees.
func mountPrefix(r *http.Request) string {
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil || !strings.HasSuffix(u.Path, r.URL.Path) {
		return ""
	}
	return strings.TrimSuffix(u.Path[:len(u.Path)-len(r.URL.Path)], "/")
}
