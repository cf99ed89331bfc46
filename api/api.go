// Package api is wxcas's JSON API for WeChat mini programs and mobile apps,
// which never show wxcas a browser. A client sends the code it got from
// wx.login (mini program) or the Open SDK (mobile app); wxcas exchanges it
// with WeChat itself (an openid or unionid sent by a client is never
// trusted), resolves the person through login.Service exactly as the browser
// flow does, and answers with a CAS TGT, or with a bind token when the person
// must first bind a phone number: by SMS code, or (mini programs) by the
// phone number WeChat vouches for. The TGT then buys service tickets at the
// CAS REST endpoint /cas/v1/tickets/{TGT}.
//
// Endpoints (all POST, JSON in and out, under /api/v1):
//
//	/login/wechat       {"appid","code"}             → logged_in | binding_required
//	/bind/sms/send      {"bind_token","phone"}       → code_sent (next bind token)
//	/bind/sms/verify    {"bind_token","code"}        → logged_in
//	/bind/wechat-phone  {"bind_token","phone_code"}  → logged_in (mini programs)
//
// Bind tokens form a single-use chain: every successful step uses its token
// up and returns the next one, a failed step leaves it usable, and a used
// token presented again is refused. Errors are an HTTP status
// and {"error":{"code","message","request_id",...}} with a stable code and a
// message in Chinese, or in English when ?lang=, the language cookie or
// Accept-Language asks for it (package i18n, shared with the login pages).
// docs/api.md is the reference.
//
// The package is plain net/http; the HTTP layer mounts Handler at /api/v1/
// and tells it the client IP with WithClientIP.
package api

import (
	"context"
	"crypto/rand"
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

	"wxcas/audit"
	"wxcas/cas"
	"wxcas/i18n"
	"wxcas/login"
	"wxcas/logx"
	"wxcas/ratelimit"
	"wxcas/store"
	"wxcas/wechat"
	"wxcas/wechat/apptoken"
)

// SessionCreator starts CAS SSO sessions; *cas.Server is one.
type SessionCreator interface {
	CreateSession(ctx context.Context, p cas.Principal) (tgtID string, expiresAt time.Time, err error)
}

// Deps are the handler's collaborators.
type Deps struct {
	// Login resolves and binds identities (shared with the browser flow).
	Login *login.Service
	// WeChat exchanges codes and fetches phone numbers.
	WeChat *wechat.Client
	// AppTokens caches app access tokens (for WeChat phone-number binding).
	AppTokens *apptoken.Cache
	// CAS issues the TGT of a login (the *cas.Server).
	CAS SessionCreator
	// DB holds bind tokens and rate-limit counters.
	DB *store.DB
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// ClientIP returns the client's address; default: the one set with
	// WithClientIP, else the host of RemoteAddr.
	ClientIP func(*http.Request) string
	// Audit records logins, bindings and refusals (default: the log only).
	Audit audit.Log
}

// Handler serves the API. It is safe for concurrent use.
type Handler struct {
	cfg      Config
	login    *login.Service
	wx       *wechat.Client
	tokens   *apptoken.Cache
	cas      SessionCreator
	db       *store.DB
	binds    bindStore
	limits   limiter
	now      func() time.Time
	log      *slog.Logger
	clientIP func(*http.Request) string
	audit    audit.Log
	routes   map[string]func(http.ResponseWriter, *http.Request) error
}

// New checks cfg and builds the handler.
func New(cfg Config, d Deps) (*Handler, error) {
	if p := cfg.Validate(); len(p) > 0 {
		return nil, fmt.Errorf("api: invalid configuration:\n%s", strings.Join(p, "\n"))
	}
	if d.Login == nil || d.WeChat == nil || d.AppTokens == nil || d.CAS == nil || d.DB == nil {
		return nil, errors.New("api: Deps.Login, WeChat, AppTokens, CAS and DB are required")
	}
	h := &Handler{
		cfg: cfg, login: d.Login, wx: d.WeChat, tokens: d.AppTokens, cas: d.CAS, db: d.DB,
		binds: bindStore{d.DB}, limits: limiter{d.DB}, now: d.Now, log: d.Logger, clientIP: d.ClientIP, audit: d.Audit,
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h.log = h.log.With("component", "api")
	if h.clientIP == nil {
		h.clientIP = ClientIP
	}
	if h.audit == nil {
		h.audit = audit.Best(nil, h.log)
	}
	h.routes = map[string]func(http.ResponseWriter, *http.Request) error{
		"/login/wechat":      h.handleLogin,
		"/bind/sms/send":     h.handleSMSSend,
		"/bind/sms/verify":   h.handleSMSVerify,
		"/bind/wechat-phone": h.handleWeChatPhone,
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
	ctx := r.Context()
	if logx.RequestID(ctx) == "" {
		id := strings.ToLower(rand.Text()[:16])
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(logx.WithRequestID(ctx, id))
	}
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

// Cleanup deletes bind tokens that expired over an hour ago (until then a
// late client is told "expired" rather than "invalid") and ended rate-limit
// windows. Run it now and then, e.g. every 10 minutes.
func (h *Handler) Cleanup(ctx context.Context) (int64, error) {
	now := h.now()
	return cleanup(ctx, h.db, now.Add(-time.Hour), now)
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	var ae *apiError
	if !errors.As(err, &ae) {
		code := CodeInternal
		if store.IsUnavailable(err) {
			// The database is unreachable for a moment: the app can tell
			// this from a bug and retry.
			code = CodeUnavailable
		}
		ae = fail(code, err)
	}
	status := statusOf[ae.code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	info := errorInfo{
		Code: ae.code, Message: i18n.T(i18n.Pick(r), ae.code), Detail: ae.detail,
		RequestID: logx.RequestID(ctx), AttemptsLeft: ae.attemptsLeft,
	}
	if ae.retryAfter > 0 {
		retryAfterHeader(w, ae.retryAfter)
		info.RetryAfterSeconds = seconds(ae.retryAfter)
	}
	attrs := []any{"path", r.URL.Path, "status", status, "code", ae.code}
	if ae.detail != "" {
		attrs = append(attrs, "detail", ae.detail)
	}
	if ae.cause != nil {
		attrs = append(attrs, "err", ae.cause)
	}
	switch {
	case status >= 500:
		h.log.ErrorContext(ctx, "api: request failed", attrs...)
	default:
		h.log.InfoContext(ctx, "api: request refused", attrs...)
	}
	writeJSON(w, status, errorBody{Error: info})
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
	wait, err := h.limits.hit(ctx, ratelimit.Key(name, subject), lim, h.now())
	if err != nil {
		return err
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
