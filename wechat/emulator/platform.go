package emulator

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Platform is a third-party platform (开放平台第三方平台). Official Accounts
// that authorized it are served through it: the platform builds their
// authorize URLs with component_appid and exchanges their codes with a
// component_access_token instead of the account's secret.
type Platform struct {
	ComponentAppID string
	Secret         string // component_appsecret
	// Token and EncodingAESKey (43 characters) are the message-encryption
	// settings: they sign and encrypt the pushes to EventURL.
	Token          string
	EncodingAESKey string
	// EventURL is the platform's "authorization event URL" that receives
	// component_verify_ticket, authorized and unauthorized pushes. Empty:
	// tickets are made and remembered (see Ticket) but sent nowhere.
	EventURL string
	// Authorizers are the Official Accounts (apps whose ComponentAppID is
	// this platform) that have authorized the platform at start. A served
	// app left out starts as having withdrawn its authorization.
	Authorizers []string
}

// Third-party platform lifetimes.
const (
	ComponentTokenTTL = 7200 * time.Second
	// VerifyTicketTTL is how long a pushed component_verify_ticket stays
	// usable for api_component_token.
	VerifyTicketTTL = 12 * time.Hour
	// TicketPushInterval is WeChat's interval between ticket pushes.
	TicketPushInterval = 10 * time.Minute
	// AuthorizationCodeTTL is the lifetime announced in an authorized
	// event (AuthorizationCodeExpiredTime).
	AuthorizationCodeTTL = time.Hour
)

// Page text of a withdrawn authorization.
const (
	msgComponent     = "component_appid 参数错误 / Invalid component_appid"
	msgNotAuthorized = "该公众号未授权给此第三方平台 / This Official Account has not authorized the platform"
)

var errNotAuthorized = errors.New("emulator: the official account has not authorized its platform")

type platform struct {
	Platform
	key []byte // AES-256 key decoded from EncodingAESKey
}

type componentTokenEntry struct {
	component string
	expires   time.Time
}

type verifyTicket struct {
	component string
	pushed    time.Time
}

// addPlatforms validates and records the platforms, then which served apps
// have authorized theirs. It runs in New, before any request.
func (e *Emulator) addPlatforms(list []Platform) []error {
	var errs []error
	for i, p := range list {
		id := p.ComponentAppID
		switch {
		case id == "":
			errs = append(errs, fmt.Errorf("emulator: platforms[%d]: empty component appid", i))
			continue
		case e.platforms[id] != nil:
			errs = append(errs, fmt.Errorf("emulator: platform %s listed twice", id))
			continue
		case e.apps[id] != nil:
			errs = append(errs, fmt.Errorf("emulator: platform %s has the appid of an app", id))
		}
		if p.Secret == "" {
			errs = append(errs, fmt.Errorf("emulator: platform %s: empty secret", id))
		}
		if p.Token == "" {
			errs = append(errs, fmt.Errorf("emulator: platform %s: empty token", id))
		}
		key, err := aesKey(p.EncodingAESKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("emulator: platform %s: %w", id, err))
		}
		if p.EventURL != "" {
			if u, err := url.Parse(p.EventURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("emulator: platform %s: event URL must be an absolute http(s) URL", id))
			}
		}
		p.Authorizers = append([]string(nil), p.Authorizers...)
		e.platforms[id] = &platform{Platform: p, key: key}
	}
	for _, app := range e.apps {
		if app.ComponentAppID == "" {
			continue
		}
		if e.platforms[app.ComponentAppID] == nil {
			errs = append(errs, fmt.Errorf("emulator: app %s: unknown platform %s", app.AppID, app.ComponentAppID))
		}
		if app.Kind != KindOfficialAccount {
			errs = append(errs, fmt.Errorf("emulator: app %s: only an official account is served through a platform", app.AppID))
		}
		e.authorized[app.AppID] = false
	}
	for _, p := range e.platforms {
		for _, appID := range p.Authorizers {
			if app := e.apps[appID]; app == nil || app.ComponentAppID != p.ComponentAppID {
				errs = append(errs, fmt.Errorf("emulator: platform %s: authorizer %s is not an app served through it", p.ComponentAppID, appID))
				continue
			}
			e.authorized[appID] = true
		}
	}
	return errs
}

// aesKey decodes a 43-character EncodingAESKey into the 32-byte AES key, as
// WeChat does: standard base64 of the key with one "=" appended.
func aesKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, errors.New("EncodingAESKey must have 43 characters")
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, errors.New("EncodingAESKey is not base64 of 32 bytes")
	}
	return key, nil
}

// Authorized tells whether the platform-served Official Account currently
// authorizes its platform.
func (e *Emulator) Authorized(appID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.authorized[appID]
}

// Unauthorize makes the Official Account withdraw its authorization of the
// platform: its authorize page shows an error and its component exchanges
// and refreshes answer 61003. The unauthorized event is then pushed to the
// platform; its error (if any) is returned, the withdrawal stands anyway.
func (e *Emulator) Unauthorize(ctx context.Context, componentAppID, appID string) error {
	p, err := e.setAuthorized(componentAppID, appID, false)
	if err != nil {
		return err
	}
	now := e.now()
	return e.push(ctx, p, now, eventXML(componentAppID, now, "unauthorized",
		textElem("AuthorizerAppid", appID)))
}

// Authorize makes the Official Account authorize the platform (again) and
// pushes the authorized event, with an authorization code and its expiry
// as WeChat sends (the emulator has no api_query_auth to redeem it).
func (e *Emulator) Authorize(ctx context.Context, componentAppID, appID string) error {
	p, err := e.setAuthorized(componentAppID, appID, true)
	if err != nil {
		return err
	}
	now := e.now()
	return e.push(ctx, p, now, eventXML(componentAppID, now, "authorized",
		textElem("AuthorizerAppid", appID),
		textElem("AuthorizationCode", "queryauthcode@@@"+randomToken()),
		numElem("AuthorizationCodeExpiredTime", now.Add(AuthorizationCodeTTL).Unix()),
		textElem("PreAuthCode", "preauthcode@@@"+randomToken())))
}

func (e *Emulator) setAuthorized(componentAppID, appID string, on bool) (*platform, error) {
	p := e.platforms[componentAppID]
	if p == nil {
		return nil, fmt.Errorf("emulator: unknown platform %q", componentAppID)
	}
	if app := e.apps[appID]; app == nil || app.ComponentAppID != componentAppID {
		return nil, fmt.Errorf("emulator: app %q is not served through platform %s", appID, componentAppID)
	}
	e.mu.Lock()
	e.authorized[appID] = on
	e.mu.Unlock()
	return p, nil
}

// POST /cgi-bin/component/api_component_token
// {"component_appid","component_appsecret","component_verify_ticket"}
func (e *Emulator) handleComponentToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_appsecret"`
		Ticket string `json:"component_verify_ticket"`
	}
	if r.Method != http.MethodPost || !readJSON(r, &req) {
		e.fail(w, r, 47001)
		return
	}
	var p *platform
	errc := 0
	switch {
	case req.AppID == "":
		errc = 41002
	case e.platforms[req.AppID] == nil:
		errc = 40013
	case req.Secret == "":
		errc = 41004
	case req.Secret != e.platforms[req.AppID].Secret:
		errc = 40125
	default:
		p = e.platforms[req.AppID]
	}
	if errc != 0 {
		e.fail(w, r, errc)
		return
	}
	e.mu.Lock()
	now := e.now()
	t := e.verifyTickets[req.Ticket]
	switch {
	case t == nil || t.component != p.ComponentAppID:
		errc = 61006
	case !now.Before(t.pushed.Add(VerifyTicketTTL)):
		errc = 61005
	}
	if errc != 0 {
		e.mu.Unlock()
		e.fail(w, r, errc)
		return
	}
	// Like cgi-bin/token: each call makes a new token and cuts the
	// previous one's life to AppTokenOverlap.
	if old := e.compTokens[e.currentComp[p.ComponentAppID]]; old != nil && old.expires.After(now.Add(AppTokenOverlap)) {
		old.expires = now.Add(AppTokenOverlap)
	}
	tok := randomToken()
	e.compTokens[tok] = &componentTokenEntry{component: p.ComponentAppID, expires: now.Add(ComponentTokenTTL)}
	e.expiry.add("component", tok, now.Add(ComponentTokenTTL))
	e.currentComp[p.ComponentAppID] = tok
	e.gcLocked()
	e.mu.Unlock()
	writeJSON(w, contentTypeFor(r.URL.Path), struct {
		Token     string `json:"component_access_token"`
		ExpiresIn int    `json:"expires_in"`
	}{tok, int(ComponentTokenTTL / time.Second)})
}

// componentCheck validates what the component endpoints share, in WeChat's
// order after the parameters: the component token (of that platform), then
// that the app is served by the platform and still authorizes it.
func (e *Emulator) componentCheck(q url.Values) (*App, int) {
	component, token := q.Get("component_appid"), q.Get("component_access_token")
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.compTokens[token]
	switch {
	case t == nil || t.component != component:
		return nil, 40001
	case !e.now().Before(t.expires):
		return nil, 42001
	}
	app := e.apps[q.Get("appid")]
	if app == nil || app.ComponentAppID != component || !e.authorized[app.AppID] {
		return nil, 61003
	}
	return app, 0
}

// componentParams checks the parameters both component endpoints take.
func componentParams(q url.Values, grantType string) int {
	switch {
	case q.Get("appid") == "", q.Get("component_appid") == "":
		return 41002
	case q.Get("component_access_token") == "":
		return 41001
	case q.Get("grant_type") != grantType:
		return 40002
	}
	return 0
}

// GET /sns/oauth2/component/access_token?appid&code&grant_type=authorization_code
// &component_appid&component_access_token
func (e *Emulator) handleComponentAccessToken(w http.ResponseWriter, r *http.Request) {
	if app, code, ok := e.componentRequest(w, r, "authorization_code", "code", 41008); ok {
		e.exchangeCode(w, r, app, code, app.ComponentAppID)
	}
}

// GET /sns/oauth2/component/refresh_token?appid&grant_type=refresh_token
// &component_appid&component_access_token&refresh_token
func (e *Emulator) handleComponentRefreshToken(w http.ResponseWriter, r *http.Request) {
	if app, token, ok := e.componentRequest(w, r, "refresh_token", "refresh_token", 41003); ok {
		e.refreshWith(w, r, app, token, app.ComponentAppID)
	}
}

// componentRequest checks a component call in WeChat's order (parameters,
// then the component token and the authorization) and returns the app and
// the value of param; it answers the error itself (ok false). missing is
// the errcode for an absent param.
func (e *Emulator) componentRequest(w http.ResponseWriter, r *http.Request, grantType, param string, missing int) (*App, string, bool) {
	q := r.URL.Query()
	errc := componentParams(q, grantType)
	if errc == 0 && q.Get(param) == "" {
		errc = missing
	}
	var app *App
	if errc == 0 {
		app, errc = e.componentCheck(q)
	}
	if errc != 0 {
		e.fail(w, r, errc)
		return nil, "", false
	}
	return app, q.Get(param), true
}
