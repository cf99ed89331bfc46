// Package api is wxcas's JSON API for WeChat mini programs and mobile apps,
// which never show wxcas a browser. It is a transport of the login journey
// (package journey), as the login pages are: a request becomes an event, the
// journey's answer becomes JSON. The journey exchanges the app's code with
// WeChat (an openid or unionid sent by a client is never trusted), resolves
// and binds the person, and audits; a login that ends with a person is
// finished by the Finisher wiring chose (a CAS SSO session whose TGT buys
// service tickets at /cas/v1/tickets/{TGT}).
//
// Endpoints (all POST, JSON in and out, under /api/v1):
//
//	/login/wechat       {"appid","code"}             → logged_in | binding_required
//	/bind/sms/send      {"bind_token","phone"}       → code_sent (next bind token)
//	/bind/sms/verify    {"bind_token","code"}        → logged_in
//	/bind/wechat-phone  {"bind_token","phone_code"}  → logged_in (mini programs)
//	/bind/cancel        {"bind_token"}               → cancelled
//	/account/...        the person's own account, signed in with the TGT (account.go)
//
// A bind token is the journey's id and a secret for its current step (see
// token.go): every successful step replaces the secret and hands out the
// new token, a failed step leaves it usable, and a used token presented
// again is refused. Errors are an HTTP status and
// {"error":{"code","message","request_id",...}} with a stable code and a
// message from package i18n, shared with the login pages. docs/api.md is the
// reference.
//
// The package is plain net/http; the web layer mounts Handler at /api/v1/,
// sets the request id and tells it the client IP with WithClientIP.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"wxcas/journey"
	"wxcas/ratelimit"
	"wxcas/store"
	"wxcas/wechat"
)

// Apps tells which WeChat app an appid is; *wechat.Client is one.
type Apps interface {
	App(appID string) (wechat.App, bool)
}

// Deps are the handler's collaborators.
type Deps struct {
	// Engine runs the login journeys (shared with the login pages).
	Engine journey.Journeys
	// Finisher issues the result of a login (finish.Session: a CAS SSO
	// session answered as logged_in).
	Finisher journey.Finisher
	// WeChat says which kind of app an appid is, and so which journey
	// channel a login takes.
	WeChat Apps
	// DB holds the rate-limit counters.
	DB *store.DB
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger is used as given: wiring names the component.
	Logger *slog.Logger
	// ClientIP returns the client's address; default: the one set with
	// WithClientIP, else the host of RemoteAddr.
	ClientIP func(*http.Request) string
	// Account serves the person's own account (/account/*, account.go);
	// its zero value leaves those calls out.
	Account AccountDeps
}

// Handler serves the API. It is safe for concurrent use.
type Handler struct {
	cfg      Config
	engine   journey.Journeys
	finisher journey.Finisher
	apps     Apps
	limits   ratelimit.Limiter
	now      func() time.Time
	log      *slog.Logger
	clientIP func(*http.Request) string
	account  AccountDeps
	routes   map[string]func(http.ResponseWriter, *http.Request) error
}

// New checks cfg and builds the handler.
func New(cfg Config, d Deps) (*Handler, error) {
	if p := cfg.Validate(); len(p) > 0 {
		return nil, fmt.Errorf("api: invalid configuration:\n%s", strings.Join(p, "\n"))
	}
	if d.Engine == nil || d.Finisher == nil || d.WeChat == nil || d.DB == nil {
		return nil, errors.New("api: Deps.Engine, Finisher, WeChat and DB are required")
	}
	h := &Handler{
		cfg: cfg, engine: d.Engine, finisher: d.Finisher, apps: d.WeChat, limits: ratelimit.Limiter{DB: d.DB, Table: "api_rate_counters"},
		now: d.Now, log: d.Logger, clientIP: d.ClientIP,
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.clientIP == nil {
		h.clientIP = ClientIP
	}
	h.routes = map[string]func(http.ResponseWriter, *http.Request) error{
		"/login/wechat":      h.handleLogin,
		"/bind/sms/send":     h.handleSMSSend,
		"/bind/sms/verify":   h.handleSMSVerify,
		"/bind/wechat-phone": h.handleWeChatPhone,
		"/bind/cancel":       h.handleCancel,
	}
	if err := h.mountAccount(d.Account); err != nil {
		return nil, err
	}
	return h, nil
}

type clientIPKey struct{}

// WithClientIP returns a context telling the handler the client's IP as the
// HTTP layer resolved it (trusted proxies considered).
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIP is the default Deps.ClientIP: the IP set with WithClientIP, else
// the host of r.RemoteAddr.
func ClientIP(r *http.Request) string {
	if ip, _ := r.Context().Value(clientIPKey{}).(string); ip != "" {
		return ip
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// ServeHTTP answers /api/v1/... (the prefix may also have been stripped).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	route := h.routes[strings.TrimPrefix(r.URL.Path, "/api/v1")]
	var err error
	switch {
	case route == nil:
		err = fail(CodeNotFound, nil)
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		err = fail(CodeMethodNotAllowed, nil)
	default:
		err = route(w, r)
	}
	if err != nil {
		h.writeError(w, r, err)
	}
}

// Cleanup deletes rate-limit windows that have ended. (Journeys, and with
// them bind tokens, are the journey store's to clean up.) Run it now and
// then, e.g. every 10 minutes.
func (h *Handler) Cleanup(ctx context.Context) (int64, error) {
	n, err := h.limits.Cleanup(ctx, h.now())
	if err != nil {
		return n, fmt.Errorf("api: %w", err)
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal_error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decode reads exactly one JSON object into v: application/json only, body
// size-limited, unknown fields rejected.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return fail(CodeUnsupportedMediaType, nil)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fail(CodeUnsupportedMediaType, nil)
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	tooLarge := func(err error) bool {
		var mbe *http.MaxBytesError
		return errors.As(err, &mbe)
	}
	if err := dec.Decode(v); err != nil {
		if tooLarge(err) {
			return fail(CodeRequestTooLarge, nil)
		}
		return invalid("body is not a valid JSON object for this endpoint: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if tooLarge(err) {
			return fail(CodeRequestTooLarge, nil)
		}
		return invalid("body must hold exactly one JSON object")
	}
	return nil
}

// limit counts a call against a limit and refuses it when over.
func (h *Handler) limit(ctx context.Context, name, subject string, lim Limit) error {
	wait, err := h.limits.Hit(ctx, ratelimit.Key(name, subject), lim, h.now())
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if wait > 0 {
		return &apiError{code: CodeRateLimited, retryAfter: wait, cause: fmt.Errorf("limit %s", name)}
	}
	return nil
}

// field is a string field of a request, with its length bound.
type field struct {
	name, value string
	max         int
}

// required checks that string fields are present, free of control
// characters and bounded.
func required(fields ...field) error {
	for _, f := range fields {
		switch {
		case f.value == "":
			return invalid("%s is required", f.name)
		case len(f.value) > f.max:
			return invalid("%s is longer than %d bytes", f.name, f.max)
		case strings.IndexFunc(f.value, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
			return invalid("%s contains control characters", f.name)
		}
	}
	return nil
}
