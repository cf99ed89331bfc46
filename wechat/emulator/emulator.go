// Package emulator is a local stand-in for WeChat's login APIs, for tests and
// for wxcas's sandbox mode. It speaks WeChat's wire protocol: HTTP 200
// errors with errcode/errmsg (errmsg ending in ", rid: ..."), success
// bodies without errcode, some JSON labelled text/plain, single-use codes
// with per-product lifetimes, one unionid per person per open-platform
// account and one openid per person per app, snapshot-page users, and
// injectable faults.
//
// An *Emulator is an http.Handler serving, at its root, both the
// browser-facing pages of open.weixin.qq.com and the API of
// api.weixin.qq.com, so one base URL serves both:
//
//	GET  /connect/qrconnect             website QR login (sandbox "phone" page)
//	GET  /connect/oauth2/authorize      Official Account authorization (same page)
//	POST (same two paths)               the phone page's approve/refuse form
//	GET  /sns/oauth2/access_token, /sns/oauth2/refresh_token, /sns/auth,
//	     /sns/userinfo, /sns/jscode2session, /cgi-bin/token
//	POST /cgi-bin/stable_token, /wxa/business/getuserphonenumber
//	POST /cgi-bin/component/api_component_token   third-party platform token
//	GET  /sns/oauth2/component/access_token, /sns/oauth2/component/refresh_token
//	POST /_sandbox/code                 sandbox helper: mint a code for scripts
//	GET  /_sandbox/signin, /_sandbox/signout   sandbox helper: this phone's WeChat account
//	POST /_sandbox/push                 sandbox helper: push a component_verify_ticket now
//	GET  /                              sandbox overview page
//
// To mount it under a prefix, strip the prefix before the emulator sees the
// request; its pages only use relative links, so they work under any prefix:
//
//	mux.Handle("/sandbox/wechat/", http.StripPrefix("/sandbox/wechat", em))
//
// and configure the client with OpenBaseURL = APIBaseURL =
// "https://cas.example.org/sandbox/wechat". wxcas's sandbox mounts it so;
// `wxcas emulator` serves it alone, under the same prefix, in a process of
// its own, so that a load test of wxcas leaves the emulator's work out.
//
// On the authorize pages, sandbox_user=<name> approves at once as that
// person (created if new) with a 302 to redirect_uri?code=...&state=...;
// sandbox_refuse=1 refuses; sandbox_snapshot=1 makes an Official Account
// snsapi_userinfo approval a snapshot-page one. Without them a person picks
// or creates a test user and approves or refuses.
//
// The browser stands for the phone's WeChat on the Official Account pages:
// the wxemu_person cookie names the account it is signed in to (see
// consent.go). With it, snsapi_base is silent and snsapi_userinfo asks only
// once per app, as in WeChat; qrconnect ignores it, since that QR is
// scanned with another device.
//
// Third-party platforms (开放平台第三方平台, platform.go and push.go) serve
// Official Accounts that authorized them: component tokens, component code
// exchanges, and encrypted event pushes (component_verify_ticket,
// authorized, unauthorized) to the platform's event URL.
//
// All state is in memory, guarded by one mutex; the emulator is safe for
// concurrent use. Expiry decisions read the injected clock (Options.Now).
package emulator

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind is the product an app belongs to (the same strings as wechat.Kind).
type Kind string

// App kinds.
const (
	KindWebsite         Kind = "website"
	KindOfficialAccount Kind = "official_account"
	KindMiniProgram     Kind = "mini_program"
	KindMobileApp       Kind = "mobile_app"
)

// Lifetimes.
const (
	CodeTTLWebsite         = 10 * time.Minute
	CodeTTLOfficialAccount = 5 * time.Minute
	CodeTTLMiniProgram     = 5 * time.Minute
	CodeTTLPhone           = 5 * time.Minute
	CodeTTLMobileApp       = 10 * time.Minute // undocumented; treated like website
	AccessTokenTTL         = 7200 * time.Second
	RefreshTokenTTL        = 30 * 24 * time.Hour
	AppTokenTTL            = 7200 * time.Second
	// AppTokenOverlap is how long a superseded app-level token stays valid.
	AppTokenOverlap = 5 * time.Minute
	// TicketTTL is how long a phone page stays usable.
	TicketTTL = 10 * time.Minute
)

// Paths served by the emulator.
const (
	PathQRConnect       = "/connect/qrconnect"
	PathOAuth2Authorize = "/connect/oauth2/authorize"
	PathAccessToken     = "/sns/oauth2/access_token"
	PathRefreshToken    = "/sns/oauth2/refresh_token"
	PathAuth            = "/sns/auth"
	PathUserInfo        = "/sns/userinfo"
	PathJSCode2Session  = "/sns/jscode2session"
	PathToken           = "/cgi-bin/token"
	PathStableToken     = "/cgi-bin/stable_token"
	PathPhoneNumber     = "/wxa/business/getuserphonenumber"
	PathSandboxCode     = "/_sandbox/code"

	PathComponentToken        = "/cgi-bin/component/api_component_token"
	PathComponentAccessToken  = "/sns/oauth2/component/access_token"
	PathComponentRefreshToken = "/sns/oauth2/component/refresh_token"
	PathSandboxSignIn         = "/_sandbox/signin"
	PathSandboxSignOut        = "/_sandbox/signout"
	PathSandboxPush           = "/_sandbox/push"
)

// App is an app registered with the emulated WeChat.
type App struct {
	AppID  string
	Secret string
	Kind   Kind
	// OpenPlatformID is the open-platform account the app is bound to: a
	// person has one unionid per account. Website and mobile apps always
	// belong to an account (empty means one of their own); an Official
	// Account or mini program with none gets no unionid.
	OpenPlatformID string
	// CallbackDomain, if set, is the only host redirect_uri may have (exact
	// match, port ignored). Empty accepts any http(s) redirect_uri.
	CallbackDomain string
	// ComponentAppID, for an Official Account, names the third-party
	// platform (Options.Platforms) that serves it: its authorize URLs must
	// carry component_appid and its codes are exchanged at the component
	// endpoints. Such an app may have an empty Secret.
	ComponentAppID string
}

func (a *App) account() string {
	switch {
	case a.OpenPlatformID != "":
		return a.OpenPlatformID
	case a.Kind == KindWebsite || a.Kind == KindMobileApp:
		return "app:" + a.AppID
	}
	return ""
}

func (a *App) codeTTL() time.Duration {
	switch a.Kind {
	case KindOfficialAccount:
		return CodeTTLOfficialAccount
	case KindMiniProgram:
		return CodeTTLMiniProgram
	case KindMobileApp:
		return CodeTTLMobileApp
	}
	return CodeTTLWebsite
}

// Person is a test WeChat user. Unknown persons are created on first use.
type Person struct {
	Name       string // 1–32 printable characters; the key
	Nickname   string // default: Name followed by an emoji
	HeadImgURL string // default: a derived thirdwx.qlogo.cn URL
	Phone      string // mainland number; default derived from Name
	// Snapshot makes every Official Account snsapi_userinfo authorization
	// a snapshot-page one (is_snapshotuser=1, virtual openid).
	Snapshot bool
	// Blocked makes jscode2session answer 40226 (high-risk user).
	Blocked bool
}

// Options configure an Emulator.
type Options struct {
	Apps    []App
	Persons []Person
	// Now is the clock for every expiry. Default time.Now.
	Now func() time.Time
	// Seed is mixed into the derived openids and unionids, which are
	// otherwise stable across restarts for the same app and person name.
	Seed string
	// RefuseWithoutRedirect: on refusal show a page instead of redirecting
	// to redirect_uri?state=... (both behaviours are reported for WeChat).
	RefuseWithoutRedirect bool
	// Platforms are the third-party platforms (see Platform).
	Platforms []Platform
	// HTTPClient makes the event pushes to the platforms' EventURL.
	// Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Logger receives the outcome of StartTicketPush's pushes (never a
	// ticket). Default: no logging.
	Logger *slog.Logger
}

type codeKind int

const (
	codeOAuth codeKind = iota + 1
	codeJS
	codePhone
)

type codeEntry struct {
	kind     codeKind
	appID    string
	person   string
	scope    string
	snapshot bool
	expires  time.Time
	used     bool
	// component is the platform through which an Official Account code
	// was issued; such a code is exchanged only at the component endpoint.
	component string
}

type userToken struct {
	appID, person, openID, scope string
	snapshot                     bool
	expires                      time.Time
}

type refreshEntry struct {
	appID, person, openID, scope string
	snapshot                     bool
	access                       string
	expires                      time.Time
	component                    string // as codeEntry.component
}

type appTokenEntry struct {
	appID   string
	expires time.Time
}

// Emulator is an in-memory WeChat. Create it with New.
type Emulator struct {
	now   func() time.Time
	seed  string
	opts  Options
	apps  map[string]*App
	pages *pages
	// platforms is fixed after New; their changing state is below.
	platforms map[string]*platform
	client    *http.Client
	log       *slog.Logger

	mu           sync.Mutex
	persons      map[string]*Person
	codes        map[string]*codeEntry
	tokens       map[string]*userToken
	refresh      map[string]*refreshEntry
	appTokens    map[string]*appTokenEntry
	currentToken map[string]string // appid → latest cgi-bin/token
	stableToken  map[string]string // appid → current stable_token
	tickets      map[string]*authRequest
	faults       map[string][]Fault
	calls        map[string]int

	consents       map[string]bool // app|person → snsapi_userinfo granted
	consentPages   map[string]int  // appid → consent/picker pages shown
	authorizations map[string]int  // appid → valid authorize GETs
	authorized     map[string]bool // platform-served appid → authorizes its platform
	compTokens     map[string]*componentTokenEntry
	currentComp    map[string]string // component appid → newest component token
	verifyTickets  map[string]*verifyTicket
	newestTicket   map[string]string // component appid → newest pushed ticket
	// expiry queues every entry above that lapses, for gcLocked.
	expiry expiries
}

// New returns an emulator for opts.
func New(opts Options) (*Emulator, error) {
	e := &Emulator{
		now:          opts.Now,
		seed:         opts.Seed,
		opts:         opts,
		apps:         map[string]*App{},
		persons:      map[string]*Person{},
		codes:        map[string]*codeEntry{},
		tokens:       map[string]*userToken{},
		refresh:      map[string]*refreshEntry{},
		appTokens:    map[string]*appTokenEntry{},
		currentToken: map[string]string{},
		stableToken:  map[string]string{},
		tickets:      map[string]*authRequest{},
		faults:       map[string][]Fault{},
		calls:        map[string]int{},

		platforms:      map[string]*platform{},
		consents:       map[string]bool{},
		consentPages:   map[string]int{},
		authorizations: map[string]int{},
		authorized:     map[string]bool{},
		compTokens:     map[string]*componentTokenEntry{},
		currentComp:    map[string]string{},
		verifyTickets:  map[string]*verifyTicket{},
		newestTicket:   map[string]string{},
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.client = opts.HTTPClient
	if e.client == nil {
		e.client = &http.Client{Timeout: 10 * time.Second}
	}
	e.log = opts.Logger
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	for i := range opts.Apps {
		a := opts.Apps[i]
		switch {
		case a.AppID == "":
			errs = append(errs, fmt.Errorf("emulator: apps[%d]: empty appid", i))
			continue
		case a.Secret == "" && a.ComponentAppID == "":
			// Only an app served through a platform can do without.
			errs = append(errs, fmt.Errorf("emulator: app %s: empty secret", a.AppID))
		case e.apps[a.AppID] != nil:
			errs = append(errs, fmt.Errorf("emulator: app %s listed twice", a.AppID))
		}
		switch a.Kind {
		case KindWebsite, KindOfficialAccount, KindMiniProgram, KindMobileApp:
		default:
			errs = append(errs, fmt.Errorf("emulator: app %s: unknown kind %q", a.AppID, a.Kind))
		}
		e.apps[a.AppID] = &a
	}
	errs = append(errs, e.addPlatforms(opts.Platforms)...)
	for _, p := range opts.Persons {
		if err := e.SetPerson(p); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var err error
	if e.pages, err = newPages(); err != nil {
		return nil, err
	}
	return e, nil
}

// ServeHTTP implements http.Handler.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := e.route(r.URL.Path)
	if h == nil {
		http.NotFound(w, r)
		return
	}
	if f, ok := e.takeFault(r.URL.Path); ok {
		e.applyFault(w, r, h, f)
		return
	}
	h(w, r)
}

func (e *Emulator) route(path string) http.HandlerFunc {
	switch path {
	case PathQRConnect:
		return func(w http.ResponseWriter, r *http.Request) { e.handleAuthorize(w, r, false) }
	case PathOAuth2Authorize:
		return func(w http.ResponseWriter, r *http.Request) { e.handleAuthorize(w, r, true) }
	case PathAccessToken:
		return e.handleAccessToken
	case PathRefreshToken:
		return e.handleRefreshToken
	case PathAuth:
		return e.handleAuth
	case PathUserInfo:
		return e.handleUserInfo
	case PathJSCode2Session:
		return e.handleJSCode2Session
	case PathToken:
		return e.handleToken
	case PathStableToken:
		return e.handleStableToken
	case PathPhoneNumber:
		return e.handlePhoneNumber
	case PathSandboxCode:
		return e.handleSandboxCode
	case PathComponentToken:
		return e.handleComponentToken
	case PathComponentAccessToken:
		return e.handleComponentAccessToken
	case PathComponentRefreshToken:
		return e.handleComponentRefreshToken
	case PathSandboxSignIn:
		return e.handleSignIn
	case PathSandboxSignOut:
		return e.handleSignOut
	case PathSandboxPush:
		return e.handleSandboxPush
	case "/", "":
		return e.handleIndex
	}
	return nil
}

// SetPerson adds a person or replaces the one with the same name. Empty
// Nickname, HeadImgURL and Phone get derived defaults.
func (e *Emulator) SetPerson(p Person) error {
	if err := checkName(p.Name); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.persons[p.Name] = e.withDefaults(p)
	return nil
}

// Person returns the person with this name.
func (e *Emulator) Person(name string) (Person, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.persons[name]
	if !ok {
		return Person{}, false
	}
	return *p, true
}

// Persons returns every person, sorted by name.
func (e *Emulator) Persons() []Person {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.personsLocked()
}

func (e *Emulator) personsLocked() []Person {
	out := make([]Person, 0, len(e.persons))
	for _, p := range e.persons {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func checkName(name string) error {
	n := utf8.RuneCountInString(name)
	if n == 0 || n > 32 || strings.TrimSpace(name) != name || !utf8.ValidString(name) {
		return fmt.Errorf("emulator: person name must be 1-32 characters without surrounding spaces")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("emulator: person name must be printable")
		}
	}
	return nil
}

func (e *Emulator) withDefaults(p Person) *Person {
	h := e.hash("person|" + p.Name)
	if p.Nickname == "" {
		p.Nickname = p.Name + " 🐼"
	}
	if p.HeadImgURL == "" {
		p.HeadImgURL = "https://thirdwx.qlogo.cn/mmopen/vi_32/" + base64.RawURLEncoding.EncodeToString(h[:18]) + "/132"
	}
	if p.Phone == "" {
		var d strings.Builder
		d.WriteString("139")
		for _, b := range h[:8] {
			d.WriteByte('0' + b%10)
		}
		p.Phone = d.String()
	}
	return &p
}

// person returns the named person, creating it if needed. Caller holds mu.
func (e *Emulator) personLocked(name string) (*Person, error) {
	if p := e.persons[name]; p != nil {
		return p, nil
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	p := e.withDefaults(Person{Name: name})
	e.persons[name] = p
	return p, nil
}

func (e *Emulator) hash(s string) [32]byte { return sha256.Sum256([]byte(e.seed + "\x00" + s)) }

// derive makes a 28-character id like WeChat's: "o", a 5-character prefix
// shared by every id of the namespace, then 22 characters for the person.
func (e *Emulator) derive(namespace, key string) string {
	p := e.hash(namespace)
	h := e.hash(namespace + "|" + key)
	return "o" + base64.RawURLEncoding.EncodeToString(p[:])[:5] + base64.RawURLEncoding.EncodeToString(h[:])[:22]
}

func (e *Emulator) openID(appID, person string, snapshot bool) string {
	if snapshot {
		return e.derive("openid|"+appID, "snapshot|"+person)
	}
	return e.derive("openid|"+appID, person)
}

func (e *Emulator) unionID(app *App, person string) string {
	acct := app.account()
	if acct == "" {
		return ""
	}
	return e.derive("unionid|"+acct, person)
}

// OpenID returns the person's openid in the app ("" for an unknown app).
func (e *Emulator) OpenID(appID, person string) string {
	if e.apps[appID] == nil {
		return ""
	}
	return e.openID(appID, person, false)
}

// UnionID returns the person's unionid for the app's open-platform account,
// or "" if the app is unknown or not bound to an account.
func (e *Emulator) UnionID(appID, person string) string {
	app := e.apps[appID]
	if app == nil {
		return ""
	}
	return e.unionID(app, person)
}

// IssueCode returns an authorization code as if person had approved the
// app's authorization with scope, without going through a page. Website
// apps default to snsapi_login, mobile apps to snsapi_userinfo; an Official
// Account needs snsapi_base or snsapi_userinfo. The code of an Official
// Account served through a platform is exchanged at the component
// endpoint only, and there is none while the account has withdrawn its
// authorization of the platform.
func (e *Emulator) IssueCode(appID, person, scope string) (string, error) {
	return e.issueOAuth(appID, person, scope, false)
}

func (e *Emulator) issueOAuth(appID, person, scope string, snapshot bool) (string, error) {
	app := e.apps[appID]
	if app == nil {
		return "", fmt.Errorf("emulator: unknown appid")
	}
	switch app.Kind {
	case KindWebsite:
		if scope == "" {
			scope = "snsapi_login"
		}
		if !hasScope(scope, "snsapi_login") {
			return "", fmt.Errorf("emulator: a website app needs snsapi_login")
		}
	case KindMobileApp:
		if scope == "" {
			scope = "snsapi_userinfo"
		}
	case KindOfficialAccount:
		if scope != "snsapi_base" && scope != "snsapi_userinfo" {
			return "", fmt.Errorf("emulator: an official account needs snsapi_base or snsapi_userinfo")
		}
	default:
		return "", fmt.Errorf("emulator: a %s app has no authorization codes", app.Kind)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if app.ComponentAppID != "" && !e.authorized[appID] {
		return "", errNotAuthorized
	}
	p, err := e.personLocked(person)
	if err != nil {
		return "", err
	}
	snapshot = app.Kind == KindOfficialAccount && scope == "snsapi_userinfo" && (snapshot || p.Snapshot)
	return e.newCodeLocked(&codeEntry{kind: codeOAuth, appID: appID, component: app.ComponentAppID, person: p.Name,
		scope: scope, snapshot: snapshot, expires: e.now().Add(app.codeTTL())}), nil
}

// IssueJSCode returns a mini program wx.login code for person.
func (e *Emulator) IssueJSCode(appID, person string) (string, error) {
	return e.issueMini(appID, person, codeJS, CodeTTLMiniProgram)
}

// IssuePhoneCode returns a mini program getPhoneNumber code for person.
func (e *Emulator) IssuePhoneCode(appID, person string) (string, error) {
	return e.issueMini(appID, person, codePhone, CodeTTLPhone)
}

func (e *Emulator) issueMini(appID, person string, kind codeKind, ttl time.Duration) (string, error) {
	app := e.apps[appID]
	if app == nil {
		return "", fmt.Errorf("emulator: unknown appid")
	}
	if app.Kind != KindMiniProgram {
		return "", fmt.Errorf("emulator: not a mini program")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p, err := e.personLocked(person)
	if err != nil {
		return "", err
	}
	return e.newCodeLocked(&codeEntry{kind: kind, appID: appID, person: p.Name, expires: e.now().Add(ttl)}), nil
}

func (e *Emulator) newCodeLocked(c *codeEntry) string {
	code := randomAlnum(32)
	e.codes[code] = c
	e.expiry.add("code", code, c.expires)
	e.gcLocked()
	return code
}

// gcLocked drops long-dead entries so a long-running sandbox stays small.
func (e *Emulator) gcLocked() {
	now := e.now()
	cutoff := now.Add(-time.Hour)
	// Tickets are kept well past their validity so that a stale one is
	// told apart (61005) from one never pushed (61006).
	ticketCutoff := now.Add(-4 * VerifyTicketTTL)
	e.expiry.sweep(cutoff, func(kind, key string) (time.Time, bool) {
		var expires time.Time
		switch kind {
		case "code":
			if c := e.codes[key]; c != nil {
				expires = c.expires
			}
		case "token":
			if t := e.tokens[key]; t != nil {
				expires = t.expires
			}
		case "refresh":
			if t := e.refresh[key]; t != nil {
				expires = t.expires
			}
		case "apptoken":
			if t := e.appTokens[key]; t != nil {
				expires = t.expires
			}
		case "ticket":
			if t := e.tickets[key]; t != nil {
				expires = t.expires
			}
		case "component":
			if t := e.compTokens[key]; t != nil {
				expires = t.expires
			}
		case "verify":
			if t := e.verifyTickets[key]; t != nil && !t.pushed.Before(ticketCutoff) {
				return t.pushed.Add(4 * VerifyTicketTTL).Add(time.Hour), true
			}
			delete(e.verifyTickets, key)
			return time.Time{}, false
		}
		if !expires.IsZero() && !expires.Before(cutoff) {
			return expires, true // extended meanwhile (a refreshed access token)
		}
		switch kind {
		case "code":
			delete(e.codes, key)
		case "token":
			delete(e.tokens, key)
		case "refresh":
			delete(e.refresh, key)
		case "apptoken":
			delete(e.appTokens, key)
		case "ticket":
			delete(e.tickets, key)
		case "component":
			delete(e.compTokens, key)
		}
		return time.Time{}, false
	})
}

func hasScope(list, scope string) bool {
	for s := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(s) == scope {
			return true
		}
	}
	return false
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomAlnum(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

func randomToken() string {
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomRID() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%x-%x-%x", b[0:4], b[4:8], b[8:12])
}
