package emulator

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

// Banner is the warning shown on every emulator page.
const Banner = "SANDBOX — not real WeChat / 沙箱环境（非真实微信）"

// Messages of the error pages. The scope one is WeChat's own text.
const (
	msgBadAppID       = "appid 参数错误 / Invalid appid"
	msgScope          = "Scope 参数错误或没有 Scope 权限 / Invalid scope or no permission for this scope"
	msgResponseType   = "response_type 参数错误 / Invalid response_type"
	msgBadRedirect    = "redirect_uri 参数错误 / Invalid redirect_uri"
	msgRedirectDomain = "redirect_uri 域名与后台配置不一致 / redirect_uri does not match the configured callback domain"
	msgLinkBlocked    = "该链接无法访问 / This link cannot be opened (redirect_uri domain not configured)"
	msgTicket         = "授权请求已失效，请重新发起 / This authorization request has expired; please start again"
	msgBadForm        = "请求无效 / Invalid request"
	msgPickUser       = "请选择或新建一个测试用户 / Pick or create a test user"
)

type pages struct{ t *template.Template }

func newPages() (*pages, error) {
	t, err := template.New("").ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"phone.html", "consent.html", "signin.html", "error.html", "refused.html", "index.html"} {
		if t.Lookup(name) == nil {
			return nil, &missingTemplateError{name}
		}
	}
	return &pages{t: t}, nil
}

type missingTemplateError struct{ name string }

func (e *missingTemplateError) Error() string { return "emulator: missing template " + e.name }

// render executes into a buffer so a failing template still gives a clean 500.
func (p *pages) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "emulator: template error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type pageBase struct {
	Banner string
	Title  string
}

type errorPage struct {
	pageBase
	Message string
}

func (e *Emulator) errorPage(w http.ResponseWriter, status int, msg string) {
	e.pages.render(w, status, "error.html", errorPage{pageBase{Banner, "错误 / Error"}, msg})
}

// authRequest is a validated authorization request waiting on the phone page.
type authRequest struct {
	oa          bool
	app         *App
	redirectURI string
	scope       string
	state       string
	targetTop   bool // inline QR (wxLogin.js iframe) that moves the top window
	expires     time.Time
	// component is the platform of a component authorization (its
	// callback also carries appid).
	component string
	// person, when set, is the signed-in person of a consent page: the
	// form approves as that person, never as one the form names.
	person string
}

// validateAuthorize checks an authorize request like WeChat: a bad request
// ends on an error page and never redirects.
func (e *Emulator) validateAuthorize(q url.Values, oa bool) (*authRequest, string) {
	app := e.apps[q.Get("appid")]
	if app == nil {
		return nil, msgBadAppID
	}
	scope := q.Get("scope")
	if oa {
		if app.Kind != KindOfficialAccount || (scope != "snsapi_base" && scope != "snsapi_userinfo") {
			return nil, msgScope
		}
	} else if app.Kind != KindWebsite || !hasScope(scope, "snsapi_login") {
		return nil, msgScope
	}
	// An account served through a platform is authorized only through it
	// (and only while it authorizes the platform); any other app has no
	// business with component_appid.
	component := q.Get("component_appid")
	if component != app.ComponentAppID {
		return nil, msgComponent
	}
	if component != "" {
		e.mu.Lock()
		ok := e.authorized[app.AppID]
		e.mu.Unlock()
		if !ok {
			return nil, msgNotAuthorized
		}
	}
	if q.Get("response_type") != "code" && q.Get("login_type") != "jssdk" {
		// wxLogin.js's iframe URL carries no response_type.
		return nil, msgResponseType
	}
	u, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, msgBadRedirect
	}
	if app.CallbackDomain != "" && !strings.EqualFold(u.Hostname(), app.CallbackDomain) {
		if oa {
			return nil, msgRedirectDomain
		}
		return nil, msgLinkBlocked
	}
	return &authRequest{
		oa: oa, app: app, redirectURI: q.Get("redirect_uri"), scope: scope, state: q.Get("state"),
		targetTop: !oa && q.Get("login_type") == "jssdk" && q.Get("self_redirect") != "true",
		component: component,
	}, ""
}

// handleAuthorize serves /connect/qrconnect and /connect/oauth2/authorize:
// GET shows the phone page (or acts at once for sandbox_user /
// sandbox_refuse, or for a signed-in browser on the Official Account
// page), POST takes the page's answer.
func (e *Emulator) handleAuthorize(w http.ResponseWriter, r *http.Request, oa bool) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		e.handleConsent(w, r)
		return
	default:
		w.Header().Set("Allow", "GET, POST")
		e.errorPage(w, http.StatusMethodNotAllowed, msgBadForm)
		return
	}
	q := r.URL.Query()
	req, msg := e.validateAuthorize(q, oa)
	if msg != "" {
		e.errorPage(w, http.StatusBadRequest, msg)
		return
	}
	e.count(e.authorizations, req.app.AppID)
	if q.Get("sandbox_refuse") == "1" {
		e.refuse(w, r, req)
		return
	}
	// The script shortcut stands outside the phone: it neither reads nor
	// sets the sign-in cookie and records no consent.
	if name := q.Get("sandbox_user"); name != "" {
		e.approve(w, r, req, name, q.Get("sandbox_snapshot") == "1")
		return
	}
	if person, ok := signedIn(r); ok && oa {
		// WeChat's own behaviour: snsapi_base never asks; snsapi_userinfo
		// asks until the person has consented, or when forcePopup=true.
		if req.scope == "snsapi_base" ||
			(e.Consented(req.app.AppID, person) && !strings.EqualFold(q.Get("forcePopup"), "true")) {
			e.approve(w, r, req, person, false)
			return
		}
		req.person = person
		ticket := e.newTicket(req)
		e.count(e.consentPages, req.app.AppID)
		e.renderConsentPage(w, r, req, ticket)
		return
	}
	ticket := e.newTicket(req)
	e.count(e.consentPages, req.app.AppID)
	e.renderPhone(w, http.StatusOK, req, ticket, "")
}

// newTicket stores the validated request for the page's form.
func (e *Emulator) newTicket(req *authRequest) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ticket := randomToken()
	req.expires = e.now().Add(TicketTTL)
	e.tickets[ticket] = req
	e.expiry.add("ticket", ticket, req.expires)
	return ticket
}

type phonePage struct {
	pageBase
	OA           bool
	AppID        string
	Kind         Kind
	Scope        string
	UserInfo     bool
	RedirectHost string
	Ticket       string
	TargetTop    bool
	Persons      []Person
	Error        string
}

func (e *Emulator) renderPhone(w http.ResponseWriter, status int, req *authRequest, ticket, errMsg string) {
	title := "模拟微信扫码 / Simulated WeChat scan"
	if req.oa {
		title = "模拟微信网页授权 / Simulated WeChat authorization"
	}
	host := ""
	if u, err := url.Parse(req.redirectURI); err == nil {
		host = u.Host
	}
	e.mu.Lock()
	persons := e.personsLocked()
	e.mu.Unlock()
	e.pages.render(w, status, "phone.html", phonePage{
		pageBase: pageBase{Banner, title}, OA: req.oa, AppID: req.app.AppID, Kind: req.app.Kind,
		Scope: req.scope, UserInfo: req.scope == "snsapi_userinfo", RedirectHost: host,
		Ticket: ticket, TargetTop: req.targetTop, Persons: persons, Error: errMsg,
	})
}

// handleConsent takes the phone page's form. The random single-use ticket
// stands for the validated request (redirect_uri cannot be changed by the
// form) and works as the CSRF token.
func (e *Emulator) handleConsent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		e.errorPage(w, http.StatusBadRequest, msgBadForm)
		return
	}
	f := r.PostForm
	ticket := f.Get("ticket")
	e.mu.Lock()
	req := e.tickets[ticket]
	valid := req != nil && e.now().Before(req.expires)
	e.mu.Unlock()
	if !valid {
		e.errorPage(w, http.StatusBadRequest, msgTicket)
		return
	}
	switch f.Get("action") {
	case "refuse":
		e.dropTicket(ticket)
		e.refuse(w, r, req)
	case "approve":
		name := req.person
		if name == "" {
			name = strings.TrimSpace(f.Get("new_user"))
		}
		if name == "" {
			name = f.Get("user")
		}
		if name == "" || checkName(name) != nil {
			e.renderPhone(w, http.StatusBadRequest, req, ticket, msgPickUser)
			return
		}
		e.dropTicket(ticket)
		snapshot := f.Get("snapshot") == "1"
		code, ok := e.issueForPage(w, req, name, snapshot)
		if !ok {
			return
		}
		if req.oa {
			// The phone's WeChat is now this person's; an approval of
			// snsapi_userinfo is remembered, unless it was a snapshot-page
			// one, which is no consent at all.
			if req.person == "" {
				setPersonCookie(w, r, name)
			}
			if req.scope == "snsapi_userinfo" && !snapshot {
				e.Consent(req.app.AppID, name)
			}
		}
		e.redirectCode(w, r, req, code)
	default:
		e.errorPage(w, http.StatusBadRequest, msgBadForm)
	}
}

func (e *Emulator) dropTicket(t string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.tickets, t)
}

func (e *Emulator) approve(w http.ResponseWriter, r *http.Request, req *authRequest, name string, snapshot bool) {
	if code, ok := e.issueForPage(w, req, name, snapshot); ok {
		e.redirectCode(w, r, req, code)
	}
}

// issueForPage issues the code of an approval, or answers an error page.
func (e *Emulator) issueForPage(w http.ResponseWriter, req *authRequest, name string, snapshot bool) (string, bool) {
	code, err := e.issueOAuth(req.app.AppID, name, req.scope, snapshot)
	switch {
	case errors.Is(err, errNotAuthorized):
		// Withdrawn while the page was open.
		e.errorPage(w, http.StatusBadRequest, msgNotAuthorized)
		return "", false
	case err != nil:
		e.errorPage(w, http.StatusBadRequest, msgPickUser)
		return "", false
	}
	return code, true
}

// redirectCode sends the browser back to the app with the code.
func (e *Emulator) redirectCode(w http.ResponseWriter, r *http.Request, req *authRequest, code string) {
	kv := []string{"code", code, "state", req.state}
	if req.component != "" {
		// A component authorization names the authorizer in its callback.
		kv = append(kv, "appid", req.app.AppID)
	}
	http.Redirect(w, r, appendQuery(req.redirectURI, kv...), http.StatusFound)
}

func (e *Emulator) refuse(w http.ResponseWriter, r *http.Request, req *authRequest) {
	if e.opts.RefuseWithoutRedirect {
		e.pages.render(w, http.StatusOK, "refused.html", pageBase{Banner, "已拒绝 / Refused"})
		return
	}
	http.Redirect(w, r, appendQuery(req.redirectURI, "state", req.state), http.StatusFound)
}

// appendQuery adds key/value pairs after any existing query, joining with
// "?" or "&" and keeping the existing parameters and their order.
func appendQuery(rawURL string, kv ...string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	if u.RawQuery == "" {
		u.RawQuery = b.String()
	} else {
		u.RawQuery += "&" + b.String()
	}
	u.ForceQuery = false
	return u.String()
}

type indexPage struct {
	pageBase
	Apps      []App
	Platforms []platformView
	Persons   []Person
	SignedIn  string
}

// platformView is what the index shows of a platform: no secret, token or
// key, and no ticket.
type platformView struct {
	ComponentAppID string
	EventURL       string
	Authorizers    []authorizerView
	LastPush       string
}

type authorizerView struct {
	AppID      string
	Authorized bool
}

func (e *Emulator) handleIndex(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		e.errorPage(w, http.StatusMethodNotAllowed, msgBadForm)
		return
	}
	apps := make([]App, 0, len(e.opts.Apps))
	for _, a := range e.opts.Apps {
		a.Secret = ""
		apps = append(apps, a)
	}
	signed, _ := signedIn(r)
	e.pages.render(w, http.StatusOK, "index.html", indexPage{
		pageBase: pageBase{Banner, "WeChat 模拟器 / WeChat emulator"}, Apps: apps,
		Platforms: e.platformViews(), Persons: e.Persons(), SignedIn: signed,
	})
}

func (e *Emulator) platformViews() []platformView {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []platformView
	for _, p := range e.opts.Platforms {
		v := platformView{ComponentAppID: p.ComponentAppID, EventURL: p.EventURL, LastPush: "—"}
		for _, a := range e.opts.Apps {
			if a.ComponentAppID == p.ComponentAppID {
				v.Authorizers = append(v.Authorizers, authorizerView{a.AppID, e.authorized[a.AppID]})
			}
		}
		if t := e.verifyTickets[e.newestTicket[p.ComponentAppID]]; t != nil {
			v.LastPush = t.pushed.UTC().Format(time.RFC3339)
		}
		out = append(out, v)
	}
	return out
}

// POST /_sandbox/code  appid, sandbox_user, type=oauth|js|phone, scope, snapshot=1
//
// Lets a script get a code for a mini program or mobile app login, which
// has no browser page. Answers {"code":"..."} or HTTP 400 {"error":"..."}.
func (e *Emulator) handleSandboxCode(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeSandboxJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeSandboxJSON(w, http.StatusBadRequest, map[string]string{"error": "bad form"})
		return
	}
	f := r.PostForm
	appID, user := f.Get("appid"), f.Get("sandbox_user")
	var code string
	var err error
	switch f.Get("type") {
	case "", "oauth":
		code, err = e.issueOAuth(appID, user, f.Get("scope"), f.Get("snapshot") == "1")
	case "js":
		code, err = e.IssueJSCode(appID, user)
	case "phone":
		code, err = e.IssuePhoneCode(appID, user)
	default:
		writeSandboxJSON(w, http.StatusBadRequest, map[string]string{"error": "type must be oauth, js or phone"})
		return
	}
	if err != nil {
		writeSandboxJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeSandboxJSON(w, http.StatusOK, map[string]string{"code": code})
}

func writeSandboxJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
