package openid

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"wxcas/cas"
	"wxcas/ratelimit"
	"wxcas/store"
)

// Error page reasons: an authorization request that is unknown, expired or
// held by another browser; one from an unknown client or for a redirect
// URI the client did not register (never redirected to).
const (
	ReasonExpired = "authorization_expired"
	ReasonInvalid = "authorization_invalid"
	// ReasonMalformed: a parameter repeated or not in lower case, or a
	// request too long.
	ReasonMalformed = "authorization_malformed"
	ReasonTooMany   = "too_many_requests"
	ReasonLogout    = "logout_invalid"
)

// guardAuthorize answers, with a page in the person's language, the
// authorization requests that cannot be sent back to the client: an
// unknown client_id or a redirect_uri the client did not register (RFC
// 6749 §4.1.2.1: never redirect then). The op package would answer them
// with bare JSON; everything else it checks and, where the redirect URI is
// known good, sends back to the client.
func (p *Provider) guardAuthorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.limited(w, r, ratelimit.Key("oidc_authorize_ip", ratelimit.ClientSubject(p.d.RealIP(r))), p.cfg.AuthorizePerIP, true) {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxAuthorizeQuery)
		if len(r.URL.RawQuery) > maxAuthorizeQuery || r.ParseForm() != nil || repeated(r.Form) != "" {
			p.d.Pages.Error(w, r, http.StatusBadRequest, ReasonMalformed)
			return
		}
		c, known := p.clients[r.Form.Get("client_id")]
		redirect := r.Form.Get("redirect_uri")
		if !known || redirect == "" || op.ValidateAuthReqRedirectURI(c, redirect, oidc.ResponseTypeCode) != nil || !registered(c, redirect) {
			p.d.Log.InfoContext(r.Context(), "openid: authorization request refused: unknown client or unregistered redirect_uri",
				"client", truncate(r.Form.Get("client_id"), 64), "redirect_uri", truncate(redirect, 200))
			p.d.Pages.Error(w, r, http.StatusBadRequest, ReasonInvalid)
			return
		}
		back := AuthRequest{RedirectURI: redirect, State: truncate(r.Form.Get("state"), maxRequestValue)}
		for _, name := range []string{"state", "nonce", "login_hint", "code_challenge"} {
			if len(r.Form.Get(name)) > maxRequestValue {
				p.toClient(w, r, back, oidc.ErrInvalidRequest().WithDescription("%s is longer than %d bytes", name, maxRequestValue))
				return
			}
		}
		if r.Form.Has("request_uri") {
			p.toClient(w, r, back, &oidc.Error{ErrorType: "request_uri_not_supported", Description: "request_uri is not supported"})
			return
		}
		if m := r.Form.Get("response_mode"); m != "" && m != string(oidc.ResponseModeQuery) {
			p.toClient(w, r, back, oidc.ErrInvalidRequest().WithDescription("response_mode must be query"))
			return
		}
		if entry := r.Form.Get("appid"); entry != "" {
			// An entry link for an Official Account's menu: the login
			// inside WeChat starts from that account, as with /cas/login.
			if p.d.EntryAccount == nil || !p.d.EntryAccount(entry) {
				p.toClient(w, r, back, oidc.ErrInvalidRequest().WithDescription("appid names no Official Account of this provider"))
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), entryKey{}, entry))
		}
		next.ServeHTTP(w, r)
	})
}

// entryKey carries an authorization request's entry Official Account from
// guardAuthorize to CreateAuthRequest, through the op package.
type entryKey struct{}

func entryAccount(ctx context.Context) string {
	s, _ := ctx.Value(entryKey{}).(string)
	return s
}

// Bounds on what an authorization request may store.
const (
	maxAuthorizeQuery = 8 << 10
	maxRequestValue   = 512
)

// repeated names a parameter given more than once (RFC 6749 §3.1: none
// may be), or one whose name is not lower case, or "". The op package's
// decoder matches names without regard to case, so Redirect_Uri would be a
// second redirect_uri that wxcas's checks never saw; every OAuth and OpenID
// parameter name is lower case.
func repeated(form url.Values) string {
	for k, v := range form {
		if len(v) > 1 || k != strings.ToLower(k) {
			return k
		}
	}
	return ""
}

// strictDecoder is the op package's decoder behind the same rule, for
// whatever reaches it without passing one of wxcas's fronts.
type strictDecoder struct{ httphelper.Decoder }

func (d strictDecoder) Decode(dst any, src map[string][]string) error {
	if name := repeated(src); name != "" {
		return oidc.ErrInvalidRequest().WithDescription("parameter %q is repeated or not lower case", truncate(name, 64))
	}
	return d.Decoder.Decode(dst, src)
}

// The browser authorization, after /oidc/authorize stored the request:
//
//	/oidc/login?id=R  →  /cas/login?service=/oidc/continue/<client>?id=R
//	                     (SSO session: a ticket at once; else the login journey)
//	/oidc/continue/<client>?id=R&ticket=ST  →  <redirect URI>?code=…&state=…
//	                     (the op package issues the code, once)
//
// The ticket binds the continuation to request R: it is valid only for that
// exact service URL.

func (p *Provider) continueURL(a AuthRequest) string {
	return p.base + PathContinue + "/" + url.PathEscape(a.ClientID) + "?id=" + url.QueryEscape(a.ID)
}

// casLogin is where the browser logs in for request a: prompt=none asks
// CAS not to prompt (gateway), prompt=login or max_age=0 for a new login
// (renew).
func (p *Provider) casLogin(a AuthRequest, renew bool) string {
	u := p.base + "/cas/login?service=" + url.QueryEscape(p.continueURL(a))
	switch {
	case slices.Contains(a.Prompt, oidc.PromptNone):
		u += "&gateway=true"
	case renew || slices.Contains(a.Prompt, oidc.PromptLogin) || a.MaxAge == 0:
		u += "&renew=true"
	}
	if a.EntryAppID != "" {
		u += "&appid=" + url.QueryEscape(a.EntryAppID)
	}
	return u
}

func (p *Provider) handleLogin(w http.ResponseWriter, r *http.Request) {
	a, ok := p.request(w, r, r.URL.Query().Get("id"))
	if !ok || !p.holds(w, r, a, true) {
		return
	}
	if a.Done {
		// Its code went out already; a request gets one.
		p.d.Pages.Error(w, r, http.StatusBadRequest, ReasonExpired)
		return
	}
	http.Redirect(w, r, p.casLogin(a, false), http.StatusSeeOther)
}

// The browser binding. A browser authorization is continued only by the
// browser that continued it first: /oidc/login gives that browser a
// cookie with a random nonce and stores the nonce's hash on the request;
// /oidc/continue, which issues the code, requires it. Without it, whoever
// starts an authorization could send the /oidc/login link to someone with
// an SSO session and have their browser log in silently for the request.
// The code itself goes out once, in the answer to the request that
// redeemed the login's ticket, so even a browser that was handed the
// cookie (planted from a sibling host, say) cannot collect a second one.
// Under https the cookie is a __Host- cookie, which no other host can set.

func (p *Provider) browserCookieName(id string) string {
	if p.secure() {
		return "__Host-wxcas_oidc_" + id
	}
	return "wxcas_oidc_" + id
}

func (p *Provider) secure() bool { return p.d.PublicURL.Scheme == "https" }

// holds reports whether the browser holds request a, binding it first when
// bind is set and nobody holds it yet; otherwise it has answered.
func (p *Provider) holds(w http.ResponseWriter, r *http.Request, a AuthRequest, bind bool) bool {
	if a.BrowserHash == "" && bind {
		nonce := newSecret()
		err := p.d.Store.BindBrowser(r.Context(), a.ID, hashSecret(nonce))
		if err == nil {
			http.SetCookie(w, &http.Cookie{
				Name: p.browserCookieName(a.ID), Value: nonce, Path: p.cookiePath(), MaxAge: int(p.cfg.LoginTTL / time.Second),
				HttpOnly: true, Secure: p.secure(), SameSite: http.SameSiteLaxMode,
			})
			return true
		}
		if !errors.Is(err, ErrConflict) {
			p.d.Log.ErrorContext(r.Context(), "openid: cannot bind an authorization request to the browser", "err", err)
			p.d.Pages.Error(w, r, http.StatusServiceUnavailable, cas.ReasonInternal)
			return false
		}
		// Another tab or browser bound it a moment ago: it must hold it.
		again, err := p.d.Store.AuthRequest(r.Context(), a.ID)
		if err != nil {
			p.d.Pages.Error(w, r, http.StatusBadRequest, ReasonExpired)
			return false
		}
		a = again
	}
	if c, err := r.Cookie(p.browserCookieName(a.ID)); err == nil && a.BrowserHash != "" &&
		subtle.ConstantTimeCompare([]byte(hashSecret(c.Value)), []byte(a.BrowserHash)) == 1 {
		return true
	}
	p.d.Log.WarnContext(r.Context(), "openid: authorization request continued by another browser refused", "client", a.ClientID, "request", short(a.ID))
	p.d.Pages.Error(w, r, http.StatusBadRequest, ReasonExpired)
	return false
}

// cookiePath: a __Host- cookie must have the path /.
func (p *Provider) cookiePath() string {
	if p.secure() {
		return "/"
	}
	return strings.TrimSuffix(p.d.PublicURL.Path, "/") + "/oidc/"
}

// registered: uri is one of the client's redirect URIs, string for
// string, or differs from one only in the port of a loopback IP literal
// (RFC 8252 §7.3: a native app's loopback listener gets its port at run
// time). The op package also lets localhost, another loopback address or
// https through for a registered loopback URI; wxcas does not.
func registered(c *client, uri string) bool {
	if slices.Contains(c.RedirectURIs(), uri) {
		return true
	}
	if c.Type != TypeNative {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || !isLoopbackIP(u.Hostname()) {
		return false
	}
	if port, err := strconv.Atoi(u.Port()); err != nil || port < 1 || port > 65535 {
		return false
	}
	for _, reg := range c.RedirectURIs() {
		r, err := url.Parse(reg)
		if err == nil && r.Scheme == "http" && r.Hostname() == u.Hostname() && r.EscapedPath() == u.EscapedPath() &&
			r.RawQuery == u.RawQuery && u.User == nil && u.Fragment == "" {
			return true
		}
	}
	return false
}

// request loads a live authorization request, or shows why there is none.
func (p *Provider) request(w http.ResponseWriter, r *http.Request, id string) (AuthRequest, bool) {
	a, err := (&storage{p}).liveRequest(r.Context(), id)
	if err == nil {
		return a, true
	}
	if errors.Is(err, store.ErrNotFound) || id == "" {
		p.d.Pages.Error(w, r, http.StatusBadRequest, ReasonExpired)
		return AuthRequest{}, false
	}
	p.d.Log.ErrorContext(r.Context(), "openid: cannot read an authorization request", "err", err)
	status := http.StatusInternalServerError
	if store.IsUnavailable(err) {
		status = http.StatusServiceUnavailable
	}
	p.d.Pages.Error(w, r, status, cas.ReasonInternal)
	return AuthRequest{}, false
}

// handleContinue is the internal CAS service: it redeems the ticket, records
// who logged in, and answers with the code for the redirect URI (issued by
// the op package, once).
func (p *Provider) handleContinue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a, ok := p.request(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	if a.ClientID != r.PathValue("client") {
		p.d.Pages.Error(w, r, http.StatusBadRequest, ReasonExpired)
		return
	}
	ticket := r.URL.Query().Get("ticket")
	if !p.holds(w, r, a, false) {
		if ticket != "" {
			// Used up all the same: a ticket shown to the wrong browser
			// is not left for another try.
			_, _ = p.d.Sessions.RedeemTicket(ctx, p.continueURL(a), ticket)
		}
		return
	}
	if a.Done {
		p.d.Pages.Error(w, r, http.StatusBadRequest, ReasonExpired)
		return
	}
	if ticket == "" {
		// CAS came back without a ticket: a gateway (prompt=none) request
		// found no session.
		p.toClient(w, r, a, oidc.ErrLoginRequired().WithDescription("no single sign-on session"))
		return
	}
	s, err := p.d.Sessions.RedeemTicket(ctx, p.continueURL(a), ticket)
	if errors.Is(err, cas.ErrNoSession) {
		p.d.Pages.Error(w, r, http.StatusBadRequest, ReasonExpired)
		return
	}
	if err != nil {
		p.d.Log.ErrorContext(ctx, "openid: cannot redeem the login ticket", "err", err)
		p.d.Pages.Error(w, r, http.StatusServiceUnavailable, cas.ReasonInternal)
		return
	}
	if !s.FromNewLogin && a.HintSubject != "" && a.HintSubject != s.Principal.ID {
		// The client named another person (id_token_hint) than the one
		// logged in here (OIDC Core §3.1.2.1): log in anew, unless the
		// client said not to prompt.
		if slices.Contains(a.Prompt, oidc.PromptNone) {
			p.toClient(w, r, a, oidc.ErrLoginRequired().WithDescription("another person is logged in"))
			return
		}
		http.Redirect(w, r, p.casLogin(a, true), http.StatusSeeOther)
		return
	}
	if !s.FromNewLogin && p.tooOld(a, s.AuthenticatedAt) {
		// max_age: the SSO session is older than the client accepts. A new
		// login is asked for, unless the client said not to prompt.
		if slices.Contains(a.Prompt, oidc.PromptNone) {
			p.toClient(w, r, a, oidc.ErrLoginRequired().WithDescription("the single sign-on session is older than max_age"))
			return
		}
		http.Redirect(w, r, p.casLogin(a, true), http.StatusSeeOther)
		return
	}
	done, err := p.complete(ctx, a, s)
	if errors.Is(err, ErrConflict) {
		p.d.Pages.Error(w, r, http.StatusBadRequest, ReasonExpired)
		return
	}
	if err != nil {
		p.d.Log.ErrorContext(ctx, "openid: cannot complete an authorization request", "err", err)
		p.d.Pages.Error(w, r, http.StatusServiceUnavailable, cas.ReasonInternal)
		return
	}
	p.d.Log.InfoContext(ctx, "openid: authorization logged in", "client", a.ClientID, "user", s.Principal.ID)
	// The code goes out in the answer to the request that redeemed the
	// ticket: only the browser that logged in ever sees it.
	op.AuthResponse(&authReq{done}, p.op, w, r)
}

func (p *Provider) tooOld(a AuthRequest, authAt time.Time) bool {
	return a.MaxAge >= 0 && p.d.Now().Sub(authAt) > time.Duration(a.MaxAge)*time.Second
}

// complete records the session's person on request a and returns it done.
func (p *Provider) complete(ctx context.Context, a AuthRequest, s cas.Session) (AuthRequest, error) {
	a.Done, a.Subject, a.SessionKey, a.AuthTime, a.Attributes = true, s.Principal.ID, s.Key, s.AuthenticatedAt, s.Principal.Attributes
	return a, p.d.Store.CompleteAuthRequest(ctx, a.ID, a)
}

// toClient sends an OAuth error to the request's redirect URI (registered:
// the op package checked it before the request was stored).
func (p *Provider) toClient(w http.ResponseWriter, r *http.Request, a AuthRequest, e *oidc.Error) {
	op.AuthRequestError(w, r, &authReq{a}, e, p.op)
}

// handleLoggedOut ends an RP-initiated logout that went through
// /cas/logout: on to the client's post-logout URI when the end-session
// request named one (signed by TerminateSessionFromRequest), else the
// logged-out page.
func (p *Provider) handleLoggedOut(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	to := q.Get("to")
	if to != "" && hmac.Equal([]byte(p.sign("logged-out", to)), []byte(q.Get("sig"))) {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	p.d.Pages.LoggedOut(w, r, nil)
}

// guardEndSession checks an RP-initiated logout before the op package
// handles it, answering what is wrong with a page: GET or POST only; no
// parameter twice; an id_token_hint must be an ID token of ours (typ JWT:
// not an access token, which resource servers see, nor a logout token) for
// a registered client — expired ones are allowed, as the spec asks; a
// client_id must be registered and agree with the hint; a
// post_logout_redirect_uri must be one of that client's, string for
// string.
func (p *Provider) guardEndSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse := func(why string) {
			p.d.Log.InfoContext(r.Context(), "openid: end-session request refused", "why", why)
			p.d.Pages.Error(w, r, http.StatusBadRequest, ReasonLogout)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			p.d.Pages.Error(w, r, http.StatusMethodNotAllowed, ReasonLogout)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if r.ParseForm() != nil || repeated(r.Form) != "" {
			refuse("malformed or repeated parameters")
			return
		}
		clientID := r.Form.Get("client_id")
		if hint := r.Form.Get("id_token_hint"); hint != "" {
			payload, ok := p.verifySigned(r.Context(), hint, "JWT")
			var claims struct {
				Issuer   string        `json:"iss"`
				Audience oidc.Audience `json:"aud"`
			}
			if !ok || json.Unmarshal(payload, &claims) != nil || claims.Issuer != p.issuer || len(claims.Audience) != 1 {
				refuse("id_token_hint is not an ID token of this provider")
				return
			}
			if clientID != "" && clientID != claims.Audience[0] {
				refuse("client_id does not match the id_token_hint")
				return
			}
			clientID = claims.Audience[0]
		}
		c, known := p.clients[clientID]
		if clientID != "" && !known {
			refuse("unknown client")
			return
		}
		if to := r.Form.Get("post_logout_redirect_uri"); to != "" && (!known || !slices.Contains(c.PostLogoutRedirectURIs(), to)) {
			refuse("post_logout_redirect_uri not registered")
			return
		}
		next.ServeHTTP(w, r)
	})
}
