// Package wechat is a small client for the WeChat login APIs used by wxcas:
// website QR login (qrconnect and wxLogin.js), Official Account web
// authorization, mobile-app login, mini program jscode2session and phone
// number, and the app-level access token.
//
// The client has no package globals: both base URLs, the *http.Client and the
// clock are injected through Config, so tests and the sandbox can point it at
// the emulator in wechat/emulator.
//
// Errors are *Error values whose Kind is an ErrorKind; every ErrorKind is an
// error itself, so callers write errors.Is(err, wechat.ErrCodeUsed). No error
// string ever contains an app secret, a code, a token or a request URL, and
// the client never logs.
package wechat

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Default hosts and the wxLogin.js script published by WeChat.
const (
	DefaultOpenBaseURL = "https://open.weixin.qq.com"
	DefaultAPIBaseURL  = "https://api.weixin.qq.com"
	WxLoginScriptURL   = "https://res.wx.qq.com/connect/zh_CN/htmledition/js/wxLogin.js"
)

// Default call policy.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxRetries   = 2
	DefaultRetryBackoff = 200 * time.Millisecond
)

// Kind is the WeChat product an AppID belongs to. AppIDs are product specific:
// a website app goes with qrconnect, an Official Account with oauth2/authorize.
type Kind string

// App kinds.
const (
	KindWebsite         Kind = "website"
	KindOfficialAccount Kind = "official_account"
	KindMiniProgram     Kind = "mini_program"
	KindMobileApp       Kind = "mobile_app"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindWebsite, KindOfficialAccount, KindMiniProgram, KindMobileApp:
		return true
	}
	return false
}

// App is one WeChat application (AppID + AppSecret) the service may use.
type App struct {
	AppID  string
	Secret string
	Kind   Kind
	// ComponentAppID, for an Official Account served through a WeChat
	// third-party platform, is the platform's component appid: its web
	// authorization carries component_appid and its codes are exchanged
	// with the platform's component_access_token instead of a Secret
	// (which is then empty).
	ComponentAppID string
}

// Platform is a WeChat third-party platform (开放平台第三方平台) whose
// component appid and secret fetch the component_access_token.
type Platform struct {
	ComponentAppID string
	Secret         string
}

// ViaPlatform reports whether the app is served through a third-party
// platform.
func (a App) ViaPlatform() bool { return a.ComponentAppID != "" }

// String describes the app without its secret.
func (a App) String() string { return fmt.Sprintf("%s app %s", a.Kind, a.AppID) }

// GoString describes the app without its secret.
func (a App) GoString() string {
	return fmt.Sprintf("wechat.App{AppID:%q, Kind:%q, Secret:[redacted]}", a.AppID, a.Kind)
}

// LogValue keeps the secret out of slog output.
func (a App) LogValue() slog.Value {
	return slog.GroupValue(slog.String("appid", a.AppID), slog.String("kind", string(a.Kind)))
}

// Config configures a Client. Only Apps is required.
type Config struct {
	// OpenBaseURL serves the browser-facing pages (qrconnect, oauth2/authorize).
	// Default DefaultOpenBaseURL. May carry a path prefix (the sandbox).
	OpenBaseURL string
	// APIBaseURL serves the server-to-server API. Default DefaultAPIBaseURL.
	APIBaseURL string
	// Apps lists every app; secrets are looked up by AppID.
	Apps []App
	// Platforms lists the third-party platforms the apps with a
	// ComponentAppID are served through.
	Platforms []Platform
	// HTTPClient makes the calls. Default: a client that does not follow redirects.
	HTTPClient *http.Client
	// Timeout bounds each call including its retries (the caller's context
	// deadline applies too). Default DefaultTimeout.
	Timeout time.Duration
	// MaxRetries is how often a call that is safe to repeat is retried
	// after a busy answer (-1), a transport error or a malformed body.
	// 0 means DefaultMaxRetries; negative disables retries.
	MaxRetries int
	// RetryBackoff is the first pause between attempts; it doubles after
	// each attempt. Default DefaultRetryBackoff.
	RetryBackoff time.Duration
	// Now is the clock used for expiry times. Default time.Now.
	Now func() time.Time
	// Observe, when set, is told about every request sent to WeChat (each
	// attempt of a retried call): its operation (an API path such as
	// "sns/oauth2/access_token", never a URL with a query) and its error
	// (nil when WeChat answered with success); see Result. It must be
	// quick: it runs on the caller's goroutine.
	Observe func(op string, err error)
}

// Client calls WeChat. It is safe for concurrent use.
type Client struct {
	openBase   string
	apiBase    string
	apps       map[string]App
	platforms  map[string]Platform
	secrets    []string // every app secret, removed from all error messages
	http       *http.Client
	timeout    time.Duration
	maxRetries int
	backoff    time.Duration
	now        func() time.Time
	onCall     func(op string, err error)
}

// New validates cfg and returns a Client. It reports every problem at once.
func New(cfg Config) (*Client, error) {
	var errs []error
	c := &Client{
		apps:       make(map[string]App, len(cfg.Apps)),
		platforms:  make(map[string]Platform, len(cfg.Platforms)),
		http:       cfg.HTTPClient,
		timeout:    cfg.Timeout,
		maxRetries: cfg.MaxRetries,
		backoff:    cfg.RetryBackoff,
		now:        cfg.Now,
		onCall:     cfg.Observe,
	}
	var err error
	if c.openBase, err = baseURL("OpenBaseURL", cfg.OpenBaseURL, DefaultOpenBaseURL); err != nil {
		errs = append(errs, err)
	}
	if c.apiBase, err = baseURL("APIBaseURL", cfg.APIBaseURL, DefaultAPIBaseURL); err != nil {
		errs = append(errs, err)
	}
	if len(cfg.Apps) == 0 {
		errs = append(errs, errors.New("wechat config: no apps configured"))
	}
	for i, p := range cfg.Platforms {
		switch {
		case p.ComponentAppID == "":
			errs = append(errs, fmt.Errorf("wechat config: platforms[%d]: empty component appid", i))
			continue
		case p.Secret == "":
			errs = append(errs, fmt.Errorf("wechat config: platform %s: empty secret", p.ComponentAppID))
		}
		if _, dup := c.platforms[p.ComponentAppID]; dup {
			errs = append(errs, fmt.Errorf("wechat config: platform %s listed twice", p.ComponentAppID))
		}
		c.platforms[p.ComponentAppID] = p
		c.secrets = append(c.secrets, p.Secret)
	}
	for i, a := range cfg.Apps {
		switch {
		case a.AppID == "":
			errs = append(errs, fmt.Errorf("wechat config: apps[%d]: empty appid", i))
			continue
		case strings.TrimSpace(a.AppID) != a.AppID:
			errs = append(errs, fmt.Errorf("wechat config: apps[%d]: appid has surrounding spaces", i))
		}
		switch {
		case a.ViaPlatform() && a.Kind != KindOfficialAccount:
			errs = append(errs, fmt.Errorf("wechat config: app %s: only an official_account can be served through a platform", a.AppID))
		case a.ViaPlatform() && c.platforms[a.ComponentAppID].ComponentAppID == "":
			errs = append(errs, fmt.Errorf("wechat config: app %s: platform %s is not configured", a.AppID, a.ComponentAppID))
		case a.ViaPlatform() && a.Secret != "":
			errs = append(errs, fmt.Errorf("wechat config: app %s: served through a platform, so it has no secret", a.AppID))
		case !a.ViaPlatform() && a.Secret == "":
			errs = append(errs, fmt.Errorf("wechat config: app %s: empty secret", a.AppID))
		}
		if !a.Kind.Valid() {
			errs = append(errs, fmt.Errorf("wechat config: app %s: unknown kind %q", a.AppID, a.Kind))
		}
		if _, dup := c.apps[a.AppID]; dup {
			errs = append(errs, fmt.Errorf("wechat config: app %s listed twice", a.AppID))
		}
		c.apps[a.AppID] = a
		if a.Secret != "" {
			c.secrets = append(c.secrets, a.Secret)
		}
	}
	if c.timeout < 0 || c.backoff < 0 {
		errs = append(errs, errors.New("wechat config: negative Timeout or RetryBackoff"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if c.http == nil {
		c.http = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.backoff == 0 {
		c.backoff = DefaultRetryBackoff
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

func baseURL(name, v, def string) (string, error) {
	if v == "" {
		v = def
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("wechat config: %s must be an absolute http(s) URL without query", name)
	}
	return strings.TrimRight(v, "/"), nil
}

// App returns the configured app with this AppID.
func (c *Client) App(appID string) (App, bool) {
	a, ok := c.apps[appID]
	return a, ok
}

// app looks an app up and checks its kind, without calling WeChat.
func (c *Client) app(op, appID string, kinds ...Kind) (App, error) {
	a, ok := c.apps[appID]
	if !ok {
		return App{}, newError(op, ErrUnknownApp, "appid is not configured")
	}
	for _, k := range kinds {
		if a.Kind == k {
			return a, nil
		}
	}
	return App{}, newError(op, ErrWrongAppKind, fmt.Sprintf("app %s is a %s app", a.AppID, a.Kind))
}

// ownSecretApp is app for the calls that send the app's own secret: an
// Official Account served through a platform has none (its platform's
// authorizer tokens are out of wxcas's scope).
func (c *Client) ownSecretApp(op, appID string, kinds ...Kind) (App, error) {
	a, err := c.app(op, appID, kinds...)
	if err == nil && a.ViaPlatform() {
		return App{}, newError(op, ErrWrongAppKind, "app "+a.AppID+" is served through a platform and has no secret")
	}
	return a, err
}
