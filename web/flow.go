package web

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"wxcas/cas"
	"wxcas/finish"
	"wxcas/i18n"
	"wxcas/journey"
	"wxcas/metrics"
	"wxcas/otp"
	"wxcas/ratelimit"
	"wxcas/wechat"
)

// LoginOptions configure the browser login.
type LoginOptions struct {
	Logger *slog.Logger
	Pages  *Pages
	// Engine runs the login journey; the handlers only translate requests
	// into its events and its answers into pages and redirects.
	Engine journey.Journeys
	// Finisher issues the result of a journey that ended with a person
	// (finish.CAS, or finish.Apereo for the hand-off).
	Finisher journey.Finisher
	// Accepts, when set, says whether a login for the service can be
	// finished (the Apereo hand-off needs the service's token secrets); a
	// refused one is stopped before the person scans anything.
	Accepts   func(req cas.LoginRequest) bool
	Now       func() time.Time
	PublicURL *url.URL
	// WeChat only builds the URLs that send the browser to WeChat; the
	// engine is the one to call WeChat.
	WeChat *wechat.Client

	WebsiteAppID string
	// OfficialAccountAppID is the Official Account a login inside WeChat
	// starts from when the entry link (appid=) and the service name none;
	// EntryAccounts names one per service id. "" and no entry: people
	// inside WeChat are told to log in on a computer.
	OfficialAccountAppID string
	EntryAccounts        map[string]string
	// AccountState, when set, says whether an Official Account can log
	// people in now: one served through a third-party platform cannot when
	// it withdrew its authorization of the platform (WeChat's unauthorized
	// event) or before WeChat pushed the platform a first ticket. Such a
	// login gets a clear page instead of a trip to WeChat that cannot
	// succeed.
	AccountState func(ctx context.Context, appID string) (AccountState, error)
	QRMode       string // inline | redirect
	// IframeQR shows the inline QR in our own iframe instead of wxLogin.js
	// (the sandbox: wxLogin.js only knows the real WeChat).
	IframeQR bool
	// FlowTTL bounds a browser journey and its CSRF cookie.
	FlowTTL time.Duration
	// Afterlife is how long the browser's journey cookie outlives its
	// journeys (default an hour, as long as the clean-up keeps an expired
	// journey's row): a late page still restarts the login for the same
	// service. The cookie keeps only the service that long (see lapse).
	Afterlife time.Duration
	// QRLifetime is how long one QR code is shown before the page swaps it
	// for a new one by itself (default 5 minutes): no dead code is left on
	// a screen someone walked away from.
	QRLifetime time.Duration
	// ResendCooldown is the countdown shown after a send when the engine
	// did not say how long it is.
	ResendCooldown time.Duration

	SessionAuthKey, SessionCryptKey []byte // sign and encrypt the login cookies
	StateKey                        []byte // keys the stored hashes of nonces and WeChat states

	// Limiter counts PerIP (on its own table, login_rate_counters).
	Limiter ratelimit.Limiter
	// PerIP bounds, per client address, the journeys started and the
	// WeChat callbacks: each start writes a journey row, each callback may
	// cost a call to WeChat and an audit row. Max 0 turns it off.
	PerIP ratelimit.Limit
	// Funnel counts the QR codes shown (nil: not counted); the engine
	// counts the steps after.
	Funnel metrics.Funnel
}

// Login serves the browser login: /cas/login hands over through
// Authenticate, then /login (the page of the journey's current state),
// /wechat/callback and the forms. Every step is an event of the journey
// (package journey); no handler decides a state.
type Login struct {
	o        LoginOptions
	journeys *sessions.CookieStore
	notices  *sessions.CookieStore
	callback string
	secure   bool
	// base is public_url's path ("" or e.g. "/wxcas"), which a proxy in
	// front strips: routes are at the root, but every URL handed to the
	// browser (redirects, links, cookie paths) must carry it.
	base string
	// realIP is the client address as Echo resolves it (trusted proxies
	// considered), set by Register: Authenticate gets a plain request from
	// the CAS handler, without the echo.Context whose RealIP it would use.
	realIP echo.IPExtractor
}

var _ cas.Authenticator = (*Login)(nil)

// NewLogin builds the browser login handlers.
func NewLogin(o LoginOptions) (*Login, error) {
	var missing []string
	for name, absent := range map[string]bool{
		"Pages": o.Pages == nil, "Engine": o.Engine == nil, "Finisher": o.Finisher == nil, "PublicURL": o.PublicURL == nil,
		"WeChat": o.WeChat == nil, "SessionAuthKey": len(o.SessionAuthKey) == 0, "StateKey": len(o.StateKey) == 0,
	} {
		if absent {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("web: browser login: %s required", strings.Join(missing, ", "))
	}
	switch len(o.SessionCryptKey) {
	case 16, 24, 32:
	default:
		return nil, errors.New("web: browser login: SessionCryptKey must be an AES key (16, 24 or 32 bytes)")
	}
	if o.FlowTTL <= 0 {
		return nil, errors.New("web: browser login: FlowTTL must be positive")
	}
	if o.PerIP.Max > 0 && o.Limiter.DB == nil {
		return nil, errors.New("web: browser login: PerIP needs a Limiter")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Afterlife <= 0 {
		o.Afterlife = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	secure := o.PublicURL.Scheme == "https"
	base := basePath(o.PublicURL)
	// gorilla's defaults (30 days, not Secure, not HttpOnly) are wrong for
	// login cookies: they live as long as a journey and its afterlife (a
	// notice, a minute) and only travel over https.
	cookieStore := func(maxAge time.Duration) *sessions.CookieStore {
		cs := sessions.NewCookieStore(o.SessionAuthKey, o.SessionCryptKey)
		cs.MaxAge(int(maxAge.Seconds()))
		for _, codec := range cs.Codecs {
			if sc, ok := codec.(*securecookie.SecureCookie); ok {
				sc.SetSerializer(stringCookies{})
			}
		}
		cs.Options = &sessions.Options{
			Path: base + "/", MaxAge: int(maxAge.Seconds()), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
		}
		return cs
	}
	notices := cookieStore(noticeTTL)
	notices.Options.Path = base + "/login"
	return &Login{
		o: o, journeys: cookieStore(o.FlowTTL + o.Afterlife), notices: notices, secure: secure, base: base,
		callback: strings.TrimSuffix(o.PublicURL.String(), "/") + "/wechat/callback",
		// Until Register: the peer's address, never a header anyone can set.
		realIP: echo.ExtractIPDirect(),
	}, nil
}

// Register adds the login routes. The forms are CSRF-protected and must
// come from our own origin; a refused token shows the expiry page (the
// CSRF cookie lives as long as a journey) rather than a bare 403.
func (h *Login) Register(e *echo.Echo) {
	if e.IPExtractor != nil {
		h.realIP = e.IPExtractor
	}
	e.GET("/wechat/callback", h.wechatCallback)
	g := e.Group("/login", sameOrigin(h.o.PublicURL, h.o.Pages), middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "form:_csrf",
		CookieName:     "wxcas_csrf",
		CookiePath:     h.base + "/login",
		CookieHTTPOnly: true,
		CookieSecure:   h.secure,
		CookieSameSite: http.SameSiteLaxMode,
		CookieMaxAge:   int(h.o.FlowTTL.Seconds()),
		ErrorHandler:   h.csrfRefused,
	}))
	g.GET("", h.page)
	// "altcha": the ALTCHA widget's solution, when the page had a challenge.
	g.POST("/phone", h.form(formPhone, func(c echo.Context) journey.Event {
		return journey.PhoneEntered{Number: c.FormValue("phone"), Solution: c.FormValue("altcha")}
	}))
	g.POST("/resend", h.form(formResend, func(c echo.Context) journey.Event { return journey.Resend{Solution: c.FormValue("altcha")} }))
	g.POST("/code", h.form(formCode, func(c echo.Context) journey.Event { return journey.CodeEntered{Code: c.FormValue("code")} }))
	g.POST("/change-phone", h.form("", func(echo.Context) journey.Event { return journey.ChangeNumber{} }))
	g.POST("/cancel", h.form(formCancel, func(echo.Context) journey.Event { return journey.Cancel{} }))
}

// Authenticate implements cas.Authenticator: it starts a journey for the
// request, binds it to this browser and sends the browser to its page.
func (h *Login) Authenticate(w http.ResponseWriter, r *http.Request, req cas.LoginRequest) {
	ctx := r.Context()
	if h.o.Accepts != nil && !h.o.Accepts(req) {
		h.o.Logger.WarnContext(ctx, "login refused: the service cannot receive this login", "service", req.ServiceID)
		_ = h.o.Pages.Error(w, r, http.StatusBadRequest, "service_unknown_title", "service_unknown", "")
		return
	}
	// Two: the start and the WeChat answer it is waiting for (the
	// journey's first state needs no count of its own; see newStateFor).
	if h.limited(w, r, 2) {
		return
	}
	entry, ok := h.entryAccount(r, req)
	if !ok {
		h.o.Logger.InfoContext(ctx, "login refused: the entry link names no configured Official Account", "service", req.ServiceID)
		_ = h.o.Pages.Error(w, r, http.StatusBadRequest, "entry_unknown_title", "entry_unknown", "")
		return
	}
	// rand.Text is the one random id: 26 letters and digits (130 bits),
	// which WeChat's state parameter accepts as well.
	nonce := rand.Text()
	start := journey.Start{
		ID: rand.Text(), Transport: journey.Browser, Service: req.ServiceID, Return: finish.CASReturn(req),
		SecretHash: h.hash(purposeNonce, nonce), TTL: h.o.FlowTTL, EntryAppID: entry,
	}
	if channel, appID := h.channelFor(r, entry, false); channel != "" {
		// The page will show WeChat at once: the journey starts with its
		// first state, and the page writes nothing (newStateFor).
		start.Channel, start.WeChatAppID = channel, appID
		start.WeChatStateHash = h.hash(purposeState, h.firstState(start.ID))
	}
	j, err := h.o.Engine.Start(ctx, start)
	if err == nil {
		err = h.hold(w, r, held{ID: j.ID, Nonce: nonce, Service: req.ServiceURL, Started: h.o.Now().Unix()})
	}
	if err != nil {
		h.failed(w, r, "login journey not started", err)
		return
	}
	h.o.Logger.InfoContext(ctx, "login journey started", "flow", short(j.ID), "service", req.ServiceID)
	target := h.flowURL(j.ID)
	if l := i18n.Norm(r.URL.Query().Get("lang")); l != "" {
		// A language chosen on the entry link carries over to the pages.
		target += "&lang=" + url.QueryEscape(l)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// entryAccount chooses the Official Account a login inside WeChat starts
// from: the entry link's (an OA menu points at /cas/login?service=...&appid=
// <its appid>), else the service's, else the default. A link naming an app
// that is not a configured Official Account is refused (ok false), so a
// typo in a menu shows at once rather than as a login through another
// account.
func (h *Login) entryAccount(r *http.Request, req cas.LoginRequest) (string, bool) {
	if ids := r.URL.Query()["appid"]; len(ids) > 0 {
		app, known := h.o.WeChat.App(ids[0])
		return ids[0], len(ids) == 1 && known && app.Kind == wechat.KindOfficialAccount
	}
	if id := h.o.EntryAccounts[req.ServiceID]; id != "" {
		return id, true
	}
	return h.o.OfficialAccountAppID, true
}

// failed logs err and shows the error page: 503 when the database is out
// of reach, else 500.
func (h *Login) failed(w http.ResponseWriter, r *http.Request, msg string, err error) {
	h.o.Logger.ErrorContext(r.Context(), msg, "err", err)
	status, key := http.StatusInternalServerError, "error_internal"
	if Unavailable(err) {
		status, key = http.StatusServiceUnavailable, "error_unavailable"
	}
	_ = h.o.Pages.Error(w, r, status, "error_title", key, "")
}

// limited counts n calls against PerIP for the request's client address and
// reports whether it has answered: 429 with Retry-After when the address is
// over the limit, the error page when the count failed. What costs rows and
// calls to WeChat counts: a journey start (2: itself and the WeChat answer
// its first state leads to), every further WeChat state a journey issues
// (each can bring one exchange of a code with WeChat), every callback whose
// state no journey of the browser issued, and every callback beyond the one
// its state paid for (journey.Answer.Repeat). A callback with its journey's
// state was counted when the state was, and a journey's own pages and forms
// are bounded by its steps.
func (h *Login) limited(w http.ResponseWriter, r *http.Request, n int) bool {
	wait, err := h.overLimit(r, n)
	return h.answerLimit(w, r, wait, err)
}

// overLimit counts n calls of the request's address: how long to wait
// (0: allowed).
func (h *Login) overLimit(r *http.Request, n int) (time.Duration, error) {
	if h.o.PerIP.Max <= 0 {
		return 0, nil
	}
	subject := ratelimit.ClientSubject(h.realIP(r))
	return h.o.Limiter.HitN(r.Context(), ratelimit.Key("browser_ip", subject), n, h.o.PerIP, h.o.Now())
}

// answerLimit answers a request overLimit refused (429) or could not count
// (the error page), and reports whether it did.
func (h *Login) answerLimit(w http.ResponseWriter, r *http.Request, wait time.Duration, err error) bool {
	if err != nil {
		h.failed(w, r, "login rate limit not counted", err)
		return true
	}
	if wait == 0 {
		return false
	}
	h.o.Logger.InfoContext(r.Context(), "login refused: too many requests from this address", "ip", ratelimit.ClientSubject(h.realIP(r)), "retry_after", wait)
	w.Header().Set("Retry-After", fmt.Sprint(seconds(wait)))
	_ = h.o.Pages.Error(w, r, http.StatusTooManyRequests, "error_title", "error_too_many", "")
	return true
}

// loginURL is /cas/login for service, as the browser must request it: with
// an SSO session it issues a ticket at once, otherwise it starts a login.
func (h *Login) loginURL(service string) string {
	if service == "" {
		return h.base + "/cas/login"
	}
	return h.base + "/cas/login?service=" + url.QueryEscape(service)
}

// flowURL is the page of journey id, as the browser must request it.
func (h *Login) flowURL(id string) string { return h.base + "/login?flow=" + url.QueryEscape(id) }

// absolute makes a URL from a path that already carries the base.
func (h *Login) absolute(path string) string {
	return h.o.PublicURL.Scheme + "://" + h.o.PublicURL.Host + path
}

// request is the CAS login journey j was started for (zero if it holds
// none).
func request(j *journey.Journey) cas.LoginRequest {
	req, _ := finish.CASRequest(j)
	return req
}

// toPage answers a form post: 303 to the journey's page, so that Back and
// Reload never post again.
func (h *Login) toPage(c echo.Context, id string) error {
	target := h.flowURL(id)
	if l := i18n.Norm(c.QueryParam("lang")); l != "" {
		// A language chosen on the form's URL carries over to the page.
		target += "&lang=" + url.QueryEscape(l)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// page shows the journey in its current state, with the notice its last
// form post left.
func (h *Login) page(c echo.Context) error {
	id := c.QueryParam("flow")
	n := h.takeNotice(c, id)
	j, err := h.o.Engine.Load(c.Request().Context(), id, h.from(c, id))
	if oe := journey.AsError(err); oe != nil && oe.Code == journey.CodeExpired && j.State == journey.Finished {
		// A reload or Back long after the login: the SSO session issues
		// the ticket (or a new login starts).
		return c.Redirect(http.StatusSeeOther, h.loginURL(request(j).ServiceURL))
	}
	if err != nil {
		key := "journey_expired"
		if n.Form == formCode && n.Code == journey.CodeExpired {
			key = "journey_expired_code"
		}
		return h.stopped(c, id, err, key)
	}
	switch j.State {
	case journey.WeChatPending:
		return h.toWeChat(c, j)
	case journey.PhoneRequested:
		return h.bindPage(c, j, n)
	case journey.CodeSent:
		if n.Form == formPhone && n.Code != "" {
			// A new number was refused: show it again to be fixed.
			return h.bindPage(c, j, n)
		}
		return h.codePage(c, j, n)
	case journey.Identified, journey.Bound:
		return h.finish(c, j, nil)
	case journey.Finished:
		return c.Redirect(http.StatusSeeOther, h.loginURL(request(j).ServiceURL))
	default: // Failed
		d := ExpiredPage{TitleKey: "login_ended_title", MessageKey: "login_ended", RestartURL: h.loginURL(request(j).ServiceURL)}
		status := journey.CodeEnded.Status()
		if n.Form == formCancel {
			d.TitleKey, d.MessageKey, status = "login_cancelled_title", "login_cancelled", http.StatusOK
		}
		return h.o.Pages.Expired(c.Response(), c.Request(), status, d)
	}
}

// stopped answers a request for a journey the engine would not load or
// take an event for, where there is nothing to go back to: an unknown or
// expired journey shows the expiry page (messageKey) with a restart for the
// same service; other refusals show the journey's page; an internal error
// goes to the error page.
func (h *Login) stopped(c echo.Context, id string, err error, messageKey string) error {
	oe := journey.AsError(err)
	if oe == nil {
		return err
	}
	switch oe.Code {
	case journey.CodeExpired, journey.CodeInvalid:
		if oe.Code == journey.CodeInvalid && id != "" {
			h.o.Logger.InfoContext(c.Request().Context(), "login journey unknown or held by another browser", "flow", short(id))
		}
		return h.expired(c, id, messageKey, oe.Code.Status())
	}
	return h.toPage(c, id)
}

// expired shows the expiry page for journey id. The restart goes to the
// service the browser's cookie remembers, else the one the journey names
// (if this browser holds it), else to /cas/login alone.
func (h *Login) expired(c echo.Context, id, messageKey string, status int) error {
	service := ""
	if e, ok := h.holding(c.Request(), id); ok && e.Service != "" {
		service = e.Service
	} else if id != "" {
		j, err := h.o.Engine.Load(c.Request().Context(), id, h.from(c, id))
		if oe := journey.AsError(err); j != nil && (err == nil || oe != nil && oe.Code == journey.CodeExpired) {
			service = request(j).ServiceURL
		}
	}
	return h.o.Pages.Expired(c.Response(), c.Request(), status, ExpiredPage{
		TitleKey: "journey_expired_title", MessageKey: messageKey, RestartURL: h.loginURL(service),
	})
}

// csrfRefused answers a form post without the right CSRF token. Nothing is
// applied; the person gets the expiry page with its restart, since the
// usual cause is a CSRF cookie that lapsed with the journey.
func (h *Login) csrfRefused(err error, c echo.Context) error {
	id := c.FormValue("flow")
	h.o.Logger.WarnContext(c.Request().Context(), "login form refused: CSRF token missing or wrong", "flow", short(id), "err", err)
	return h.expired(c, id, "journey_expired", http.StatusForbidden)
}

// toWeChat sends the browser to WeChat the way that works for it: the
// Official Account inside WeChat, the QR code on a computer, guidance on
// a phone's browser (a phone cannot scan its own screen).
func (h *Login) toWeChat(c echo.Context, j *journey.Journey) error {
	r := c.Request()
	channel, appID := h.channelFor(r, j.EntryAppID, c.QueryParam("qr") == "1")
	switch channel {
	case journey.ChannelOABase:
		return h.toOfficialAccount(c, j, channel, appID)
	case "":
		if strings.Contains(r.UserAgent(), "MicroMessenger") || h.o.WebsiteAppID == "" {
			return h.o.Pages.Mobile(c.Response(), r, http.StatusOK, MobilePage{
				MessageKey: "mobile_in_wechat_no_oa", Link: h.absolute(h.loginURL(request(j).ServiceURL)),
			})
		}
		return h.o.Pages.Mobile(c.Response(), r, http.StatusOK, MobilePage{
			MessageKey: "mobile_in_browser", Link: h.absolute(h.loginURL(request(j).ServiceURL)), QRURL: h.flowURL(j.ID) + "&qr=1",
		})
	}
	state, done, err := h.newStateFor(c, j, channel, appID)
	if done || err != nil {
		return err
	}
	lang := ""
	if i18n.Pick(r) == i18n.EN {
		lang = "en"
	}
	if channel == journey.ChannelQRRedirect {
		u, err := h.o.WeChat.QRConnectURL(appID, h.callback, state, lang)
		if err != nil {
			return err
		}
		h.shown(j, channel)
		return c.Redirect(http.StatusSeeOther, u)
	}
	opts, err := h.o.WeChat.WxLogin(appID, "wx-qr", h.callback, state)
	if err != nil {
		return err
	}
	opts.Lang, opts.SelfRedirect, opts.StyleLite = lang, false, true
	d := QRPage{FlowID: j.ID, CSRF: csrfToken(c), ServiceName: request(j).ServiceName, RefreshURL: h.flowURL(j.ID),
		Refreshed: c.QueryParam("refreshed") == "1"}
	d.ExpiresIn, d.AutoRefreshURL = h.qrLifetime(j)
	if h.o.IframeQR {
		d.IframeURL = h.o.WeChat.WxLoginIframeURL(opts)
	} else {
		d.WxLogin = &opts
	}
	h.shown(j, channel)
	return h.o.Pages.QR(c.Response(), r, http.StatusOK, d)
}

// qrLifetime is how long the QR code just made is shown (in seconds) and
// where the page goes then: a new code for the same login, or, when the
// login itself ends first, a new login for the same site.
func (h *Login) qrLifetime(j *journey.Journey) (int, string) {
	life := cmp.Or(h.o.QRLifetime, defaultQRLifetime)
	if left := j.ExpiresAt.Sub(h.o.Now()); left <= life {
		return max(seconds(left), 1), h.loginURL(request(j).ServiceURL)
	}
	return seconds(life), h.flowURL(j.ID) + "&refreshed=1"
}

const defaultQRLifetime = 5 * time.Minute

// channelFor is how the browser of r goes to WeChat, and with which app:
// the Official Account (entry, else the default) inside WeChat, the QR
// code on a computer (or on a phone that asked for it, qr), none on a
// phone's browser (it cannot scan its own screen: guidance instead), nor
// inside WeChat without an Official Account.
func (h *Login) channelFor(r *http.Request, entry string, qr bool) (channel, appID string) {
	ua := r.UserAgent()
	inWeChat := strings.Contains(ua, "MicroMessenger")
	switch {
	case inWeChat && cmp.Or(entry, h.o.OfficialAccountAppID) != "":
		return journey.ChannelOABase, cmp.Or(entry, h.o.OfficialAccountAppID)
	case inWeChat || h.o.WebsiteAppID == "" || isMobile(ua) && !qr:
		return "", ""
	case h.o.QRMode == "redirect":
		return journey.ChannelQRRedirect, h.o.WebsiteAppID
	}
	return journey.ChannelQRInline, h.o.WebsiteAppID
}

func isMobile(ua string) bool {
	for _, m := range []string{"Mobi", "Android", "iPhone", "iPad", "HarmonyOS"} {
		if strings.Contains(ua, m) {
			return true
		}
	}
	return false
}

// newStateFor issues the WeChat state for the journey and the app appID
// (whose callback's code is exchanged with that app): the WeChatStart
// event, so that only the QR code or redirect just issued can complete it.
// done reports that the response is already written (over the limit, or
// the journey moved on or expired meanwhile).
func (h *Login) newStateFor(c echo.Context, j *journey.Journey, channel, appID string) (state string, done bool, err error) {
	if first := h.firstState(j.ID); j.State == journey.WeChatPending && j.Channel == channel && j.WeChatAppID == appID &&
		!j.WeChatStateUsed && j.WeChatStateHash != "" && hmac.Equal([]byte(j.WeChatStateHash), []byte(h.hash(purposeState, first))) {
		// The state the journey started with, still unused: shown again
		// (a reload too), nothing to write or count.
		return first, false, nil
	}
	// The journey's id, then 130 random bits: a callback presented by a
	// browser that does not hold the journey names the journey to end
	// (StateElsewhere). Letters and digits, 52 characters: WeChat takes
	// up to 128.
	if j.Channel != "" && h.limited(c.Response(), c.Request(), 1) {
		// Not the journey's first state (that one was counted with its
		// start): a reload, a new QR code, a step-up.
		return "", true, nil
	}
	state = j.ID + rand.Text()
	ev := journey.WeChatStart{Channel: channel, StateHash: h.hash(purposeState, state), AppID: appID}
	if _, err := h.o.Engine.HandleLoaded(c.Request().Context(), j, ev, h.from(c, j.ID)); err != nil {
		return "", true, h.stopped(c, j.ID, err, "journey_expired")
	}
	return state, false, nil
}

// AccountState is whether an Official Account can log people in now.
type AccountState int

// Account states.
const (
	AccountUsable    AccountState = iota
	AccountWithdrawn              // withdrew its authorization of its platform
	AccountNotReady               // its platform has no ticket from WeChat yet
)

// toOfficialAccount sends the browser to WeChat's web authorization of the
// Official Account appID: snsapi_base (silent) for the entry account,
// snsapi_userinfo for the unionid chain's step-up.
func (h *Login) toOfficialAccount(c echo.Context, j *journey.Journey, channel, appID string) error {
	if h.o.AccountState != nil {
		state, err := h.o.AccountState(c.Request().Context(), appID)
		if err != nil {
			h.failed(c.Response(), c.Request(), "Official Account state not read", err)
			return nil
		}
		switch state {
		case AccountWithdrawn:
			h.o.Logger.WarnContext(c.Request().Context(), "login refused: the Official Account withdrew its authorization of the platform", "appid", appID, "flow", short(j.ID))
			return h.o.Pages.Error(c.Response(), c.Request(), journey.CodeAccountUnauthorized.Status(), "account_unauthorized_title", "account_unauthorized", "")
		case AccountNotReady:
			h.o.Logger.WarnContext(c.Request().Context(), "login stopped: the Official Account's platform has no component_verify_ticket yet (WeChat pushes one every 10 minutes)", "appid", appID, "flow", short(j.ID))
			return h.o.Pages.Error(c.Response(), c.Request(), http.StatusServiceUnavailable, "wechat_failed_title", "wechat_unavailable", h.flowURL(j.ID))
		}
	}
	state, done, err := h.newStateFor(c, j, channel, appID)
	if done || err != nil {
		return err
	}
	scope := wechat.ScopeBase
	if channel == journey.ChannelOAUserinfo {
		scope = wechat.ScopeUserInfo
	}
	u, err := h.o.WeChat.OAuthURL(appID, h.callback, scope, state, false)
	if err != nil {
		return err
	}
	h.shown(j, channel)
	return c.Redirect(http.StatusFound, u)
}

// wechatCallback is where WeChat sends the browser back with a code (none
// if the person declined) and the state it was given.
func (h *Login) wechatCallback(c echo.Context) error {
	state := c.QueryParam("state")
	j, err := h.journeyOfState(c, state)
	if err != nil {
		return err
	}
	if j == nil {
		return nil // answered
	}
	// The code is exchanged with the app the state was issued for (the
	// journey knows it). A platform's callback also names the account.
	appID := j.WeChatAppID
	if appID == "" {
		// A journey started by the release before (no app stored with its
		// state): the app its channel used then.
		appID = h.o.WebsiteAppID
		if j.Channel == journey.ChannelOABase || j.Channel == journey.ChannelOAUserinfo {
			appID = h.o.OfficialAccountAppID
		}
	}
	if named := c.QueryParam("appid"); named != "" && appID != "" && named != appID {
		h.o.Logger.WarnContext(c.Request().Context(), "wechat callback names another app than the one its state was issued for", "flow", short(j.ID))
		return h.o.Pages.Error(c.Response(), c.Request(), journey.CodeStateInvalid.Status(), "state_invalid_title", "state_invalid", "")
	}
	ev := journey.WeChatCode{AppID: appID, Code: c.QueryParam("code"), StateHash: h.hash(purposeState, state), Finish: true}
	a, err := h.o.Engine.HandleLoaded(c.Request().Context(), j, ev, h.from(c, j.ID))
	if a.Repeat {
		// Its state paid for one exchange with WeChat (newStateFor); a
		// callback that was not that one (a repeat, a lost race) may have
		// asked WeChat again and waited for the first: it counts, so that
		// one state cannot buy them without end.
		if _, cerr := h.overLimit(c.Request(), 1); cerr != nil {
			h.o.Logger.WarnContext(c.Request().Context(), "login rate limit not counted", "err", cerr)
		}
	}
	if err != nil {
		return h.wechatRefused(c, j, err)
	}
	if a.StepUpAppID != "" {
		// snsapi_base does not reveal the unionid, and the person may be
		// bound through another app: ask once more, with snsapi_userinfo on
		// the account bound to the open platform (the unionid chain).
		return h.toOfficialAccount(c, a.Journey, journey.ChannelOAUserinfo, a.StepUpAppID)
	}
	return h.onward(c, a)
}

// journeyOfState finds which of this browser's journeys issued a WeChat
// state (WeChat's callback names no journey). nil when it has answered: an
// expired journey, or a state no journey of this browser issued.
func (h *Login) journeyOfState(c echo.Context, state string) (*journey.Journey, error) {
	ctx := c.Request().Context()
	want := h.hash(purposeState, state)
	lapsed := ""
	// The callbacks that no state paid for count on their own (limited).
	for _, e := range h.helds(c.Request()) {
		j, err := h.o.Engine.Load(ctx, e.ID, h.from(c, e.ID))
		oe := journey.AsError(err)
		if err != nil && oe == nil {
			return nil, err
		}
		if j != nil && (err == nil || oe.Code == journey.CodeExpired) {
			if state != "" && j.WeChatStateHash != "" && hmac.Equal([]byte(j.WeChatStateHash), []byte(want)) {
				h.langOnJourney(c, j.ID)
				if err == nil {
					return j, nil
				}
				if h.limited(c.Response(), c.Request(), 1) {
					return nil, nil
				}
				if j.State == journey.Finished {
					// A callback replayed from the history, long after.
					return nil, c.Redirect(http.StatusSeeOther, h.loginURL(request(j).ServiceURL))
				}
				return nil, h.expired(c, j.ID, "journey_expired", oe.Code.Status())
			}
		}
		if err != nil && lapsed == "" {
			lapsed = e.ID
		}
	}
	if lapsed != "" {
		h.langOnJourney(c, lapsed)
		if h.limited(c.Response(), c.Request(), 1) {
			return nil, nil
		}
		// Most likely the callback of a journey that expired (and maybe
		// was cleaned up): offer to start again.
		return nil, h.expired(c, lapsed, "journey_expired", journey.CodeExpired.Status())
	}
	h.o.Logger.WarnContext(ctx, "wechat callback with a state no journey of this browser issued")
	// Counted, but the journey the state names is ended even over the
	// limit: the guard against a passed-on link must not depend on how
	// busy the person's address is (and it ends only on the state's keyed
	// hash, which no one can forge).
	wait, werr := h.overLimit(c.Request(), 1)
	if id, ok := journeyOfForeignState(state); ok {
		ended, err := h.o.Engine.StateElsewhere(ctx, id, want, journey.From{ClientIP: ratelimit.ClientSubject(h.realIP(c.Request()))})
		if err != nil {
			return nil, err
		}
		if ended {
			h.o.Logger.WarnContext(ctx, "login journey ended: its WeChat state was presented by another browser", "flow", short(id))
		}
	}
	if h.answerLimit(c.Response(), c.Request(), wait, werr) {
		return nil, nil
	}
	return nil, h.o.Pages.Error(c.Response(), c.Request(), journey.CodeStateInvalid.Status(), "state_invalid_title", "state_invalid", "")
}

// langOnJourney makes every page answering WeChat's callback, whoever
// renders it, switch language on journey id's page: the callback's own URL
// cannot be fetched again (its state and code are spent, and are not
// repeated), while the journey's page shows where the login stands — a new
// QR code after a refusal, the expiry page with its restart.
func (h *Login) langOnJourney(c echo.Context, id string) { langPageAt(c, h.flowURL(id)) }

// journeyOfForeignState is the journey id a state names (see newStateFor).
func journeyOfForeignState(state string) (string, bool) {
	const random = 26 // rand.Text's length
	if len(state) <= random || len(state) > 128 {
		return "", false
	}
	return state[:len(state)-random], true
}

// wechatRefused shows why WeChat's answer did not log the person in, with a
// way to try again.
func (h *Login) wechatRefused(c echo.Context, j *journey.Journey, err error) error {
	oe := journey.AsError(err)
	if oe == nil {
		return err
	}
	title, msg, retry := "wechat_failed_title", "wechat_failed", h.flowURL(j.ID)
	switch oe.Code {
	case journey.CodeExpired, journey.CodeInvalid, journey.CodeEnded, journey.CodeWrongStep:
		return h.stopped(c, j.ID, err, "journey_expired")
	case journey.CodeWeChatRefused:
		title, msg = "wechat_refused_title", "wechat_refused"
	case journey.CodeStateInvalid:
		title, msg = "state_invalid_title", "state_invalid"
	case journey.CodeSnapshotUser:
		// The journey failed: only a new one can succeed.
		title, msg, retry = "snapshot_title", "snapshot", h.loginURL(request(j).ServiceURL)
	case journey.CodeWeChatUnavailable:
		msg = "wechat_busy"
		if j.Channel == journey.ChannelOABase || j.Channel == journey.ChannelOAUserinfo {
			msg = "wechat_unavailable" // inside WeChat there is no QR code to scan again
		}
	case journey.CodeWeChatLoginBlocked:
		msg = string(oe.Code)
	case journey.CodeAccountUnauthorized:
		title, msg, retry = "account_unauthorized_title", string(oe.Code), ""
	}
	h.o.Logger.InfoContext(c.Request().Context(), "wechat login refused", "flow", short(j.ID), "outcome", oe.Code, "err", err)
	d := ErrorPage{TitleKey: title, MessageKey: msg, RetryURL: retry}
	if retry == h.flowURL(j.ID) && (j.Channel == journey.ChannelQRInline || j.Channel == journey.ChannelQRRedirect) {
		d.RetryKey = "qr_new" // the way on is a new QR code to scan
	}
	return h.o.Pages.ErrorPage(c.Response(), c.Request(), oe.Code.Status(), d)
}

// onward goes on from an answer: a person is finished (again, for a
// replay), anything else shows the journey's page.
func (h *Login) onward(c echo.Context, a journey.Answer) error {
	j := a.Journey
	switch {
	case a.Person != nil && j.State == journey.Finished:
		return h.deliver(c, a)
	case j.State == journey.Identified || j.State == journey.Bound:
		return h.finish(c, j, a.Person)
	}
	return h.toPage(c, j.ID)
}

// finish ends the journey (the Finish event) and has the finisher issue the
// result. j was loaded, or returned by the engine, in this request.
func (h *Login) finish(c echo.Context, j *journey.Journey, p *journey.Person) error {
	a, err := h.o.Engine.HandleLoaded(c.Request().Context(), j, journey.Finish{Person: p}, h.from(c, j.ID))
	if err != nil {
		return h.stopped(c, j.ID, err, "journey_expired")
	}
	return h.deliver(c, a)
}

func (h *Login) deliver(c echo.Context, a journey.Answer) error {
	err := h.o.Finisher.Finish(c.Response(), c.Request(), a.Journey, a.Person)
	if err == nil {
		return nil
	}
	h.o.Logger.ErrorContext(c.Request().Context(), "finishing the login failed", "flow", short(a.Journey.ID), "err", err)
	if c.Response().Committed {
		return nil // the finisher explained it
	}
	return err
}

// form answers a form post with its event: a refusal, or what was sent,
// goes to the journey's page as a notice (303: Back and Reload never post
// again). A code that binds the person, or repeats one that did (a double
// click), finishes at once.
func (h *Login) form(name string, event func(echo.Context) journey.Event) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.FormValue("flow")
		a, err := h.o.Engine.Handle(c.Request().Context(), id, event(c), h.from(c, id))
		oe := journey.AsError(err)
		if err != nil && oe == nil {
			return err
		}
		n := notice{ID: id, Form: name}
		// A stale form (wrong step), or a double submission whose other
		// request sent the code, only shows where the journey stands.
		if oe != nil && oe.Code != journey.CodeWrongStep && !oe.SentMeanwhile {
			n.Code, n.AttemptsLeft, n.RetryAfter, n.Challenge = oe.Code, oe.AttemptsLeft, seconds(oe.RetryAfter), oe.Challenge
			if name == formPhone {
				n.Phone = strings.TrimSpace(c.FormValue("phone"))
			}
		}
		if err == nil && a.Sent != nil {
			n.ResendAfter = cmp.Or(seconds(a.Sent.ResendAfter), seconds(h.o.ResendCooldown))
		}
		if n.Code != "" || n.ResendAfter > 0 || (err == nil && name == formCancel) {
			h.notify(c, n)
		}
		if err != nil {
			return h.toPage(c, id)
		}
		return h.onward(c, a)
	}
}

// seconds rounds up: "retry in 0 s" would invite a refusal.
func seconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

func (h *Login) bindPage(c echo.Context, j *journey.Journey, n notice) error {
	d := BindPage{FlowID: j.ID, CSRF: csrfToken(c), Nickname: j.Nickname}
	status := h.noticed(c, n, &d.ErrorKey, &d.ErrorDetail)
	if n.Form == formPhone {
		d.Phone = n.Phone
	}
	// The number is not typed yet: a new number's send is what the
	// challenge would be asked for (a journey back from a refused new
	// number still holds its old one).
	asked := *j
	asked.State, asked.Phone = journey.PhoneRequested, ""
	st := h.sendState(c, &asked, n)
	d.Challenge = challengeView(i18n.Pick(c.Request()), st.Challenge)
	return h.o.Pages.Bind(c.Response(), c.Request(), status, d)
}

func (h *Login) codePage(c echo.Context, j *journey.Journey, n notice) error {
	d := CodePage{FlowID: j.ID, CSRF: csrfToken(c), MaskedPhone: otp.Phone(j.Phone).Display(), ResendAfter: n.ResendAfter}
	status := h.noticed(c, n, &d.ErrorKey, &d.ErrorDetail)
	st := h.sendState(c, j, n)
	if st.Waits != (otp.Waits{}) || n.ResendAfter == 0 {
		// The counters' own answer: after a wrong code, a burned code or
		// a reload the countdown goes on where the server stands.
		d.ResendAfter = seconds(st.Waits.Phone)
	}
	d.NewPhoneAfter = seconds(st.Waits.NewNumber)
	d.Challenge = challengeView(i18n.Pick(c.Request()), st.Challenge)
	return h.o.Pages.Code(c.Response(), c.Request(), status, d)
}

// sendState is what the next send of j would meet: the waits, and the
// challenge the last refusal handed out or, under pressure, a new one. A
// failure to read it only loses the countdown or the early challenge (the
// send itself still checks), so it is logged, not shown.
func (h *Login) sendState(c echo.Context, j *journey.Journey, n notice) journey.SendState {
	st, err := h.o.Engine.SendState(c.Request().Context(), j, h.from(c, j.ID))
	if err != nil {
		h.o.Logger.WarnContext(c.Request().Context(), "send state not read", "flow", short(j.ID), "err", err)
		st = journey.SendState{}
	}
	if n.Challenge != nil {
		st.Challenge = n.Challenge
	}
	return st
}

// noticed puts a notice's refusal into a page: the message, its detail, the
// Retry-After header; it returns the page's status.
func (h *Login) noticed(c echo.Context, n notice, key, detail *string) int {
	if n.Code == "" {
		return http.StatusOK
	}
	*key = string(n.Code)
	if !i18n.Has(*key) {
		*key = "error_bad_request"
	}
	if n.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", fmt.Sprint(n.RetryAfter))
	}
	left := n.AttemptsLeft
	if n.Code != journey.CodeWrongCode {
		left = nil
	}
	*detail = i18n.RefusalDetail(i18n.Pick(c.Request()), time.Duration(n.RetryAfter)*time.Second, left)
	return n.Code.Status()
}

func csrfToken(c echo.Context) string {
	s, _ := c.Get(middleware.DefaultCSRFConfig.ContextKey).(string)
	return s
}

// short shortens an id for logs.
func short(id string) string { return id[:min(8, len(id))] }
