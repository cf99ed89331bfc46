package openid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"wxcas/cas"
	"wxcas/ratelimit"
)

// The authorization challenge endpoint (IETF draft "OAuth 2.0 for
// First-Party Applications"): a first-party app or back end that logged
// the person in with the JSON journey API (WeChat code → phone → SMS code,
// or the mini program's phone number) sends the session it got there with
// the authorization request's parameters, and gets an authorization code
// to exchange at the token endpoint, with the PKCE verifier. The person is
// proven only by that session: no client can name a unionid or openid.
//
//	POST /oidc/challenge
//	  client_id, scope, code_challenge, code_challenge_method=S256,
//	  session=<the journey's TGT>   (+ client authentication if confidential)
//	→ 200 {"authorization_code": "..."}
//	→ 400 {"error": "insufficient_authorization", "login_endpoint": ...}  no session yet
//	→ 400 {"error": "invalid_session"}                                     session over

// challengeError is the endpoint's error body.
type challengeError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	// LoginEndpoint: where to start the journey that yields a session.
	LoginEndpoint string `json:"login_endpoint,omitempty"`
}

// handleChallenge runs behind clientCall: a POST form, the client
// authenticated.
func (p *Provider) handleChallenge(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c := callerOf(r)
	if !c.FirstParty || !c.hasGrant(GrantCode) {
		writeJSON(w, http.StatusBadRequest, challengeError{Error: "unauthorized_client", Description: "this client may not use the authorization challenge endpoint"})
		return
	}
	scopes, err := checkScopes(c, strings.Fields(r.PostForm.Get("scope")))
	if err == nil {
		err = checkPKCE(c, r.PostForm.Get("code_challenge"), r.PostForm.Get("code_challenge_method"))
	}
	var oe *oidc.Error
	if errors.As(err, &oe) {
		writeJSON(w, http.StatusBadRequest, challengeError{Error: string(oe.ErrorType), Description: oe.Description})
		return
	}
	tgt := r.PostForm.Get("session")
	if tgt == "" {
		writeJSON(w, http.StatusBadRequest, challengeError{
			Error:         "insufficient_authorization",
			Description:   "log the person in with the JSON journey API first, then send its tgt as session",
			LoginEndpoint: p.base + "/api/v1/login/wechat",
		})
		return
	}
	s, err := p.d.Sessions.SessionOf(ctx, tgt)
	if errors.Is(err, cas.ErrNoSession) {
		writeJSON(w, http.StatusBadRequest, challengeError{Error: "invalid_session", Description: "the session is unknown, expired or logged out; log the person in again"})
		return
	}
	if err != nil {
		p.d.Log.ErrorContext(ctx, "openid: cannot read the session of a challenge", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, challengeError{Error: "temporarily_unavailable"})
		return
	}
	code := newSecret()
	now := p.d.Now()
	a := AuthRequest{
		ID: newID(), ClientID: c.ID, Scopes: scopes, CodeChallenge: r.PostForm.Get("code_challenge"), MaxAge: -1,
		Done: true, Subject: s.Principal.ID, SessionKey: s.Key, AuthTime: s.AuthenticatedAt, Attributes: s.Principal.Attributes,
		CodeHash: hashSecret(code), CreatedAt: now, ExpiresAt: now.Add(p.cfg.CodeTTL),
	}
	if err := p.d.Store.CreateAuthRequest(ctx, a); err != nil {
		p.d.Log.ErrorContext(ctx, "openid: cannot store a challenge's code", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, challengeError{Error: "temporarily_unavailable"})
		return
	}
	p.d.Log.InfoContext(ctx, "openid: authorization code issued by challenge", "client", c.ID, "user", s.Principal.ID)
	writeJSON(w, http.StatusOK, map[string]string{"authorization_code": code})
}

// clientCall is the front of every endpoint a client calls with a form
// (token, revocation, introspection, challenge): POST only (RFC 6749 §3.2),
// parameters from the body only — never the URL, where secrets and tokens
// end up in logs — none repeated (§3.1), at most 16 KiB; the calls counted
// per client IP (perIP) and per confidential client (a public client's id
// is no credential: counting it would let anyone lock its users out); and
// the client authenticated by its registered method, and that one only
// (§2.3). The client is handed on in the request's context.
func (p *Provider) clientCall(endpoint string, perIP ratelimit.Limit, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, challengeError{Error: "invalid_request", Description: "use POST"})
			return
		}
		if p.limited(w, r, ratelimit.Key("oidc_"+endpoint+"_ip", ratelimit.ClientSubject(p.d.RealIP(r))), perIP, false) {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
			writeJSON(w, http.StatusBadRequest, challengeError{Error: "invalid_request", Description: "the body must be a form (application/x-www-form-urlencoded) under 16 KiB"})
			return
		}
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, challengeError{Error: "invalid_request", Description: "the body must be a form (application/x-www-form-urlencoded) under 16 KiB"})
			return
		}
		r.Form = r.PostForm
		if name := repeated(r.PostForm); name != "" {
			writeJSON(w, http.StatusBadRequest, challengeError{Error: "invalid_request", Description: name + " is repeated or not in lower case"})
			return
		}
		c, cerr := p.authenticate(r)
		if cerr != nil {
			if _, _, basic := r.BasicAuth(); basic {
				w.Header().Set("WWW-Authenticate", `Basic realm="wxcas"`)
			}
			writeJSON(w, http.StatusUnauthorized, cerr)
			return
		}
		if !c.public() && p.limited(w, r, ratelimit.Key("oidc_"+endpoint+"_client", c.ID), p.cfg.TokenPerClient, false) {
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	})
}

type callerKey struct{}

// callerOf is the client clientCall authenticated.
func callerOf(r *http.Request) *client { return r.Context().Value(callerKey{}).(*client) }

// authenticate finds the calling client: a confidential client by its
// registered method (client_secret_basic or client_secret_post) and no
// other, a public one by client_id alone (and no secret).
func (p *Provider) authenticate(r *http.Request) (*client, *challengeError) {
	fail := func(why string) (*client, *challengeError) {
		return nil, &challengeError{Error: "invalid_client", Description: why}
	}
	id, secret, basic := r.BasicAuth()
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		switch {
		case err1 != nil || err2 != nil:
			return fail("malformed Basic credentials")
		case formSecret != "" || (formID != "" && formID != id):
			return fail("credentials given twice")
		}
	} else {
		id, secret = formID, formSecret
	}
	c, ok := p.clients[id]
	switch {
	case !ok:
		return fail("unknown client")
	case c.public() && (basic || secret != ""):
		return fail("a public client has no secret")
	case c.public():
		return c, nil
	case basic != (c.Client.AuthMethod == "client_secret_basic"):
		return fail("this client authenticates with " + c.Client.AuthMethod)
	case (&storage{p}).AuthorizeClientIDSecret(r.Context(), id, secret) != nil:
		return fail("client authentication failed")
	}
	return c, nil
}

// tokenRequest adapts a token request for the op package's parser: a code
// from the challenge endpoint has no redirect URI, which the parser insists
// on, so it gets a marker that only such codes match (CodeExchange).
func tokenRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PostForm.Get("grant_type") == GrantCode && !r.PostForm.Has("redirect_uri") {
			r.PostForm.Set("redirect_uri", noRedirectURI)
		}
		next.ServeHTTP(w, r)
	})
}

// noRedirectURI stands for the redirect URI a token request for a
// challenge endpoint's code leaves out.
const noRedirectURI = "urn:wxcas:oauth:no-redirect-uri"

// limited counts the request against lim and reports whether it has
// answered: 429 with Retry-After over the limit, 503 when the count failed;
// as a page for a browser (page), else as JSON.
func (p *Provider) limited(w http.ResponseWriter, r *http.Request, key string, lim ratelimit.Limit, page bool) bool {
	if lim.Max <= 0 {
		return false
	}
	wait, err := p.d.Limiter.Hit(r.Context(), key, lim, p.d.Now())
	switch {
	case err != nil:
		p.d.Log.ErrorContext(r.Context(), "openid: rate limit not counted", "err", err)
		if page {
			p.d.Pages.Error(w, r, http.StatusServiceUnavailable, cas.ReasonInternal)
		} else {
			writeJSON(w, http.StatusServiceUnavailable, challengeError{Error: "temporarily_unavailable"})
		}
		return true
	case wait > 0:
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		if page {
			p.d.Pages.Error(w, r, http.StatusTooManyRequests, ReasonTooMany)
		} else {
			writeJSON(w, http.StatusTooManyRequests, challengeError{Error: "temporarily_unavailable", Description: fmt.Sprintf("too many requests; retry in %d seconds", secs)})
		}
		return true
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
