package emulator

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// WeChat's error texts (English, as returned; rid is appended).
var errorTexts = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40013: "invalid appid",
	40014: "invalid access_token",
	40029: "invalid code",
	40030: "invalid refresh_token",
	40125: "invalid appsecret",
	40163: "code been used",
	40226: "code blocked",
	41001: "access_token missing",
	41002: "appid missing",
	41003: "refresh_token missing",
	41004: "appsecret missing",
	41008: "missing code",
	41009: "missing openid",
	42001: "access_token expired",
	42002: "refresh_token expired",
	42003: "code expired",
	45011: "api minute-quota reach limit mustslower retry next minute",
	47001: "data format error",
	48001: "api unauthorized",
	61003: "component is not authorized by this account",
	61005: "component ticket is expired",
	61006: "component ticket is invalid",
}

func errorText(code int, r *http.Request) string {
	if code == 40164 {
		ip := "127.0.0.1"
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			ip = host
		}
		return "invalid ip " + ip + " ipv6 ::ffff:" + ip + ", not in whitelist"
	}
	if t, ok := errorTexts[code]; ok {
		return t
	}
	return "unknown error"
}

const (
	ctJSON      = "application/json; encoding=utf-8"
	ctTextPlain = "text/plain"
)

// contentTypeFor reproduces WeChat's labelling: some JSON is sent as text/plain.
func contentTypeFor(path string) string {
	switch path {
	case PathUserInfo, PathJSCode2Session:
		return ctTextPlain
	}
	return ctJSON
}

func writeJSON(w http.ResponseWriter, ct string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "emulator: cannot encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

type errorBody struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func writeError(w http.ResponseWriter, ct string, code int, msg string) {
	writeJSON(w, ct, errorBody{ErrCode: code, ErrMsg: msg + ", rid: " + randomRID()})
}

func (e *Emulator) fail(w http.ResponseWriter, r *http.Request, code int) {
	writeError(w, contentTypeFor(r.URL.Path), code, errorText(code, r))
}

// checkApp validates appid (and the secret if needSecret), returning the
// app or an errcode.
func (e *Emulator) checkApp(appID, secret string, needSecret bool) (*App, int) {
	if appID == "" {
		return nil, 41002
	}
	app := e.apps[appID]
	if app == nil {
		return nil, 40013
	}
	if needSecret {
		if secret == "" {
			return nil, 41004
		}
		if secret != app.Secret {
			return nil, 40125
		}
	}
	return app, 0
}

type tokenBody struct {
	AccessToken    string `json:"access_token"`
	ExpiresIn      int    `json:"expires_in"`
	RefreshToken   string `json:"refresh_token"`
	OpenID         string `json:"openid"`
	Scope          string `json:"scope"`
	UnionID        string `json:"unionid,omitempty"`
	IsSnapshotUser int    `json:"is_snapshotuser,omitempty"`
}

// GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code
func (e *Emulator) handleAccessToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app, errc := e.checkApp(q.Get("appid"), q.Get("secret"), true)
	if errc == 0 && q.Get("grant_type") != "authorization_code" {
		errc = 40002
	}
	code := q.Get("code")
	if errc == 0 && code == "" {
		errc = 41008
	}
	if errc != 0 {
		e.fail(w, r, errc)
		return
	}
	e.exchangeCode(w, r, app, code, "")
}

// exchangeCode answers a code exchange whose parameters and credentials
// were checked; component is the platform of a component exchange, "" for
// the plain one. A code is exchanged only where it was meant to be.
func (e *Emulator) exchangeCode(w http.ResponseWriter, r *http.Request, app *App, code, component string) {
	errc := 0
	e.mu.Lock()
	now := e.now()
	c := e.codes[code]
	switch {
	case c == nil || c.kind != codeOAuth || c.appID != app.AppID || c.component != component || !now.Before(c.expires):
		errc = 40029
	case c.used:
		errc = 40163
	}
	if errc != 0 {
		e.mu.Unlock()
		e.fail(w, r, errc)
		return
	}
	c.used = true
	openID := e.openID(app.AppID, c.person, c.snapshot)
	access, rt := randomToken(), randomToken()
	e.tokens[access] = &userToken{appID: app.AppID, person: c.person, openID: openID, scope: c.scope,
		snapshot: c.snapshot, expires: now.Add(AccessTokenTTL)}
	e.refresh[rt] = &refreshEntry{appID: app.AppID, person: c.person, openID: openID, scope: c.scope,
		snapshot: c.snapshot, access: access, expires: now.Add(RefreshTokenTTL), component: component}
	e.expiry.add("token", access, now.Add(AccessTokenTTL))
	e.expiry.add("refresh", rt, now.Add(RefreshTokenTTL))
	e.mu.Unlock()

	body := tokenBody{AccessToken: access, ExpiresIn: int(AccessTokenTTL / time.Second), RefreshToken: rt,
		OpenID: openID, Scope: c.scope}
	// Website and mobile apps always get the unionid; an Official Account
	// only with snsapi_userinfo and only when bound to an account.
	if app.Kind != KindOfficialAccount || c.scope == "snsapi_userinfo" {
		body.UnionID = e.unionID(app, c.person)
	}
	if c.snapshot {
		body.IsSnapshotUser = 1
	}
	writeJSON(w, contentTypeFor(r.URL.Path), body)
}

// GET /sns/oauth2/refresh_token?appid&grant_type=refresh_token&refresh_token
func (e *Emulator) handleRefreshToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app, errc := e.checkApp(q.Get("appid"), "", false)
	if errc == 0 && q.Get("grant_type") != "refresh_token" {
		errc = 40002
	}
	rt := q.Get("refresh_token")
	if errc == 0 && rt == "" {
		errc = 41003
	}
	if errc != 0 {
		e.fail(w, r, errc)
		return
	}
	e.refreshWith(w, r, app, rt, "")
}

// refreshWith answers a refresh whose parameters were checked; like codes,
// refresh tokens of component exchanges are refreshed only there.
func (e *Emulator) refreshWith(w http.ResponseWriter, r *http.Request, app *App, rt, component string) {
	errc := 0
	e.mu.Lock()
	now := e.now()
	ent := e.refresh[rt]
	switch {
	case ent == nil || ent.appID != app.AppID || ent.component != component:
		errc = 40030
	case !now.Before(ent.expires):
		errc = 42002
	}
	if errc != 0 {
		e.mu.Unlock()
		e.fail(w, r, errc)
		return
	}
	// A still-valid access token is extended; an expired one is replaced.
	if tok := e.tokens[ent.access]; tok != nil && now.Before(tok.expires) {
		tok.expires = now.Add(AccessTokenTTL)
	} else {
		delete(e.tokens, ent.access)
		ent.access = randomToken()
		e.tokens[ent.access] = &userToken{appID: ent.appID, person: ent.person, openID: ent.openID,
			scope: ent.scope, snapshot: ent.snapshot, expires: now.Add(AccessTokenTTL)}
		e.expiry.add("token", ent.access, now.Add(AccessTokenTTL))
	}
	body := tokenBody{AccessToken: ent.access, ExpiresIn: int(AccessTokenTTL / time.Second), RefreshToken: rt,
		OpenID: ent.openID, Scope: ent.scope}
	e.mu.Unlock()
	writeJSON(w, contentTypeFor(r.URL.Path), body)
}

// userTokenFor validates access_token + openid; unknownCode is the errcode
// for an unknown token (40014 on /sns/auth, 40001 on /sns/userinfo).
func (e *Emulator) userTokenFor(q url.Values, unknownCode int) (userToken, int) {
	access, openID := q.Get("access_token"), q.Get("openid")
	if access == "" {
		return userToken{}, 41001
	}
	if openID == "" {
		return userToken{}, 41009
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	tok := e.tokens[access]
	switch {
	case tok == nil:
		return userToken{}, unknownCode
	case !e.now().Before(tok.expires):
		return userToken{}, 42001
	case tok.openID != openID:
		return userToken{}, 40003
	}
	return *tok, 0
}

// GET /sns/auth?access_token&openid
func (e *Emulator) handleAuth(w http.ResponseWriter, r *http.Request) {
	if _, errc := e.userTokenFor(r.URL.Query(), 40014); errc != 0 {
		e.fail(w, r, errc)
		return
	}
	writeJSON(w, contentTypeFor(r.URL.Path), errorBody{ErrCode: 0, ErrMsg: "ok"})
}

type userInfoBody struct {
	OpenID     string   `json:"openid"`
	Nickname   string   `json:"nickname"`
	Sex        int      `json:"sex"`
	Language   string   `json:"language,omitempty"`
	City       string   `json:"city"`
	Province   string   `json:"province"`
	Country    string   `json:"country"`
	HeadImgURL string   `json:"headimgurl"`
	Privilege  []string `json:"privilege"`
	UnionID    string   `json:"unionid,omitempty"`
}

// GET /sns/userinfo?access_token&openid[&lang]
func (e *Emulator) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tok, errc := e.userTokenFor(q, 40001)
	if errc == 0 && !hasScope(tok.scope, "snsapi_userinfo") && !hasScope(tok.scope, "snsapi_login") {
		errc = 48001
	}
	if errc != 0 {
		e.fail(w, r, errc)
		return
	}
	app := e.apps[tok.appID]
	e.mu.Lock()
	p, _ := e.personLocked(tok.person)
	person := *p
	e.mu.Unlock()
	body := userInfoBody{
		OpenID: tok.openID, Nickname: person.Nickname, HeadImgURL: person.HeadImgURL,
		Privilege: []string{}, UnionID: e.unionID(app, tok.person),
	}
	if tok.snapshot {
		// A snapshot-page user is virtual: WeChat shows a placeholder profile.
		body.Nickname, body.HeadImgURL = "微信用户", ""
	}
	if app.Kind == KindMobileApp {
		lang := q.Get("lang")
		if lang == "" {
			lang = "zh_CN"
		}
		body.Language = lang
	}
	writeJSON(w, contentTypeFor(r.URL.Path), body)
}

type sessionBody struct {
	SessionKey string `json:"session_key"`
	OpenID     string `json:"openid"`
	UnionID    string `json:"unionid,omitempty"`
}

// GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code
func (e *Emulator) handleJSCode2Session(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app, errc := e.checkApp(q.Get("appid"), q.Get("secret"), true)
	if errc == 0 && app.Kind != KindMiniProgram {
		errc = 40013
	}
	if errc == 0 && q.Get("grant_type") != "authorization_code" {
		errc = 40002
	}
	code := q.Get("js_code")
	if errc == 0 && code == "" {
		errc = 41008
	}
	if errc != 0 {
		e.fail(w, r, errc)
		return
	}
	e.mu.Lock()
	c := e.codes[code]
	switch {
	case c == nil || c.kind != codeJS || c.appID != app.AppID || !e.now().Before(c.expires):
		errc = 40029
	case c.used:
		errc = 40163
	}
	var blocked bool
	if errc == 0 {
		c.used = true
		if p := e.persons[c.person]; p != nil {
			blocked = p.Blocked
		}
	}
	e.mu.Unlock()
	if errc == 0 && blocked {
		errc = 40226
	}
	if errc != 0 {
		e.fail(w, r, errc)
		return
	}
	writeJSON(w, contentTypeFor(r.URL.Path), sessionBody{
		SessionKey: randomSessionKey(), OpenID: e.openID(app.AppID, c.person, false), UnionID: e.unionID(app, c.person),
	})
}

func randomSessionKey() string {
	t := randomToken()
	return t[:22] + "=="
}

type appTokenBody struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// issueAppTokenLocked makes a new app-level token in slot (currentToken or
// stableToken); the previous one stays valid for AppTokenOverlap at most.
func (e *Emulator) issueAppTokenLocked(slot map[string]string, appID string) appTokenBody {
	now := e.now()
	if old := e.appTokens[slot[appID]]; old != nil && old.expires.After(now.Add(AppTokenOverlap)) {
		old.expires = now.Add(AppTokenOverlap)
	}
	tok := randomToken()
	e.appTokens[tok] = &appTokenEntry{appID: appID, expires: now.Add(AppTokenTTL)}
	e.expiry.add("apptoken", tok, now.Add(AppTokenTTL))
	slot[appID] = tok
	return appTokenBody{AccessToken: tok, ExpiresIn: int(AppTokenTTL / time.Second)}
}

// GET /cgi-bin/token?grant_type=client_credential&appid&secret
func (e *Emulator) handleToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	errc := 0
	if q.Get("grant_type") != "client_credential" {
		errc = 40002
	}
	app, aerr := e.checkApp(q.Get("appid"), q.Get("secret"), true)
	if errc == 0 {
		errc = aerr
	}
	if errc != 0 {
		e.fail(w, r, errc)
		return
	}
	e.mu.Lock()
	body := e.issueAppTokenLocked(e.currentToken, app.AppID)
	e.mu.Unlock()
	writeJSON(w, contentTypeFor(r.URL.Path), body)
}

// POST /cgi-bin/stable_token {"grant_type","appid","secret","force_refresh"}
func (e *Emulator) handleStableToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if r.Method != http.MethodPost || !readJSON(r, &req) {
		e.fail(w, r, 47001)
		return
	}
	errc := 0
	if req.GrantType != "client_credential" {
		errc = 40002
	}
	app, aerr := e.checkApp(req.AppID, req.Secret, true)
	if errc == 0 {
		errc = aerr
	}
	if errc != 0 {
		e.fail(w, r, errc)
		return
	}
	e.mu.Lock()
	now := e.now()
	var body appTokenBody
	cur := e.appTokens[e.stableToken[app.AppID]]
	// The platform renews the stable token in its last AppTokenOverlap.
	if !req.ForceRefresh && cur != nil && cur.expires.After(now.Add(AppTokenOverlap)) {
		body = appTokenBody{AccessToken: e.stableToken[app.AppID], ExpiresIn: int(cur.expires.Sub(now) / time.Second)}
	} else {
		body = e.issueAppTokenLocked(e.stableToken, app.AppID)
	}
	e.mu.Unlock()
	writeJSON(w, contentTypeFor(r.URL.Path), body)
}

func readJSON(r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	return err == nil && json.Unmarshal(b, v) == nil
}

type phoneBody struct {
	ErrCode   int    `json:"errcode"`
	ErrMsg    string `json:"errmsg"`
	PhoneInfo struct {
		PhoneNumber     string `json:"phoneNumber"`
		PurePhoneNumber string `json:"purePhoneNumber"`
		CountryCode     int    `json:"countryCode"`
		Watermark       struct {
			Timestamp int64  `json:"timestamp"`
			AppID     string `json:"appid"`
		} `json:"watermark"`
	} `json:"phone_info"`
}

// POST /wxa/business/getuserphonenumber?access_token  {"code":"..."}
func (e *Emulator) handlePhoneNumber(w http.ResponseWriter, r *http.Request) {
	access := r.URL.Query().Get("access_token")
	if access == "" {
		e.fail(w, r, 41001)
		return
	}
	e.mu.Lock()
	tok := e.appTokens[access]
	now := e.now()
	e.mu.Unlock()
	switch {
	case tok == nil:
		e.fail(w, r, 40001)
		return
	case !now.Before(tok.expires):
		e.fail(w, r, 42001)
		return
	}
	var req struct {
		Code string `json:"code"`
	}
	if r.Method != http.MethodPost || !readJSON(r, &req) || req.Code == "" {
		e.fail(w, r, 47001)
		return
	}
	e.mu.Lock()
	c := e.codes[req.Code]
	// A wrong, expired, foreign or used phone code is 40029.
	if c == nil || c.kind != codePhone || c.appID != tok.appID || c.used || !now.Before(c.expires) {
		e.mu.Unlock()
		e.fail(w, r, 40029)
		return
	}
	c.used = true
	p, _ := e.personLocked(c.person)
	phone := p.Phone
	e.mu.Unlock()
	var body phoneBody
	body.ErrMsg = "ok"
	body.PhoneInfo.PhoneNumber = phone
	body.PhoneInfo.PurePhoneNumber = phone
	body.PhoneInfo.CountryCode = 86
	body.PhoneInfo.Watermark.Timestamp = now.Unix()
	body.PhoneInfo.Watermark.AppID = tok.appID
	writeJSON(w, "application/json; charset=UTF-8", body)
}
