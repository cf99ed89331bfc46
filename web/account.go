package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"wxcas/account"
	"wxcas/audit"
	"wxcas/binding"
	"wxcas/i18n"
	"wxcas/otp"
	"wxcas/wechat"
)

// AccountPages is the person's own account page at /account: their WeChat
// binding, their phone, their recent logins, and the three changes
// (unbind, new phone, new WeChat account), each confirmed by an SMS code.
// It signs in through the CAS SSO session (CASGate): a browser with a
// session gets straight in; one without goes through the login first.
type AccountPages struct {
	Gate     *CASGate
	Accounts *account.Service
	Logins   audit.Store
	WeChat   AccountWeChat
	Pages    *Pages
	// WebsiteAppID logs in a new WeChat account on a desktop browser (QR
	// code); OfficialAccountAppID inside WeChat's browser.
	WebsiteAppID, OfficialAccountAppID string
	// PhoneRegion parses numbers typed without a country code.
	PhoneRegion string
	// AppKind is the kind of a WeChat app (wechat.Kind), which the page
	// names; "" for an app no longer configured.
	AppKind func(appID string) string
	// ServiceName names a CAS service by its id (the audit log keeps ids).
	ServiceName func(id string) string
	RealIP      func(*http.Request) string
	Log         *slog.Logger
}

// AccountWeChat is what the page needs of WeChat: where to send the person
// to log in, and what their code says.
type AccountWeChat interface {
	QRConnectURL(appID, redirectURI, state, lang string) (string, error)
	OAuthURL(appID, redirectURI, scope, state string, forcePopup bool) (string, error)
	Identify(ctx context.Context, appID, code string) (binding.Account, error)
}

// The page's steps.
const (
	stepOverview    = ""
	stepUnbind      = "unbind"     // code sent to the bound phone; confirm
	stepReplace     = "replace"    // code sent to the bound phone; then WeChat
	stepPhone       = "phone"      // type the new number
	stepPhoneCode   = "phone_code" // code sent to the new number; confirm
	stepDone        = "done"       // a change was made
	accountCallback = "/replace/callback"
)

// AccountPage is what account.html shows.
type AccountPage struct {
	CSRF        string
	Step        string
	Bound       bool
	Nickname    string
	AvatarURL   string
	BoundAt     string
	Apps        []AccountApp
	MaskedPhone string
	// PhoneManaged: the organisation's directory owns the number.
	PhoneManaged bool
	Logins       []AccountLogin
	NewPhone     string
	// NoticeKey says what was done (stepDone).
	NoticeKey     string
	SessionsEnded bool
	// CodeSent: a code was sent for this step, with this answer or before
	// it (a code step shown again after a refusal: a wrong code, a resend
	// too soon). Shown by itself (GET ?step=), only the phone change's
	// step can tell (from its pending code); unbind and replace do not look.
	CodeSent               bool
	ErrorKey, ErrorDetail  string
	ResendAfter            int
	MaskedTarget           string // where the code went
	WeChatLink, WeChatHint string
}

// AccountApp is one WeChat app that has seen the person.
type AccountApp struct{ Name, FirstSeen, LastSeen string }

// AccountLogin is one recent login.
type AccountLogin struct{ At, Channel, Service string }

func init() {
	pageSamples["account"] = AccountPage{
		CSRF: "csrf", Step: stepPhoneCode, Bound: true, Nickname: "nick", AvatarURL: "https://wx.example/a.png", BoundAt: "2026-01-01 08:00",
		Apps: []AccountApp{{Name: "app", FirstSeen: "2026-01-01", LastSeen: "2026-01-02"}}, MaskedPhone: "+86138****0000", PhoneManaged: true,
		Logins: []AccountLogin{{At: "2026-01-02 08:00", Channel: "qr_inline", Service: "app"}}, NewPhone: "+8613900000000",
		NoticeKey: "account_unbound", SessionsEnded: true, CodeSent: true, ErrorKey: "wrong_code", ErrorDetail: "detail", ResendAfter: 60,
		MaskedTarget: "+86139****0000", WeChatLink: "https://wx.example/", WeChatHint: "account_replace_hint",
	}
}

// Register adds the page's routes.
func (h *AccountPages) Register(e *echo.Echo) {
	g := e.Group(h.Gate.Path, postsLangPageOn(h.Gate.cookiePath()), sameOrigin(h.Gate.PublicURL, h.Pages))
	g.GET("", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, h.Gate.cookiePath()) })
	g.GET("/", h.overview)
	// HEAD is GET without the body (a link checker, a monitor); it never
	// redeems a ticket (CASGate.Session), so it cannot spend the browser's.
	g.HEAD("/", h.overview)
	g.POST("/code", h.sendCode)
	g.POST("/unbind", h.unbind)
	g.POST("/phone", h.changePhone)
	g.POST("/replace", h.startReplace)
	g.GET(accountCallback, h.replaceCallback)
	g.POST("/signout", h.signOut)
}

// session signs the browser in; for a post it also checks the CSRF token.
func (h *AccountPages) session(c echo.Context) (GateSession, account.Person, bool) {
	s, ok := h.Gate.Session(c)
	if !ok {
		return s, account.Person{}, false
	}
	r := c.Request()
	if r.Method == http.MethodPost && !s.CheckCSRF(r) {
		_ = h.Pages.Error(c.Response(), r, http.StatusForbidden, "error_title", "error_forbidden", h.Gate.cookiePath())
		return s, account.Person{}, false
	}
	return s, account.Person{UserID: s.UserID, SessionKey: s.Key, AuthenticatedAt: s.LoggedInAt, ClientIP: h.RealIP(r), Channel: account.ChannelPage}, true
}

func (h *AccountPages) overview(c echo.Context) error {
	s, p, ok := h.session(c)
	if !ok {
		return nil
	}
	d := AccountPage{}
	if key, ok := doneNotices[c.QueryParam("done")]; ok {
		d.Step, d.NoticeKey = stepDone, key
		d.SessionsEnded = c.QueryParam("ended") == "1"
		if c.QueryParam("remain") == "1" {
			d.ErrorKey = "account_sessions_remain"
		}
	}
	switch step := c.QueryParam("step"); {
	case step == stepPhone && h.Accounts.PhonesEditable():
		if h.Accounts.FreshLoginNeeded(p) {
			// The phone is changed only right after a WeChat login
			// (account.FreshLogin): log in again, then back here.
			h.Gate.SignIn(c, true)
			return nil
		}
		d.Step = stepPhone
	case step == stepUnbind || step == stepReplace:
		// A code step shown again (its language link, a reload) sends
		// nothing: the code already sent still works, and the send-again
		// button counts down the server's wait.
		d.Step = step
	case step == stepPhoneCode && h.Accounts.PhonesEditable():
		// The new number is found from the session's pending code, never
		// from the URL; without one, the number's form.
		to, err := h.Accounts.PendingPhone(c.Request().Context(), p)
		if err != nil {
			return c.Redirect(http.StatusSeeOther, h.stepPage(stepPhone))
		}
		d.Step, d.NewPhone, d.MaskedTarget, d.CodeSent = stepPhoneCode, to.String(), to.Display(), true
	}
	return h.show(c, s, p, d, http.StatusOK)
}

// show renders the page at a step, with the person's profile.
func (h *AccountPages) show(c echo.Context, s GateSession, p account.Person, d AccountPage, status int) error {
	r := c.Request()
	prof, err := h.Accounts.Profile(r.Context(), p.UserID, h.Logins)
	if errors.Is(err, account.ErrNoUser) {
		// The directory no longer has the person (removed upstream).
		h.Gate.SignOut(c.Response())
		return h.Pages.Error(c.Response(), r, http.StatusNotFound, "account_title", "no_user", "")
	}
	if err != nil {
		return h.failed(c, err)
	}
	lang := i18n.Pick(r)
	d.CSRF = s.CSRF
	d.Bound = prof.Bound()
	if !d.Bound && (d.Step == stepUnbind || d.Step == stepReplace) && d.ErrorKey == "" {
		d.Step = stepOverview // nothing to unbind or replace (any more)
	}
	langPageAt(c, h.stepPage(d.Step))
	r = c.Request()
	if d.ResendAfter == 0 && (d.Step == stepUnbind || d.Step == stepReplace || d.Step == stepPhoneCode) {
		// The resend button counts down what the server would answer now
		// (after a wrong code, a reload); losing it only loses the hint.
		// A phone change sends to the new number (NewPhone, E.164 here).
		if w, err := h.Accounts.ResendWait(r.Context(), p, otp.Phone(d.NewPhone)); err == nil {
			d.ResendAfter = seconds(w)
		}
	}
	d.MaskedPhone = otp.Phone(prof.User.Phone).Display()
	d.PhoneManaged = !h.Accounts.PhonesEditable()
	if d.Bound {
		d.BoundAt = localTime(prof.Binding.BoundAt)
		for _, a := range prof.Binding.Accounts {
			if d.Nickname == "" || a.Nickname != "" {
				d.Nickname, d.AvatarURL = nonEmpty(a.Nickname, d.Nickname), nonEmpty(safeAvatar(a.AvatarURL), d.AvatarURL)
			}
			d.Apps = append(d.Apps, AccountApp{Name: i18n.T(lang, "appkind_"+nonEmpty(h.AppKind(a.AppID), "unknown")), FirstSeen: localDate(a.FirstSeen), LastSeen: localDate(a.LastSeen)})
		}
	}
	for _, e := range prof.Logins {
		d.Logins = append(d.Logins, AccountLogin{At: localTime(e.At), Channel: i18n.T(lang, "channel_"+nonEmpty(e.Channel, "unknown")), Service: h.ServiceName(e.Service)})
	}
	return h.Pages.render(c.Response(), r, status, "account", d)
}

// stepPage is the page to GET for step, where its language links go:
// the answers to the page's posts are not found again at their URLs. A
// phone change's code step finds its number from the session's pending
// code: the number never goes into a URL.
func (h *AccountPages) stepPage(step string) string {
	switch step {
	case stepUnbind, stepReplace, stepPhone, stepPhoneCode:
		return h.Gate.cookiePath() + "?step=" + step
	}
	return h.Gate.cookiePath()
}

func nonEmpty(s, otherwise string) string {
	if s != "" {
		return s
	}
	return otherwise
}

// safeAvatar keeps only WeChat's https avatar URLs (the page's CSP and the
// person's privacy: no other host learns who opened the page).
func safeAvatar(u string) string {
	if strings.HasPrefix(u, "https://") {
		return u
	}
	return ""
}

// localTime shows a time in China's time zone, where wxcas's people are.
func localTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(chinaTime).Format("2006-01-02 15:04")
}

// localDate is the day of t in China's time zone: an app's sightings are
// kept to the hour (binding.SeenPrecision), so a minute would mislead (an
// outside tester saw "last used 00:23" beside logins at 00:26 and 00:27).
func localDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(chinaTime).Format("2006-01-02")
}

// chinaTime is the zone the account page and the admin console show times
// in: China's, where wxcas's people and operators are.
var chinaTime = time.FixedZone("CST", 8*3600)

// sendCode sends a code for the step the person chose.
func (h *AccountPages) sendCode(c echo.Context) error {
	s, p, ok := h.session(c)
	if !ok {
		return nil
	}
	r := c.Request()
	step := r.PostFormValue("step")
	// The send-again button says so: a refused resend keeps the step's
	// "sent to" (a code is out), a refused first send does not.
	d := AccountPage{Step: step, CodeSent: r.PostFormValue("resend") != ""}
	var purpose string
	var to otp.Phone
	switch step {
	case stepUnbind:
		purpose = account.PurposeUnbind
	case stepReplace:
		purpose = account.PurposeReplace
	case stepPhone, stepPhoneCode:
		purpose = account.PurposePhone
		d.NewPhone = strings.TrimSpace(r.PostFormValue("phone"))
		var err error
		if to, err = otp.ParsePhone(d.NewPhone, h.PhoneRegion); err != nil {
			d.Step, d.ErrorKey = stepPhone, "invalid_phone"
			return h.show(c, s, p, d, http.StatusBadRequest)
		}
		// A resend refused (too soon) stays on the code step: the code
		// already sent still works.
		d.NewPhone, d.MaskedTarget = to.String(), to.Display()
	default:
		return h.show(c, s, p, AccountPage{}, http.StatusBadRequest)
	}
	res, err := h.Accounts.SendCode(r.Context(), p, purpose, to)
	if err != nil {
		return h.refused(c, s, p, d, err)
	}
	if step == stepPhone {
		d.Step = stepPhoneCode
	}
	d.ResendAfter, d.CodeSent = int(res.ResendAfter.Seconds()), true
	return h.show(c, s, p, d, http.StatusOK)
}

// refused shows the step again with why the change was refused.
func (h *AccountPages) refused(c echo.Context, s GateSession, p account.Person, d AccountPage, err error) error {
	if errors.Is(err, account.ErrLoginTooOld) {
		return c.Redirect(http.StatusSeeOther, h.Gate.cookiePath()+"?step="+stepPhone)
	}
	o, ok := account.OutcomeOf(err)
	if !ok {
		return h.failed(c, err)
	}
	d.ErrorKey = o.Code
	if o.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", fmt.Sprint(seconds(o.RetryAfter)))
	}
	left := o.AttemptsLeft
	if o.Code != "wrong_code" {
		left = nil
	}
	d.ErrorDetail = i18n.RefusalDetail(i18n.Pick(c.Request()), o.RetryAfter, left)
	return h.show(c, s, p, d, o.Status)
}

// failed answers an internal error (logged, not shown).
func (h *AccountPages) failed(c echo.Context, err error) error {
	r := c.Request()
	h.Log.ErrorContext(r.Context(), "account page failed", "err", err)
	return h.Pages.Error(c.Response(), r, http.StatusServiceUnavailable, "error_title", "error_unavailable", h.Gate.cookiePath())
}

// done shows what a change did; ErrSessionsRemain is a change made whose
// other sessions could not all be ended: said, not hidden.
func (h *AccountPages) done(c echo.Context, _ GateSession, _ account.Person, notice string, res account.Result, err error) error {
	q := url.Values{"done": {notice}}
	if res.EndedSessions > 0 {
		q.Set("ended", "1")
	}
	if errors.Is(err, account.ErrSessionsRemain) {
		q.Set("remain", "1")
	}
	// Post, redirect, get: reloading the page shows it again instead of
	// posting the code (or WeChat's callback) once more.
	return c.Redirect(http.StatusSeeOther, h.Gate.cookiePath()+"?"+q.Encode())
}

// doneNotices are the notices a page after a change may show (?done=).
var doneNotices = map[string]string{
	"unbound": "account_unbound", "phone_changed": "account_phone_changed", "replaced": "account_replaced",
}

func (h *AccountPages) unbind(c echo.Context) error {
	s, p, ok := h.session(c)
	if !ok {
		return nil
	}
	r := c.Request()
	res, err := h.Accounts.UnbindSelf(r.Context(), p, r.PostFormValue("code"))
	if err != nil && !errors.Is(err, account.ErrSessionsRemain) {
		return h.refused(c, s, p, AccountPage{Step: stepUnbind, CodeSent: true}, err)
	}
	return h.done(c, s, p, "unbound", res, err)
}

func (h *AccountPages) changePhone(c echo.Context) error {
	s, p, ok := h.session(c)
	if !ok {
		return nil
	}
	r := c.Request()
	d := AccountPage{Step: stepPhoneCode, NewPhone: r.PostFormValue("phone"), CodeSent: true}
	to, err := otp.ParsePhone(d.NewPhone, h.PhoneRegion)
	if err != nil {
		d.Step, d.ErrorKey = stepPhone, "invalid_phone"
		return h.show(c, s, p, d, http.StatusBadRequest)
	}
	d.NewPhone, d.MaskedTarget = to.String(), to.Display()
	res, err := h.Accounts.ChangePhone(r.Context(), p, to, r.PostFormValue("code"))
	if err != nil && !errors.Is(err, account.ErrSessionsRemain) {
		return h.refused(c, s, p, d, err)
	}
	return h.done(c, s, p, "phone_changed", res, err)
}

// startReplace checks the code sent to the bound phone and sends the
// person to WeChat to log in with the new account: a QR code on a desktop,
// the Official Account inside WeChat's browser.
func (h *AccountPages) startReplace(c echo.Context) error {
	s, p, ok := h.session(c)
	if !ok {
		return nil
	}
	r := c.Request()
	inWeChat := strings.Contains(r.UserAgent(), "MicroMessenger")
	appID := h.WebsiteAppID
	if inWeChat || appID == "" {
		appID = h.OfficialAccountAppID
	}
	if appID == "" {
		return h.failed(c, errors.New("no WeChat app to log in a new account with"))
	}
	state, err := h.Accounts.StartReplace(r.Context(), p, r.PostFormValue("code"), appID)
	if err != nil {
		return h.refused(c, s, p, AccountPage{Step: stepReplace, CodeSent: true}, err)
	}
	callback := h.Gate.ServiceURL() + strings.TrimPrefix(accountCallback, "/")
	var to string
	if appID == h.WebsiteAppID && !inWeChat {
		lang := "" // WeChat's QR page is Chinese unless asked for English
		if i18n.Pick(r) == i18n.EN {
			lang = "en"
		}
		to, err = h.WeChat.QRConnectURL(appID, callback, state, lang)
	} else {
		to, err = h.WeChat.OAuthURL(appID, callback, wechat.ScopeUserInfo, state, false)
	}
	if err != nil {
		return h.failed(c, err)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// replaceCallback is where WeChat sends the person back with the new
// account's code.
func (h *AccountPages) replaceCallback(c echo.Context) error {
	s, p, ok := h.session(c)
	if !ok {
		return nil
	}
	r := c.Request()
	code, state, err := wechat.ParseCallback(r.URL.Query())
	ctx := r.Context()
	rep, terr := h.Accounts.TakeReplacement(ctx, p, state)
	if terr != nil {
		return h.refused(c, s, p, AccountPage{}, terr)
	}
	if err != nil || code == "" {
		// Declined in WeChat: the state is used up; start again.
		return h.show(c, s, p, AccountPage{ErrorKey: "account_replace_declined"}, http.StatusOK)
	}
	acct, err := h.WeChat.Identify(ctx, rep.AppID, code)
	if err != nil {
		return h.refused(c, s, p, AccountPage{}, err)
	}
	res, err := h.Accounts.FinishReplace(ctx, p, rep, acct)
	if err != nil && !errors.Is(err, account.ErrSessionsRemain) {
		return h.refused(c, s, p, AccountPage{}, err)
	}
	return h.done(c, s, p, "replaced", res, err)
}

// signOut leaves the page (the SSO session stays: /cas/logout ends it).
func (h *AccountPages) signOut(c echo.Context) error {
	if _, _, ok := h.session(c); !ok {
		return nil
	}
	h.Gate.SignOut(c.Response())
	return c.Redirect(http.StatusSeeOther, basePath(h.Gate.PublicURL)+"/cas/logout")
}
