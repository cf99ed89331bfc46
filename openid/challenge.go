package openid

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

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

func (p *Provider) handleChallenge(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p.limited(w, r, ratelimit.Key("oidc_challenge_ip", ratelimit.ClientSubject(p.d.RealIP(r))), p.cfg.ChallengePerIP) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, challengeError{Error: "invalid_request", Description: "the body must be a form (application/x-www-form-urlencoded) under 16 KiB"})
		return
	}
	c, status, cerr := p.authenticate(r)
	if cerr != nil {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="wxcas"`)
		}
		writeJSON(w, status, cerr)
		return
	}
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

// authenticate finds the calling client: Basic or form credentials for a
// confidential client (by its registered method), client_id alone for a
// public one.
func (p *Provider) authenticate(r *http.Request) (*client, int, *challengeError) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, http.StatusUnauthorized, &challengeError{Error: "invalid_client"}
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	c, ok := p.clients[id]
	if !ok {
		return nil, http.StatusUnauthorized, &challengeError{Error: "invalid_client", Description: "unknown client"}
	}
	if c.public() {
		if secret != "" {
			return nil, http.StatusUnauthorized, &challengeError{Error: "invalid_client", Description: "a public client has no secret"}
		}
		return c, 0, nil
	}
	wantBasic := c.Client.AuthMethod == "client_secret_basic"
	if basic != wantBasic || (&storage{p}).AuthorizeClientIDSecret(r.Context(), id, secret) != nil {
		return nil, http.StatusUnauthorized, &challengeError{Error: "invalid_client", Description: "client authentication failed (" + c.Client.AuthMethod + ")"}
	}
	return c, 0, nil
}

// noRedirectURI stands for the redirect URI a token request for a
// challenge endpoint's code leaves out.
const noRedirectURI = "urn:wxcas:oauth:no-redirect-uri"

// limitToken counts token requests per client address and per client.
func (p *Provider) limitToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.limited(w, r, ratelimit.Key("oidc_token_ip", ratelimit.ClientSubject(p.d.RealIP(r))), p.cfg.TokenPerIP) {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		formOK := r.ParseForm() == nil
		id, _, basic := r.BasicAuth()
		if basic {
			id, _ = url.QueryUnescape(id)
		} else if formOK {
			id = r.PostForm.Get("client_id")
		}
		if formOK && r.PostForm.Get("grant_type") == GrantCode && !r.PostForm.Has("redirect_uri") {
			// A code from the challenge endpoint has no redirect URI, which
			// the op package's parser insists on: it gets a marker that
			// only such codes match (CodeExchange).
			r.PostForm.Set("redirect_uri", noRedirectURI)
			r.Form.Set("redirect_uri", noRedirectURI)
		}
		if _, known := p.clients[id]; known && p.limited(w, r, ratelimit.Key("oidc_token_client", id), p.cfg.TokenPerClient) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limited counts the request against lim and reports whether it has
// answered (429 with Retry-After, or 503 when the count failed).
func (p *Provider) limited(w http.ResponseWriter, r *http.Request, key string, lim ratelimit.Limit) bool {
	if lim.Max <= 0 {
		return false
	}
	wait, err := p.d.Limiter.Hit(r.Context(), key, lim, p.d.Now())
	if err != nil {
		p.d.Log.ErrorContext(r.Context(), "openid: rate limit not counted", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, challengeError{Error: "temporarily_unavailable"})
		return true
	}
	if wait == 0 {
		return false
	}
	secs := int((wait + 999_999_999) / 1_000_000_000)
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	writeJSON(w, http.StatusTooManyRequests, challengeError{Error: "temporarily_unavailable", Description: fmt.Sprintf("too many requests; retry in %d seconds", secs)})
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
