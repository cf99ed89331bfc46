package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"wxcas/audit"
	"wxcas/binding"
	"wxcas/cas"
	"wxcas/flow"
	"wxcas/i18n"
	"wxcas/login"
	"wxcas/otp"
	"wxcas/wechat"
)

// Completer finishes a login once the person is known: the CAS server
// (TGT + cookie + ST redirect), or a hand-off to another CAS.
type Completer interface {
	CompleteLogin(w http.ResponseWriter, r *http.Request, req cas.LoginRequest, p cas.Principal) error
}

// FlowOptions configure the browser login flow.
type FlowOptions struct {
	Logger    *slog.Logger
	Pages     *Pages
	Flows     *flow.Store
	Login     *login.Service
	WeChat    *wechat.Client
	Completer Completer
	// Accepts, when set, says whether a login for the service can be
	// completed (the Apereo hand-off needs the service's token secrets); a
	// refused one is stopped before the person scans anything.
	Accepts   func(req cas.LoginRequest) bool
	Now       func() time.Time
	PublicURL *url.URL

	WebsiteAppID           string
	OfficialAccountAppID   string
	OfficialAccountUnionID bool
	QRMode                 string // inline | redirect
	// IframeQR shows the inline QR in our own iframe instead of wxLogin.js
	// (the sandbox: wxLogin.js only knows the real WeChat).
	IframeQR       bool
	FlowTTL        time.Duration
	ResendCooldown time.Duration
	PhoneRegion    string

	SessionAuthKey, SessionCryptKey []byte // signed + encrypted flow cookie
	StateKey                        []byte // keys the stored hashes of nonces and states
	// Audit records logins, bindings and refusals (never fails a login).
	Audit audit.Log
}

// AuditEvent is what the flow reports for the audit log; Account is the
// WeChat app account, when known.
type AuditEvent struct {
	Kind, Outcome, UserID, Channel, ClientIP, Service, Phone string
	Account                                                  binding.Account
}

// Flows serves the browser login: /cas/login hands over through
// Authenticate, then /login (the pages), /wechat/callback and the forms.
type Flows struct {
	o        FlowOptions
	cookies  *sessions.CookieStore
	callback string
	secure   bool
	// base is public_url's path ("" or e.g. "/wxcas"), which a proxy in
	// front strips: routes are at the root, but every URL handed to the
	// browser (redirects, links, cookie paths) must carry it.
	base string
}

const (
	flowCookie   = "wxcas_flow"
	maxFlows     = 4 // logins in progress per browser (tabs)
	purposeNonce = "browser"
	purposeState = "state"
)

// Flow channels, recorded on the flow and in the audit log.
const (
	channelQRInline   = "qr_inline"
	channelQRRedirect = "qr_redirect"
	channelOABase     = "oa_base"
	channelOAUserinfo = "oa_userinfo"
)

// NewFlows builds the flow handlers.
func NewFlows(o FlowOptions) *Flows {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Audit == nil {
		o.Audit = audit.Best(nil, o.Logger)
	}
	secure := o.PublicURL.Scheme == "https"
	base := basePath(o.PublicURL)
	cs := sessions.NewCookieStore(o.SessionAuthKey, o.SessionCryptKey)
	// gorilla's defaults (30 days, not Secure, not HttpOnly) are wrong for a
	// login cookie: it lives as long as a flow and only travels over https.
	cs.Options = &sessions.Options{
		Path: base + "/", MaxAge: int(o.FlowTTL.Seconds()), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	}
	cs.MaxAge(int(o.FlowTTL.Seconds()))
	return &Flows{o: o, cookies: cs, secure: secure, base: base, callback: strings.TrimSuffix(o.PublicURL.String(), "/") + "/wechat/callback"}
}

// Register adds the flow routes; the form routes are CSRF-protected.
func (h *Flows) Register(e *echo.Echo) {
	e.GET("/wechat/callback", h.handleCallback)
	g := e.Group("/login", sameOrigin(h.o.PublicURL, h.o.Pages), middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "form:_csrf",
		CookieName:     "wxcas_csrf",
		CookiePath:     h.base + "/login",
		CookieHTTPOnly: true,
		CookieSecure:   h.secure,
		CookieSameSite: http.SameSiteLaxMode,
		CookieMaxAge:   int(h.o.FlowTTL.Seconds()),
	}))
	g.GET("", h.handlePage)
	g.POST("/phone", h.handlePhone)
	g.POST("/resend", h.handleResend)
	g.POST("/code", h.handleCode)
	g.POST("/change-phone", h.handleChangePhone)
}

// Authenticate implements cas.Authenticator: it starts a flow for the
// request, binds it to this browser and shows its first page.
func (h *Flows) Authenticate(w http.ResponseWriter, r *http.Request, req cas.LoginRequest) {
	ctx := r.Context()
	if h.o.Accepts != nil && !h.o.Accepts(req) {
		h.o.Logger.WarnContext(ctx, "login refused: the service cannot receive this login", "service", req.ServiceID)
		_ = h.o.Pages.Error(w, r, http.StatusBadRequest, "service_unknown_title", "service_unknown", "")
		return
	}
	raw, _ := json.Marshal(req)
	now := h.o.Now()
	nonce := flow.RandomToken()
	f := &flow.Flow{
		ID: flow.RandomToken(), BrowserHash: flow.Hash(h.o.StateKey, purposeNonce, nonce), Step: flow.StepWeChat,
		Request: string(raw), CreatedAt: now, ExpiresAt: now.Add(h.o.FlowTTL),
	}
	if err := h.o.Flows.Create(ctx, f); err != nil {
		h.fail(w, r, err)
		return
	}
	sess, _ := h.cookies.Get(r, flowCookie) // a bad old cookie just starts empty
	remember(sess, f.ID, nonce)
	if err := sess.Save(r, w); err != nil {
		h.fail(w, r, err)
		return
	}
	h.o.Logger.InfoContext(ctx, "login flow started", "flow", short(f.ID), "service", req.ServiceID)
	http.Redirect(w, r, h.flowURL(f), http.StatusSeeOther)
}

func remember(sess *sessions.Session, id, nonce string) {
	n := 0
	for k := range sess.Values {
		if n++; n >= maxFlows {
			delete(sess.Values, k)
		}
	}
	sess.Values[id] = nonce
}

// load returns the flow named in the request if it is live and belongs to
// this browser; otherwise it has rendered an explanation and returns nil.
func (h *Flows) load(c echo.Context, id string) *flow.Flow {
	r, w := c.Request(), c.Response()
	f, err := h.o.Flows.Get(r.Context(), id, h.o.Now())
	if errors.Is(err, flow.ErrNotFound) {
		if service, ok := h.finished(r, id, ""); ok {
			// A reload or the back button after the login finished.
			_ = c.Redirect(http.StatusSeeOther, h.loginURL(service))
			return nil
		}
	}
	if errors.Is(err, flow.ErrNotFound) || (err == nil && !h.ownedByBrowser(r, f)) {
		if err == nil {
			h.o.Logger.WarnContext(r.Context(), "login flow used from another browser", "flow", short(id))
		}
		_ = h.o.Pages.Error(w, r, http.StatusBadRequest, "flow_expired_title", "flow_expired", "")
		return nil
	}
	if err != nil {
		h.fail(w, r, err)
		return nil
	}
	return f
}

func (h *Flows) ownedByBrowser(r *http.Request, f *flow.Flow) bool {
	sess, err := h.cookies.Get(r, flowCookie)
	if err != nil {
		return false
	}
	nonce, _ := sess.Values[f.ID].(string)
	return nonce != "" && flow.HashEqual(flow.Hash(h.o.StateKey, purposeNonce, nonce), f.BrowserHash)
}

func (h *Flows) request(f *flow.Flow) cas.LoginRequest {
	var req cas.LoginRequest
	_ = json.Unmarshal([]byte(f.Request), &req)
	return req
}

// restartURL starts the login for the flow's service afresh.
func (h *Flows) restartURL(f *flow.Flow) string { return h.loginURL(h.request(f).ServiceURL) }

// loginURL is /cas/login for service, as the browser must request it: with
// an SSO session it issues a ticket at once, otherwise it starts a login.
func (h *Flows) loginURL(service string) string {
	if service == "" {
		return h.base + "/cas/login"
	}
	return h.base + "/cas/login?service=" + url.QueryEscape(service)
}

// flowURL is the flow's page, as the browser must request it.
func (h *Flows) flowURL(f *flow.Flow) string { return h.base + "/login?flow=" + url.QueryEscape(f.ID) }

// handlePage shows the flow's current step.
func (h *Flows) handlePage(c echo.Context) error {
	f := h.load(c, c.QueryParam("flow"))
	if f == nil {
		return nil
	}
	switch f.Step {
	case flow.StepWeChat:
		return h.startWeChat(c, f)
	case flow.StepBindPhone:
		return h.renderBind(c, f, http.StatusOK, "", "", "")
	case flow.StepVerifyCode:
		return h.renderCode(c, f, http.StatusOK, "", "", 0)
	default: // done: the SSO session exists; /cas/login issues the ticket
		return c.Redirect(http.StatusSeeOther, h.restartURL(f))
	}
}

// startWeChat sends the browser to WeChat the way that works for it.
func (h *Flows) startWeChat(c echo.Context, f *flow.Flow) error {
	r := c.Request()
	ua := r.UserAgent()
	inWeChat := strings.Contains(ua, "MicroMessenger")
	mobile := !inWeChat && isMobile(ua) && c.QueryParam("qr") != "1"
	req := h.request(f)
	switch {
	case inWeChat && h.o.OfficialAccountAppID != "":
		return h.redirectOA(c, f, channelOABase)
	case inWeChat || (mobile && h.o.WebsiteAppID == ""):
		return h.o.Pages.Render(c.Response(), r, http.StatusOK, "login_mobile", mobileData{
			MessageKey: "mobile_in_wechat_no_oa", Link: h.absolute(h.restartURL(f)),
		})
	case mobile:
		return h.o.Pages.Render(c.Response(), r, http.StatusOK, "login_mobile", mobileData{
			MessageKey: "mobile_in_browser", Link: h.absolute(h.restartURL(f)), QRURL: h.flowURL(f) + "&qr=1",
		})
	}
	state, err := h.newState(c, f, qrChannel(h.o.QRMode))
	if err != nil || state == "" {
		return err
	}
	lang := ""
	if i18n.Pick(r) == i18n.EN {
		lang = "en"
	}
	if h.o.QRMode == "redirect" {
		u, err := h.o.WeChat.QRConnectURL(h.o.WebsiteAppID, h.callback, state, lang)
		if err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, u)
	}
	opts, err := h.o.WeChat.WxLogin(h.o.WebsiteAppID, "wx-qr", h.callback, state)
	if err != nil {
		return err
	}
	opts.Lang, opts.SelfRedirect, opts.StyleLite = lang, false, true
	data := qrData{ServiceName: req.ServiceName, RefreshURL: h.flowURL(f)}
	if h.o.IframeQR {
		data.IframeURL = h.o.WeChat.WxLoginIframeURL(opts)
	} else {
		data.WxLogin = &opts
	}
	return h.o.Pages.Render(c.Response(), r, http.StatusOK, "login_qr", data)
}

type qrData struct {
	ServiceName string
	IframeURL   string
	// WxLogin goes to the page as the value itself, not as pre-marshalled
	// JSON: html/template treats <script type="application/json"> as a
	// script context and JSON-encodes what it is given, so a JSON string
	// would arrive as a string literal and wxLogin.js would draw nothing.
	WxLogin    *wechat.WxLoginOptions
	RefreshURL string
}

type mobileData struct {
	MessageKey, Link, QRURL string
}

func qrChannel(mode string) string {
	if mode == "redirect" {
		return channelQRRedirect
	}
	return channelQRInline
}

func isMobile(ua string) bool {
	for _, m := range []string{"Mobi", "Android", "iPhone", "iPad", "HarmonyOS"} {
		if strings.Contains(ua, m) {
			return true
		}
	}
	return false
}

// absolute makes a URL from a path that already carries the base.
func (h *Flows) absolute(path string) string {
	return h.o.PublicURL.Scheme + "://" + h.o.PublicURL.Host + path
}

// newState issues a fresh WeChat state for the flow (replacing any earlier
// one: only the QR code on screen can complete the login). WeChat allows
// [A-Za-z0-9]{1,128}, hence hex. It returns "" when it has already answered
// (a concurrent change of the flow).
func (h *Flows) newState(c echo.Context, f *flow.Flow, channel string) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	state := hex.EncodeToString(b[:])
	f.StateHash, f.StateUsed, f.Channel = flow.Hash(h.o.StateKey, purposeState, state), false, channel
	if err := h.o.Flows.Update(c.Request().Context(), f); errors.Is(err, flow.ErrConflict) {
		return "", c.Redirect(http.StatusSeeOther, h.flowURL(f))
	} else if err != nil {
		return "", err
	}
	return state, nil
}

func (h *Flows) redirectOA(c echo.Context, f *flow.Flow, channel string) error {
	state, err := h.newState(c, f, channel)
	if err != nil || state == "" {
		return err
	}
	scope := wechat.ScopeBase
	if channel == channelOAUserinfo {
		scope = wechat.ScopeUserInfo
	}
	u, err := h.o.WeChat.OAuthURL(h.o.OfficialAccountAppID, h.callback, scope, state, false)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, u)
}

// handleCallback is where WeChat sends the browser back with code and state.
func (h *Flows) handleCallback(c echo.Context) error {
	r, w := c.Request(), c.Response()
	ctx := r.Context()
	state := c.QueryParam("state")
	f := h.flowForState(r, state)
	if f == nil && state != "" {
		if service, ok := h.finished(r, "", flow.Hash(h.o.StateKey, purposeState, state)); ok {
			// The callback of a login this browser already finished.
			return c.Redirect(http.StatusSeeOther, h.loginURL(service))
		}
	}
	if f == nil {
		h.o.Logger.WarnContext(ctx, "wechat callback with an unknown state")
		h.audit(ctx, AuditEvent{Kind: "refusal", Outcome: "state_invalid", ClientIP: c.RealIP()})
		return h.o.Pages.Error(w, r, http.StatusBadRequest, "state_invalid_title", "state_invalid", "")
	}
	code := c.QueryParam("code")
	if code == "" {
		h.audit(ctx, AuditEvent{Kind: "refusal", Outcome: "wechat_refused", Channel: f.Channel, ClientIP: c.RealIP(), Service: h.request(f).ServiceID})
		return h.o.Pages.Error(w, r, http.StatusOK, "wechat_refused_title", "wechat_refused", h.flowURL(f))
	}
	if err := h.o.Flows.UseState(ctx, f.ID, flow.Hash(h.o.StateKey, purposeState, state), h.o.Now()); errors.Is(err, flow.ErrStateUsed) {
		// WeChat (or an impatient user) sent the same callback twice: let
		// the first one finish and show where the login stands.
		return h.afterDuplicateCallback(c, f)
	} else if err != nil {
		return err
	}
	f.StateUsed = true
	f.Version++
	return h.identify(c, f, code)
}

// flowForState finds which of this browser's flows issued state.
func (h *Flows) flowForState(r *http.Request, state string) *flow.Flow {
	if state == "" {
		return nil
	}
	sess, err := h.cookies.Get(r, flowCookie)
	if err != nil {
		return nil
	}
	want := flow.Hash(h.o.StateKey, purposeState, state)
	for k := range sess.Values {
		id, ok := k.(string)
		if !ok {
			continue
		}
		f, err := h.o.Flows.Get(r.Context(), id, h.o.Now())
		if err == nil && f.StateHash != "" && flow.HashEqual(f.StateHash, want) && h.ownedByBrowser(r, f) {
			return f
		}
	}
	return nil
}

func (h *Flows) afterDuplicateCallback(c echo.Context, f *flow.Flow) error {
	ctx := c.Request().Context()
	for range 30 { // up to ~3 s for the first callback to move the flow on
		cur, err := h.o.Flows.Get(ctx, f.ID, h.o.Now())
		if errors.Is(err, flow.ErrNotFound) {
			// The first callback finished the login and deleted the flow
			// (this request still carries the cookie from before).
			return c.Redirect(http.StatusSeeOther, h.restartURL(f))
		}
		if err != nil {
			break
		}
		if cur.Step != flow.StepWeChat || cur.Channel != f.Channel {
			return c.Redirect(http.StatusSeeOther, h.flowURL(cur))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	h.audit(ctx, AuditEvent{Kind: "refusal", Outcome: "state_replayed", Channel: f.Channel, ClientIP: c.RealIP()})
	return h.o.Pages.Error(c.Response(), c.Request(), http.StatusBadRequest, "state_invalid_title", "state_invalid", h.flowURL(f))
}

// identify exchanges the code, records the WeChat account and either
// completes the login (bound) or asks for a phone number (first login).
func (h *Flows) identify(c echo.Context, f *flow.Flow, code string) error {
	r, w := c.Request(), c.Response()
	ctx := r.Context()
	appID := h.o.WebsiteAppID
	if f.Channel == channelOABase || f.Channel == channelOAUserinfo {
		appID = h.o.OfficialAccountAppID
	}
	tok, err := h.o.WeChat.ExchangeCode(ctx, appID, code)
	if errors.Is(err, wechat.ErrSnapshotUser) {
		h.audit(ctx, AuditEvent{Kind: "refusal", Outcome: "snapshot_user", Channel: f.Channel, ClientIP: c.RealIP()})
		return h.o.Pages.Error(w, r, http.StatusOK, "snapshot_title", "snapshot", h.restartURL(f))
	}
	if err != nil {
		h.o.Logger.WarnContext(ctx, "wechat code exchange failed", "channel", f.Channel, "err", err)
		h.audit(ctx, AuditEvent{Kind: "refusal", Outcome: "wechat_error", Channel: f.Channel, ClientIP: c.RealIP()})
		msg := "wechat_failed"
		if wechat.IsRetryable(err) {
			msg = "wechat_busy"
		}
		return h.o.Pages.Error(w, r, http.StatusBadGateway, "wechat_failed_title", msg, h.flowURL(f))
	}
	id := login.Identity{Account: binding.Account{AppID: appID, OpenID: tok.OpenID, UnionID: tok.UnionID}}
	if tok.HasScope(wechat.ScopeLogin) || tok.HasScope(wechat.ScopeUserInfo) {
		if info, err := h.o.WeChat.UserInfo(ctx, tok.AccessToken, tok.OpenID, "zh_CN"); err == nil {
			id.Nickname, id.AvatarURL = info.Nickname, info.HeadImgURL
			if id.UnionID == "" {
				id.UnionID = info.UnionID
			}
		} else {
			h.o.Logger.InfoContext(ctx, "wechat user info unavailable; continuing without nickname", "err", err)
		}
	}
	user, err := h.o.Login.Identify(ctx, id)
	switch {
	case err == nil:
		return h.complete(c, f, user, id)
	case errors.Is(err, login.ErrUnbound) && f.Channel == channelOABase && h.o.OfficialAccountUnionID && id.UnionID == "":
		// snsapi_base does not reveal the unionid; the person may already be
		// bound through another app. Ask once for snsapi_userinfo.
		return h.redirectOA(c, f, channelOAUserinfo)
	case errors.Is(err, login.ErrUnbound):
		f.Step, f.AppID, f.OpenID, f.UnionID, f.Nickname, f.AvatarURL = flow.StepBindPhone, id.AppID, id.OpenID, id.UnionID, id.Nickname, id.AvatarURL
		if err := h.o.Flows.Update(ctx, f); err != nil && !errors.Is(err, flow.ErrConflict) {
			return err
		}
		return c.Redirect(http.StatusSeeOther, h.flowURL(f))
	default:
		return err
	}
}

// complete hands the identified user to the CAS server (or the hand-off).
func (h *Flows) complete(c echo.Context, f *flow.Flow, user binding.User, id login.Identity) error {
	r, w := c.Request(), c.Response()
	ctx := r.Context()
	// The finished flow is deleted (see flowdone.go); of two requests
	// finishing it, one wins. The loser shows where the login stands, or,
	// if the flow is gone, what a late request for it gets.
	if err := h.o.Flows.Finish(ctx, f); errors.Is(err, flow.ErrConflict) {
		if _, err := h.o.Flows.Get(ctx, f.ID, h.o.Now()); errors.Is(err, flow.ErrNotFound) {
			return c.Redirect(http.StatusSeeOther, h.restartURL(f))
		}
		return c.Redirect(http.StatusSeeOther, h.flowURL(f))
	} else if err != nil {
		return err
	}
	h.markDone(w, r, f)
	req := h.request(f)
	h.audit(ctx, AuditEvent{Kind: "login", Outcome: "ok", UserID: user.ID, Account: id.Account, Channel: f.Channel, ClientIP: c.RealIP(), Service: req.ServiceID})
	if err := h.o.Completer.CompleteLogin(w, r, req, login.Principal(user, id, h.o.Now())); err != nil {
		h.o.Logger.ErrorContext(ctx, "completing the login failed", "user", user.ID, "err", err)
	}
	return nil
}

// identity is the flow's WeChat person. The flow is the holder of the SMS
// codes it asks for: a code sent in this flow verifies only in this flow.
// (The otp service stores only a keyed hash of the id.)
func (h *Flows) identity(f *flow.Flow) login.Identity {
	return login.Identity{
		Account: binding.Account{AppID: f.AppID, OpenID: f.OpenID, UnionID: f.UnionID, Nickname: f.Nickname, AvatarURL: f.AvatarURL},
		Holder:  "flow:" + f.ID,
	}
}

// formFlow loads the flow a form was posted for and checks its step.
func (h *Flows) formFlow(c echo.Context, steps ...flow.Step) *flow.Flow {
	f := h.load(c, c.FormValue("flow"))
	if f == nil {
		return nil
	}
	for _, s := range steps {
		if f.Step == s {
			return f
		}
	}
	_ = c.Redirect(http.StatusSeeOther, h.flowURL(f)) // a stale form: show the current step
	return nil
}

func (h *Flows) handlePhone(c echo.Context) error {
	f := h.formFlow(c, flow.StepBindPhone, flow.StepVerifyCode)
	if f == nil {
		return nil
	}
	raw := strings.TrimSpace(c.FormValue("phone"))
	phone, err := otp.ParsePhone(raw, h.o.PhoneRegion)
	if err != nil {
		return h.renderBind(c, f, http.StatusUnprocessableEntity, raw, "invalid_phone", "")
	}
	return h.send(c, f, phone, raw)
}

func (h *Flows) handleResend(c echo.Context) error {
	f := h.formFlow(c, flow.StepVerifyCode)
	if f == nil {
		return nil
	}
	return h.send(c, f, otp.Phone(f.Phone), f.Phone)
}

func (h *Flows) send(c echo.Context, f *flow.Flow, phone otp.Phone, raw string) error {
	ctx := c.Request().Context()
	id := h.identity(f)
	_, err := h.o.Login.SendCode(ctx, id, phone, c.RealIP())
	if err != nil {
		key, detail, status := sendError(c, err)
		h.audit(ctx, AuditEvent{Kind: "refusal", Outcome: refusalOutcome(key), Account: id.Account, Channel: f.Channel, ClientIP: c.RealIP(), Phone: phone.Masked()})
		if key == "" {
			return err
		}
		if f.Step == flow.StepVerifyCode && string(phone) == f.Phone {
			return h.renderCode(c, f, status, key, detail, 0)
		}
		return h.renderBind(c, f, status, raw, key, detail)
	}
	f.Step, f.Phone = flow.StepVerifyCode, string(phone)
	if err := h.o.Flows.Update(ctx, f); err != nil && !errors.Is(err, flow.ErrConflict) {
		return err
	}
	return h.renderCode(c, f, http.StatusOK, "", "", int(h.o.ResendCooldown.Seconds()))
}

// refusalOutcome is the audit outcome of a refusal shown under message key.
// Message keys are the API's error codes, but three of the pages' audit
// outcomes are older than that and stay: stored events and the
// wxcas_login_events_total labels are what dashboards query.
func refusalOutcome(key string) string {
	switch key {
	case "invalid_phone":
		return "phone_invalid"
	case "sms_budget_exhausted":
		return "budget"
	case "user_bound_elsewhere":
		return audit.UserBound
	}
	return key
}

// sendError turns a refused send into catalogued text ("" for internal errors).
func sendError(c echo.Context, err error) (key, detail string, status int) {
	lang := i18n.Pick(c.Request())
	var le *otp.LimitError
	switch {
	case errors.Is(err, otp.ErrBudgetExhausted):
		return "sms_budget_exhausted", "", http.StatusServiceUnavailable
	case errors.As(err, &le):
		retry := (le.RetryAfter + time.Second - 1).Truncate(time.Second)
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(retry.Seconds())))
		return "rate_limited", fmt.Sprintf(i18n.T(lang, "err_retry_in"), retry), http.StatusTooManyRequests
	case errors.Is(err, login.ErrUnknownPhone):
		return "unknown_phone", "", http.StatusUnprocessableEntity
	case errors.Is(err, otp.ErrInvalidPhone):
		return "invalid_phone", "", http.StatusUnprocessableEntity
	case errors.Is(err, otp.ErrSendFailed):
		return "sms_failed", "", http.StatusBadGateway
	}
	return "", "", 0
}

func (h *Flows) handleCode(c echo.Context) error {
	f := h.formFlow(c, flow.StepVerifyCode)
	if f == nil {
		return nil
	}
	ctx := c.Request().Context()
	id := h.identity(f)
	phone := otp.Phone(f.Phone)
	user, err := h.o.Login.Bind(ctx, id, phone, c.FormValue("code"))
	if err == nil {
		h.audit(ctx, AuditEvent{Kind: "bind", Outcome: "ok", UserID: user.ID, Account: id.Account, Channel: f.Channel, ClientIP: c.RealIP(), Phone: phone.Masked(), Service: h.request(f).ServiceID})
		return h.complete(c, f, user, id)
	}
	if errors.Is(err, login.ErrPersonBound) {
		// Bound meanwhile (another tab): log in as whoever it is bound to.
		if user, err := h.o.Login.Identify(ctx, id); err == nil {
			return h.complete(c, f, user, id)
		}
	}
	lang := i18n.Pick(c.Request())
	var key, detail string
	var mm *otp.MismatchError
	switch {
	case errors.Is(err, otp.ErrMalformedCode):
		// A typo, not a guess: no attempt was used, so no count is shown.
		key = "malformed_code"
	case errors.Is(err, otp.ErrTooManyAttempts):
		key = "too_many_attempts"
	case errors.As(err, &mm):
		key, detail = "wrong_code", fmt.Sprintf(i18n.T(lang, "err_attempts_left"), mm.AttemptsLeft)
	case errors.Is(err, otp.ErrExpired), errors.Is(err, otp.ErrNoCode):
		key = "code_expired"
	case errors.Is(err, login.ErrUserBound):
		key = "user_bound_elsewhere"
	case errors.Is(err, login.ErrUnknownPhone):
		key = "unknown_phone"
	default:
		return err
	}
	h.audit(ctx, AuditEvent{Kind: "refusal", Outcome: refusalOutcome(key), Account: id.Account, Channel: f.Channel, ClientIP: c.RealIP(), Phone: phone.Masked()})
	return h.renderCode(c, f, http.StatusUnprocessableEntity, key, detail, 0)
}

func (h *Flows) handleChangePhone(c echo.Context) error {
	f := h.formFlow(c, flow.StepVerifyCode)
	if f == nil {
		return nil
	}
	f.Step, f.Phone = flow.StepBindPhone, ""
	if err := h.o.Flows.Update(c.Request().Context(), f); err != nil && !errors.Is(err, flow.ErrConflict) {
		return err
	}
	return c.Redirect(http.StatusSeeOther, h.flowURL(f))
}

type bindData struct {
	FlowID, CSRF, Nickname, Phone, ErrorKey, ErrorDetail string
}

type codeData struct {
	FlowID, CSRF, MaskedPhone, ErrorKey, ErrorDetail string
	ResendAfter                                      int
}

func csrfToken(c echo.Context) string {
	s, _ := c.Get(middleware.DefaultCSRFConfig.ContextKey).(string)
	return s
}

func (h *Flows) renderBind(c echo.Context, f *flow.Flow, status int, phone, errKey, detail string) error {
	return h.o.Pages.Render(c.Response(), c.Request(), status, "login_bind", bindData{
		FlowID: f.ID, CSRF: csrfToken(c), Nickname: f.Nickname, Phone: phone, ErrorKey: errKey, ErrorDetail: detail,
	})
}

func (h *Flows) renderCode(c echo.Context, f *flow.Flow, status int, errKey, detail string, resendAfter int) error {
	return h.o.Pages.Render(c.Response(), c.Request(), status, "login_code", codeData{
		FlowID: f.ID, CSRF: csrfToken(c), MaskedPhone: otp.Phone(f.Phone).Masked(), ErrorKey: errKey, ErrorDetail: detail, ResendAfter: resendAfter,
	})
}

func (h *Flows) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.o.Logger.ErrorContext(r.Context(), "login flow failed", "err", err)
	status, key := http.StatusInternalServerError, "error_internal"
	if Unavailable(err) {
		status, key = http.StatusServiceUnavailable, "error_unavailable"
	}
	_ = h.o.Pages.Error(w, r, status, "error_title", key, "")
}

func (h *Flows) audit(ctx context.Context, e AuditEvent) {
	channel := e.Channel
	if strings.HasPrefix(channel, "oa_") {
		channel = audit.ChannelOA
	}
	_ = h.o.Audit.Record(ctx, audit.Event{
		At: h.o.Now(), Kind: e.Kind, Outcome: e.Outcome, UserID: e.UserID, AppID: e.Account.AppID, OpenID: e.Account.OpenID,
		UnionID: e.Account.UnionID, Channel: channel, ClientIP: e.ClientIP, Service: e.Service, Phone: e.Phone,
	})
}

// short shortens an id for logs.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
