// Package web is wxcas's HTTP layer: the Echo application, its middleware
// (request ids, access log, recovery, security headers, client IP), the error
// pages and the health endpoints. Everything Echo-specific lives here; the
// feature packages (cas, wechat, sms, otp, ...) are plain Go and net/http.
package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"wxcas/i18n"
	"wxcas/logx"
	"wxcas/store"
)

// Options configure the HTTP application.
type Options struct {
	Logger         *slog.Logger
	DB             *store.DB
	Pages          *Pages
	Static         fs.FS
	TrustedProxies []string // CIDRs whose X-Forwarded-For is believed
	RequestTimeout time.Duration
	// Observe, when set, is told about every request (metrics): the route
	// pattern, method, status and duration.
	Observe func(route, method string, status int, d time.Duration)
}

// Server is the Echo application.
type Server struct {
	echo *echo.Echo
	opts Options
	log  *slog.Logger
}

// New builds the application with its middleware and base routes.
func New(opts Options) (*Server, error) {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{echo: e, opts: opts, log: opts.Logger}

	ipx, err := ipExtractor(opts.TrustedProxies)
	if err != nil {
		return nil, err
	}
	// Without an explicit extractor Echo v4 believes X-Forwarded-For from any
	// client, which would let anyone dodge the per-IP SMS limits.
	e.IPExtractor = ipx
	e.HTTPErrorHandler = s.handleError

	e.Pre(s.requestID)
	e.Use(s.accessLog())
	e.Use(s.recoverPanics)
	e.Use(securityHeaders)
	e.Use(middleware.BodyLimit("64K"))
	if opts.RequestTimeout > 0 {
		e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: opts.RequestTimeout}))
	}

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if opts.Static != nil {
		e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", http.FileServer(http.FS(opts.Static)))))
	}
	return s, nil
}

// Echo exposes the router so feature wiring can add routes.
func (s *Server) Echo() *echo.Echo { return s.echo }

// Mount serves a plain net/http handler for every method under prefix
// (which keeps its full path; the handler sees the original URL).
func (s *Server) Mount(prefix string, h http.Handler) {
	s.echo.Any(prefix, echo.WrapHandler(h))
	s.echo.Any(strings.TrimSuffix(prefix, "/")+"/*", echo.WrapHandler(h))
}

// MountAPI serves a JSON API handler for every method under prefix. The
// API counts limits per client IP: withClientIP hands it the address Echo
// resolved, which believes X-Forwarded-For only from the trusted proxies.
// The request id, access log, recovery and timeouts are this layer's, as
// for the pages.
func (s *Server) MountAPI(prefix string, h http.Handler, withClientIP func(context.Context, string) context.Context) {
	s.echo.Any(strings.TrimSuffix(prefix, "/")+"/*", func(c echo.Context) error {
		r := c.Request()
		h.ServeHTTP(c.Response(), r.WithContext(withClientIP(r.Context(), c.RealIP())))
		return nil
	})
}

// ServeHTTP lets tests drive the application with httptest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Run serves the application on ln (see Serve).
func (s *Server) Run(ctx context.Context, ln net.Listener, grace time.Duration) error {
	return Serve(ctx, ln, s.echo, grace, s.log)
}

// Serve serves h on ln until ctx is cancelled, then stops accepting
// connections and lets in-flight requests finish for at most grace. In-flight
// requests keep their context during that time (it is not cancelled with ctx).
func Serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	return nil
}

func ipExtractor(cidrs []string) (echo.IPExtractor, error) {
	if len(cidrs) == 0 {
		return echo.ExtractIPDirect(), nil
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", c, err)
		}
		_, n, _ := net.ParseCIDR(p.String())
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...), nil
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// requestID takes a well-formed X-Request-Id from a front proxy or makes one,
// echoes it in the response and puts it in the request context for logs.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !requestIDPattern.MatchString(id) {
			id = newRequestID()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		r := c.Request()
		c.SetRequest(r.WithContext(logx.WithRequestID(r.Context(), id)))
		return next(c)
	}
}

// newRequestID is 16 characters (80 bits) of rand.Text, the one source of
// random ids.
func newRequestID() string { return strings.ToLower(rand.Text()[:16]) }

// loggableParams are query parameters whose values are safe in logs; every
// other value (code, state, ticket, token, pgt, ...) is replaced by "_".
var loggableParams = map[string]bool{"service": true, "renew": true, "gateway": true, "method": true, "format": true, "lang": true, "targetService": true}

// redactQuery keeps parameter names (useful when debugging) but hides values
// that could be credentials.
func redactQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "_unparseable_"
	}
	for k, vs := range q {
		if loggableParams[k] {
			for i, v := range vs {
				vs[i] = stripTicket(v)
			}
			continue
		}
		for i := range vs {
			vs[i] = "_"
		}
	}
	return q.Encode()
}

// stripTicket removes a ticket from a service URL before it is logged.
func stripTicket(service string) string {
	u, err := url.Parse(service)
	if err != nil || u.RawQuery == "" {
		return service
	}
	q := u.Query()
	if q.Has("ticket") {
		q.Set("ticket", "_")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// ticketPrefixes are the CAS ticket kinds; a path segment that starts with
// one of them is a credential.
var ticketPrefixes = []string{"TGT-", "ST-", "PT-", "PGT-", "PGTIOU-"}

// redactPath hides credentials that travel in a URL path. The CAS REST
// protocol puts the ticket-granting ticket there (/cas/v1/tickets/{TGT}): an
// 8-hour bearer credential that must never reach a log. Any segment after a
// "tickets" segment, and any segment shaped like a ticket, becomes its kind
// followed by "_" (or just "_"), so the log still tells which call it was.
func redactPath(p string) string {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		credential := i > 0 && segs[i-1] == "tickets" && seg != ""
		kind := ""
		for _, prefix := range ticketPrefixes {
			if strings.HasPrefix(seg, prefix) {
				credential, kind = true, prefix
				break
			}
		}
		if credential {
			segs[i] = kind + "_"
		}
	}
	return strings.Join(segs, "/")
}

func (s *Server) accessLog() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogMethod: true, LogURIPath: true, LogLatency: true, LogRemoteIP: true, LogUserAgent: true,
		LogResponseSize: true, HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			if s.opts.Observe != nil {
				s.opts.Observe(c.Path(), v.Method, v.Status, v.Latency)
			}
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			s.log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("method", v.Method),
				slog.String("path", redactPath(v.URIPath)),
				slog.String("query", redactQuery(c.Request().URL.RawQuery)),
				slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency),
				slog.String("ip", v.RemoteIP),
				slog.Int64("bytes", v.ResponseSize),
				slog.String("ua", v.UserAgent),
			)
			return nil
		},
	})
}

// recoverPanics turns a panic into a logged 500 page with the request id.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(c.Request().Context(), "panic in handler", "panic", fmt.Sprint(p))
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return next(c)
	}
}

// pageCSP allows our own scripts and styles, WeChat's wxLogin.js and the QR
// iframe it creates, and nothing inline.
const pageCSP = "default-src 'self'; script-src 'self' https://res.wx.qq.com; frame-src 'self' https://open.weixin.qq.com; " +
	"img-src 'self' data: https:; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		// Tickets and codes travel in URLs: never leak them to other sites.
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(c.Request().URL.Path, "/sandbox/wechat/") {
			// The emulator's QR box is framed by our own login page, as
			// WeChat's is; it stands in for another site, so no CSP of ours.
			h.Set("X-Frame-Options", "SAMEORIGIN")
			return next(c)
		}
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", pageCSP)
		return next(c)
	}
}

// Unavailable reports whether err means the database could not be reached,
// which the error handler answers with 503 instead of 500.
func Unavailable(err error) bool { return store.IsUnavailable(err) }

// handleError renders every error: JSON for API clients, a page otherwise.
// Internal details go to the log only; the user sees catalogued text and the
// request id.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	titleKey, msgKey, code := "error_title", "error_internal", "internal_error"
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status = he.Code
		switch he.Code {
		case http.StatusNotFound:
			msgKey, code = "error_not_found", "not_found"
		case http.StatusMethodNotAllowed:
			msgKey, code = "error_method", "method_not_allowed"
		case http.StatusRequestEntityTooLarge:
			msgKey, code = "error_too_large", "request_too_large"
		case http.StatusTooManyRequests:
			msgKey, code = "error_too_many", "rate_limited"
		case http.StatusForbidden:
			msgKey, code = "error_forbidden", "forbidden"
		case http.StatusServiceUnavailable:
			msgKey, code = "error_unavailable", "unavailable"
		default:
			if he.Code >= 400 && he.Code < 500 {
				msgKey, code = "error_bad_request", "bad_request"
			}
		}
		if he.Internal != nil {
			err = he.Internal
		}
	case errors.Is(err, context.DeadlineExceeded), Unavailable(err):
		status, msgKey, code = http.StatusServiceUnavailable, "error_unavailable", "unavailable"
	}
	ctx := c.Request().Context()
	if status >= 500 {
		s.log.ErrorContext(ctx, "request failed", "status", status, "err", err)
	}
	r := c.Request()
	if strings.HasPrefix(r.URL.Path, "/api/") || strings.Contains(r.Header.Get("Accept"), "application/json") && !strings.Contains(r.Header.Get("Accept"), "text/html") {
		lang := i18n.Pick(r)
		_ = c.JSON(status, map[string]any{"error": map[string]string{
			"code": code, "message": i18n.T(lang, msgKey), "request_id": logx.RequestID(ctx),
		}})
		return
	}
	if r.Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if s.opts.Pages == nil {
		_ = c.String(status, i18n.T(i18n.Pick(r), msgKey))
		return
	}
	if rerr := s.opts.Pages.Error(c.Response(), r, status, titleKey, msgKey, ""); rerr != nil {
		s.log.ErrorContext(ctx, "error page failed", "err", rerr)
		_ = c.String(http.StatusInternalServerError, i18n.T(i18n.Pick(r), "error_internal"))
	}
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 503 with a reason while the database cannot be reached, so a
// load balancer takes the instance out of rotation.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if s.opts.DB == nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database: not configured"})
	}
	if err := s.opts.DB.PingContext(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness check failed", "db", s.opts.DB.Name, "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database unreachable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
