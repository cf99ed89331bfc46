package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"wxcas/i18n"
	"wxcas/logx"
	"wxcas/wechat"
)

// Pages renders the embedded templates, one typed method per page. Every
// page is parsed and executed once at start-up (NewPages), so a missing or
// broken template, or one naming a field its page does not have, stops the
// process there rather than failing the first person who reaches it. A page
// is rendered into a buffer first, so a failing template still yields a
// clean error response instead of half a page.
type Pages struct {
	pages   map[string]*template.Template
	sandbox bool
	// base is the path of public_url without its trailing slash ("" or
	// e.g. "/wxcas"): a proxy in front strips it, so the routes live at the
	// root while every URL a page hands the browser must carry it.
	base string
	help HelpLine
	// region is where numbers typed without a country code are read
	// (otp.default_region): the phone fields' hints say so, and
	// placeholder is its example number. allowed are the regions whose
	// numbers get codes (otp.allowed_regions; none: any), which the hints
	// follow too. hints are the hints by language, worked out once.
	region, placeholder string
	allowed             []string
	hints               map[string]string
}

// HelpLine is the organisation's contact, shown at the foot of every page
// (help: in config.yaml). Empty, it is not shown.
type HelpLine struct {
	ZH, EN string // the text in each language; EN falls back to ZH
	URL    string // a page with more help
}

// Text is the help line in lang.
func (h HelpLine) Text(lang string) string {
	if lang == i18n.EN && h.EN != "" {
		return h.EN
	}
	return h.ZH
}

// Help puts the organisation's help line on every page.
func Help(h HelpLine) PageOption { return func(p *Pages) { p.help = h } }

// PhoneRegion tells the phone fields' hints how numbers without a country
// code are read (otp.default_region; otp.DefaultRegion when empty) and
// which regions' numbers get codes (otp.allowed_regions; none: any), so
// that a hint never offers a number the send would refuse.
func PhoneRegion(region string, allowed ...string) PageOption {
	return func(p *Pages) { p.region, p.allowed = region, allowed }
}

// basePath is the path of public_url without its trailing slash ("" or e.g.
// "/wxcas"), which every URL handed to a browser starts with.
func basePath(public *url.URL) string { return strings.TrimSuffix(public.Path, "/") }

// PageOption configures NewPages.
type PageOption func(*Pages)

// BasePath makes the pages' asset, form and language URLs start with the
// path of publicURL (server.public_url), the one place they learn it.
func BasePath(publicURL string) PageOption {
	return func(p *Pages) {
		if u, err := url.Parse(publicURL); err == nil {
			p.base = basePath(u)
		}
	}
}

// pageData is what every template sees: .T translates, .Data is page-specific.
type pageData struct {
	Lang      string
	Sandbox   bool
	RequestID string
	// Base prefixes every root-relative URL in a template (see Pages.base).
	Base string
	// LangURLs switch the language and stay on the same page.
	LangZH, LangEN    string
	Help              HelpLine
	Hint, Placeholder string
	Data              any
}

func (d pageData) T(key string) string { return i18n.T(d.Lang, key) }

// Tf is T with its %s/%d filled in.
func (d pageData) Tf(key string, args ...any) string {
	return fmt.Sprintf(i18n.T(d.Lang, key), args...)
}

// Msg is a refusal's text and its detail as one message, punctuated as the
// language writes it (i18n.Join).
func (d pageData) Msg(key, detail string) string {
	return i18n.Join(d.Lang, i18n.T(d.Lang, key), detail)
}

// Duration is a wait of secs seconds as people say it (i18n.Duration).
func (d pageData) Duration(secs int) string {
	return i18n.Duration(d.Lang, time.Duration(secs)*time.Second)
}

// Validity is how long something shown stays valid, rounded down
// (i18n.Validity).
func (d pageData) Validity(secs int) string {
	return i18n.Validity(d.Lang, time.Duration(secs)*time.Second)
}

// Gap is what goes between two texts set side by side (i18n.Gap).
func (d pageData) Gap(before, after string) string { return i18n.Gap(d.Lang, before, after) }

// CountdownUnits are the words countdown.js needs to say a wait as
// Duration does, in the page's language.
func (d pageData) CountdownUnits() string { return countdownUnits(d.Lang) }

// HelpText is the help line in the page's language.
func (d pageData) HelpText() string { return d.Help.Text(d.Lang) }

// PhonePlaceholder and PhoneHint say which numbers a phone field takes.
func (d pageData) PhonePlaceholder() string { return d.Placeholder }
func (d pageData) PhoneHint() string        { return d.Hint }

// The content of each page.
type (
	// ErrorPage: something went wrong; RetryURL, when set, offers to try
	// again, with RetryKey's text ("try_again" when empty).
	ErrorPage struct{ TitleKey, MessageKey, RetryURL, RetryKey string }
	// InfoPage: a plain message (logged in, logged out). BackURL, when
	// set, links back to the site the person came from (BackName).
	// LogoutURL, when set, offers to log out (the logged-in page).
	InfoPage struct{ TitleKey, MessageKey, Detail, BackURL, BackName, LogoutURL string }
	// PostRedirectPage sends the browser on with a form post (CAS method=POST).
	PostRedirectPage struct {
		Action string
		Fields map[string]string
	}
	// QRPage shows WeChat's QR code for the website app.
	QRPage struct {
		FlowID, CSRF, ServiceName string
		// IframeURL: the QR box in our own iframe (the sandbox emulator).
		IframeURL string
		// WxLogin goes to the page as the value itself, not as
		// pre-marshalled JSON: html/template treats <script
		// type="application/json"> as a script context and JSON-encodes
		// what it is given, so a JSON string would arrive as a string
		// literal and wxLogin.js would draw nothing.
		WxLogin    *wechat.WxLoginOptions
		RefreshURL string
		// ExpiresIn (seconds) is how long this code is shown; then the page
		// goes to AutoRefreshURL by itself (static/qrrefresh.js).
		ExpiresIn      int
		AutoRefreshURL string
		// Refreshed: the last code expired and this page is its successor.
		Refreshed bool
	}
	// MobilePage tells a phone how to log in where no QR code can be scanned.
	MobilePage struct{ MessageKey, Link, QRURL string }
	// BindPage asks a person WeChat does not know yet for a phone number.
	BindPage struct {
		FlowID, CSRF, Nickname string
		// Phone is the number as typed, shown again with the error so it
		// can be fixed.
		Phone, ErrorKey, ErrorDetail string
		// Challenge, when set, is solved in the browser before the send.
		Challenge *ChallengeView
	}
	// CodePage asks for the code texted to MaskedPhone.
	CodePage struct {
		FlowID, CSRF, MaskedPhone, ErrorKey, ErrorDetail string
		// ResendAfter is the countdown, in seconds, before "send again":
		// the server's own wait, read from the send counters.
		ResendAfter int
		// NewPhoneAfter is how long until another number could get a code
		// (limits that do not depend on the number), in seconds.
		NewPhoneAfter int
		// Challenge, when set, is solved in the browser before a resend.
		Challenge *ChallengeView
	}
	// ExpiredPage ends a login that cannot go on (expired, unknown,
	// cancelled) with one way forward: RestartURL starts it again for the
	// same service.
	ExpiredPage struct{ TitleKey, MessageKey, RestartURL string }
)

// The pages, each with a value of its content type with every field set:
// NewPages executes each template with it and with the zero value. Only a
// full value reaches the fields inside {{if}} and {{with}}.
var pageSamples = map[string]any{
	"error": ErrorPage{TitleKey: "error_title", MessageKey: "error_internal", RetryURL: "/retry", RetryKey: "qr_new"},
	"info": InfoPage{TitleKey: "logged_in_title", MessageKey: "logged_in", Detail: "someone",
		BackURL: "https://app.example/", BackName: "App", LogoutURL: "/cas/logout"},
	"post_redirect": PostRedirectPage{
		Action: "https://app.example/", Fields: map[string]string{"ticket": "ST-sample"},
	},
	"login_qr": QRPage{
		FlowID: "flow", CSRF: "csrf", ServiceName: "Service", IframeURL: "https://open.example/qr",
		WxLogin: &wechat.WxLoginOptions{ID: "wx-qr", AppID: "wxapp", State: "state"}, RefreshURL: "/login?flow=flow",
		ExpiresIn: 300, AutoRefreshURL: "/login?flow=flow&refreshed=1", Refreshed: true,
	},
	"login_mobile": MobilePage{MessageKey: "mobile_in_browser", Link: "https://login.example/cas/login", QRURL: "/login?flow=flow&qr=1"},
	"login_bind": BindPage{
		FlowID: "flow", CSRF: "csrf", Nickname: "nickname", Phone: "138", ErrorKey: "invalid_phone", ErrorDetail: "detail",
		Challenge: &ChallengeView{JSON: "{}", Strings: "{}"},
	},
	"login_code": CodePage{
		FlowID: "flow", CSRF: "csrf", MaskedPhone: "138****0000", ErrorKey: "wrong_code", ErrorDetail: "detail", ResendAfter: 60,
		NewPhoneAfter: 120, Challenge: &ChallengeView{JSON: "{}", Strings: "{}"},
	},
	"login_expired": ExpiredPage{TitleKey: "journey_expired_title", MessageKey: "journey_expired", RestartURL: "/cas/login"},
}

// NewPages parses layout.html with each page in fsys and executes every
// page once (see pageSamples). Other files in fsys are ignored.
func NewPages(fsys fs.FS, sandbox bool, opts ...PageOption) (*Pages, error) {
	layout, err := template.ParseFS(fsys, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	p := &Pages{pages: map[string]*template.Template{}, sandbox: sandbox}
	for _, o := range opts {
		o(p)
	}
	p.placeholder = phonePlaceholder(p.region)
	p.hints = map[string]string{}
	for _, lang := range []string{i18n.ZH, i18n.EN} {
		p.hints[lang] = phoneHint(lang, p.region, p.allowed)
	}
	for name, sample := range pageSamples {
		file := name + ".html"
		if _, err := fs.Stat(fsys, file); err != nil {
			return nil, fmt.Errorf("templates: required page %s is missing: %w", file, err)
		}
		t, err := template.Must(layout.Clone()).ParseFS(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", file, err)
		}
		for _, data := range []any{sample, reflect.Zero(reflect.TypeOf(sample)).Interface()} {
			for _, lang := range []string{i18n.ZH, i18n.EN} {
				d := pageData{Lang: lang, Sandbox: true, RequestID: "request", Base: p.base, LangZH: "/?lang=zh-CN", LangEN: "/?lang=en",
					Help: HelpLine{ZH: "help", EN: "help", URL: "https://help.example/"}, Hint: p.hints[lang], Placeholder: p.placeholder, Data: data}
				if err := t.ExecuteTemplate(io.Discard, "layout", d); err != nil {
					return nil, fmt.Errorf("templates: %s does not render: %w", file, err)
				}
			}
		}
		p.pages[name] = t
	}
	return p, nil
}

// render writes page with data in the request's language.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) error {
	t, ok := p.pages[page]
	if !ok {
		return fmt.Errorf("templates: no page %q", page)
	}
	lang := i18n.Pick(r)
	var buf bytes.Buffer
	d := pageData{Lang: lang, Sandbox: p.sandbox, RequestID: logx.RequestID(r.Context()), Data: data, Base: p.base,
		LangZH: p.langLink(r, i18n.ZH), LangEN: p.langLink(r, i18n.EN), Help: p.help, Hint: p.hints[lang], Placeholder: p.placeholder}
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		return fmt.Errorf("templates: render %s: %w", page, err)
	}
	rememberLang(w, r, p.base)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", lang)
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// rememberLang keeps a language chosen with ?lang= in a cookie, for the
// pages after this one (base: see Pages.base).
func rememberLang(w http.ResponseWriter, r *http.Request, base string) {
	if l := i18n.Norm(r.URL.Query().Get("lang")); l != "" {
		http.SetCookie(w, &http.Cookie{Name: i18n.CookieName, Value: l, Path: base + "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
}

// Error renders the error page with catalogued text (see ErrorPage).
func (p *Pages) Error(w http.ResponseWriter, r *http.Request, status int, titleKey, messageKey, retryURL string) error {
	return p.ErrorPage(w, r, status, ErrorPage{TitleKey: titleKey, MessageKey: messageKey, RetryURL: retryURL})
}

// ErrorPage renders the error page as d says.
func (p *Pages) ErrorPage(w http.ResponseWriter, r *http.Request, status int, d ErrorPage) error {
	return p.render(w, r, status, "error", d)
}

// Info renders info.html.
func (p *Pages) Info(w http.ResponseWriter, r *http.Request, status int, d InfoPage) error {
	return p.render(w, r, status, "info", d)
}

// PostRedirect renders post_redirect.html.
func (p *Pages) PostRedirect(w http.ResponseWriter, r *http.Request, status int, d PostRedirectPage) error {
	return p.render(w, r, status, "post_redirect", d)
}

// QR renders login_qr.html.
func (p *Pages) QR(w http.ResponseWriter, r *http.Request, status int, d QRPage) error {
	return p.render(w, r, status, "login_qr", d)
}

// Mobile renders login_mobile.html.
func (p *Pages) Mobile(w http.ResponseWriter, r *http.Request, status int, d MobilePage) error {
	return p.render(w, r, status, "login_mobile", d)
}

// Bind renders login_bind.html.
func (p *Pages) Bind(w http.ResponseWriter, r *http.Request, status int, d BindPage) error {
	return p.render(w, r, status, "login_bind", d)
}

// Code renders login_code.html.
func (p *Pages) Code(w http.ResponseWriter, r *http.Request, status int, d CodePage) error {
	return p.render(w, r, status, "login_code", d)
}

// Expired renders login_expired.html.
func (p *Pages) Expired(w http.ResponseWriter, r *http.Request, status int, d ExpiredPage) error {
	return p.render(w, r, status, "login_expired", d)
}

// langPageKey holds, in a request's context, the page its answer's
// language links switch on (see langPageOn).
type langPageKey struct{}

// langPageOn returns r whose answer's language links switch on page (a path
// with the base, and the query that names the page) instead of on r's own
// URL. It is for answers whose URL would not show them again: a form post's,
// WeChat's callback's (whose code and state are spent). It travels with the
// request, so every page rendered for it — by a handler, by the finisher —
// links there.
func langPageOn(r *http.Request, page string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), langPageKey{}, page))
}

// langPageAt sets the page c's answer switches language on (langPageOn).
func langPageAt(c echo.Context, page string) { c.SetRequest(langPageOn(c.Request(), page)) }

// postsLangPageOn makes the answers to posts switch language on page: an
// error a post meets (a refused token, an outage) is not found again at the
// post's URL. A handler may name a closer page (langPageAt).
func postsLangPageOn(page string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Method == http.MethodPost {
				langPageAt(c, page)
			}
			return next(c)
		}
	}
}

// langLink is the link to the page r answers with, in lang: the page its
// context names, else the request's own (langURL).
func (p *Pages) langLink(r *http.Request, lang string) string {
	if page, _ := r.Context().Value(langPageKey{}).(string); page != "" {
		if u, err := url.Parse(page); err == nil {
			q := u.Query()
			q.Set("lang", lang)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return p.base + langURL(r, lang)
}

// pageParams are the query parameters a language link may repeat.
var pageParams = map[string]bool{"flow": true, "service": true, "renew": true, "gateway": true, "method": true, "qr": true, "appid": true}

// langURL is the current page in another language. A page answering a form
// post is reached again through its journey (the form's own URL only takes
// POST).
func langURL(r *http.Request, lang string) string {
	q := url.Values{}
	path := r.URL.Path
	if r.Method == http.MethodGet {
		// Keep only what identifies the page: never codes, states or tickets.
		for k, v := range r.URL.Query() {
			if pageParams[k] {
				q[k] = v
			}
		}
	} else if id := r.PostFormValue("flow"); id != "" {
		path, q = "/login", url.Values{"flow": {id}}
	} else {
		path = "/"
	}
	q.Set("lang", lang)
	return path + "?" + q.Encode()
}
