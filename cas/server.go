package cas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"wxcas/store"
)

// Deps are the server's collaborators.
type Deps struct {
	// DB holds tickets and sessions (ignored when Store is set).
	DB *store.DB
	// Store overrides the SQL store built on DB.
	Store TicketStore
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// CookieKey signs the ticket-granting cookie, e.g.
	// keys.Derive(master, keys.TicketCookie). At least 16 bytes.
	CookieKey []byte
	// PublicURL is wxcas's external base URL: https makes the cookie Secure,
	// its path prefixes the cookie path (/cas).
	PublicURL *url.URL
	// HTTPClient makes the back-channel calls (single logout, pgtUrl
	// callbacks). Default: a client trusting the system roots. pgtUrl
	// callbacks keep its *http.Transport's settings (TLS trust) but dial
	// directly, with the address check of proxycallback.go, and follow no
	// redirects.
	HTTPClient *http.Client
	// Pages renders the HTML pages (default: PlainPages).
	Pages Pages
	// Authenticator asks the user for primary credentials.
	Authenticator Authenticator
}

// Authenticator is the seam to the login flow. Authenticate takes over the
// response when /cas/login needs primary authentication; when the user is
// done (possibly several requests later), the flow calls
// Server.CompleteLogin with the same LoginRequest.
type Authenticator interface {
	Authenticate(w http.ResponseWriter, r *http.Request, req LoginRequest)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(w http.ResponseWriter, r *http.Request, req LoginRequest)

func (f AuthenticatorFunc) Authenticate(w http.ResponseWriter, r *http.Request, req LoginRequest) {
	f(w, r, req)
}

// LoginRequest is a /cas/login request waiting for primary authentication.
// It is plain data so the login flow can persist it (JSON) between redirects;
// CompleteLogin checks the service against the registry again.
type LoginRequest struct {
	// ServiceURL is the service parameter, normalised by the registry ("" for
	// none): the URL the ticket will be sent to.
	ServiceURL string `json:"service_url,omitempty"`
	// ServiceID and ServiceName describe the registered service (for display).
	ServiceID   string `json:"service_id,omitempty"`
	ServiceName string `json:"service_name,omitempty"`
	// Renew: the client demanded primary authentication.
	Renew bool `json:"renew,omitempty"`
	// Gateway: the client asked not to be prompted (informational: gateway
	// requests without SSO never reach the Authenticator).
	Gateway bool `json:"gateway,omitempty"`
	// Method is how the ticket goes back: "GET" (redirect) or "POST" (form).
	Method string `json:"method,omitempty"`
	// SessionKey names the SSO session the browser already had when renew
	// forced a new login (the SHA-256 key, not a credential). CompleteLogin
	// keeps that session for the same user and ends it for another, even
	// when the flow completes on a path the /cas cookie does not reach.
	SessionKey string `json:"session_key,omitempty"`
}

// Principal is an authenticated user.
type Principal struct {
	// ID becomes <cas:user>.
	ID string
	// Attributes are released to services per their attributes list.
	Attributes map[string][]string
	// AuthenticatedAt is when primary authentication happened (default: now).
	AuthenticatedAt time.Time
}

// ServiceLink is a registered service a page links to: its normalised URL
// and the name people know it by.
type ServiceLink struct{ URL, Name string }

// Pages renders what browsers see. Reasons passed to Error are stable ids:
// service_missing, service_invalid, service_unknown, method_unsupported,
// login_unavailable, principal_invalid, internal_error.
type Pages interface {
	Error(w http.ResponseWriter, r *http.Request, status int, reason string)
	// LoggedOut says the SSO session ended; back, when set, is the
	// registered service the logout asked to return to.
	LoggedOut(w http.ResponseWriter, r *http.Request, back *ServiceLink)
	LoggedIn(w http.ResponseWriter, r *http.Request, principalID string)
	// PostRedirect answers with a page that makes the browser POST fields
	// to action (CAS method=POST).
	PostRedirect(w http.ResponseWriter, r *http.Request, action string, fields map[string]string)
}

// Error reasons passed to Pages.Error.
const (
	ReasonServiceMissing    = "service_missing"
	ReasonServiceInvalid    = "service_invalid"
	ReasonServiceUnknown    = "service_unknown"
	ReasonMethodUnsupported = "method_unsupported"
	ReasonLoginUnavailable  = "login_unavailable"
	ReasonPrincipalInvalid  = "principal_invalid"
	ReasonInternal          = "internal_error"
)

// Server is the CAS server. It is safe for concurrent use.
type Server struct {
	cfg        Config
	reg        *registry
	store      TicketStore
	now        func() time.Time
	log        *slog.Logger
	cookieKey  []byte
	cookiePath string
	secure     bool
	issuer     string       // SAML 1.1 assertions' Issuer: wxcas's host
	client     *http.Client // base of the back-channel clients
	callbacks  callbackClients
	pages      Pages
	auth       Authenticator
	slo        *sloSender
	onLogout   func(context.Context, EndedSession)
	// beforeLogout runs before a logout deletes the session.
	beforeLogout func(context.Context, string) error

	bg sync.WaitGroup // background work other than SLO posts
}

// NewServer checks cfg and builds the server.
func NewServer(cfg Config, d Deps) (*Server, error) {
	if p := cfg.Validate(); len(p) > 0 {
		return nil, fmt.Errorf("cas: invalid configuration:\n%s", strings.Join(p, "\n"))
	}
	reg, err := newRegistry(cfg.Services)
	if err != nil {
		return nil, err
	}
	if len(d.CookieKey) < 16 {
		return nil, errors.New("cas: Deps.CookieKey must be at least 16 bytes")
	}
	if d.PublicURL == nil || d.PublicURL.Host == "" {
		return nil, errors.New("cas: Deps.PublicURL is required")
	}
	s := &Server{
		cfg:        cfg,
		reg:        reg,
		store:      d.Store,
		now:        d.Now,
		log:        d.Logger,
		cookieKey:  append([]byte(nil), d.CookieKey...),
		cookiePath: strings.TrimSuffix(d.PublicURL.Path, "/") + "/cas",
		secure:     strings.EqualFold(d.PublicURL.Scheme, "https"),
		issuer:     d.PublicURL.Hostname(),
		client:     d.HTTPClient,
		pages:      d.Pages,
		auth:       d.Authenticator,
	}
	if s.store == nil {
		if d.DB == nil {
			return nil, errors.New("cas: Deps.DB or Deps.Store is required")
		}
		s.store = NewSQLStore(d.DB)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.client == nil {
		s.client = &http.Client{}
	}
	if s.pages == nil {
		s.pages = PlainPages{}
	}
	s.slo = newSLOSender(s.client, cfg.SLOTimeout, cfg.SLOConcurrency, s.log)
	s.callbacks = newCallbackClients(s.client)
	return s, nil
}

// ServeHTTP answers /cas/login, /cas/logout, the validation endpoints and
// the REST protocol (/cas/v1/tickets, see rest.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r, s.auth) }

// Handler serves the CAS endpoints with auth as the login (instead of
// Deps.Authenticator). The login finishes through this Server
// (CompleteLogin), so building the Server first and its Handler last wires
// the two without either holding the other.
func (s *Server) Handler(auth Authenticator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, auth) })
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, auth Authenticator) {
	switch r.URL.Path {
	case "/cas/login":
		s.allow(w, r, func(w http.ResponseWriter, r *http.Request) { s.handleLogin(w, r, auth) }, http.MethodGet, http.MethodPost)
	case "/cas/logout":
		s.allow(w, r, s.handleLogout, http.MethodGet, http.MethodPost)
	case "/cas/validate":
		s.allow(w, r, s.handleValidate, http.MethodGet, http.MethodPost)
	case "/cas/serviceValidate":
		s.allow(w, r, s.validator(false, false), http.MethodGet, http.MethodPost)
	case "/cas/proxyValidate":
		s.allow(w, r, s.validator(true, false), http.MethodGet, http.MethodPost)
	case "/cas/p3/serviceValidate":
		s.allow(w, r, s.validator(false, true), http.MethodGet, http.MethodPost)
	case "/cas/p3/proxyValidate":
		s.allow(w, r, s.validator(true, true), http.MethodGet, http.MethodPost)
	case "/cas/proxy":
		s.allow(w, r, s.handleProxy, http.MethodGet, http.MethodPost)
	case "/cas/samlValidate":
		s.allow(w, r, s.handleSAMLValidate, http.MethodPost)
	case restTicketsPath:
		s.allow(w, r, s.handleRESTCreateTGT, http.MethodPost)
	default:
		if tgtID, ok := strings.CutPrefix(r.URL.Path, restTicketsPath+"/"); ok {
			// A client that adds a slash (…/tickets/TGT-…/) means the same
			// session; without this, its DELETE would not log it out.
			tgtID = strings.TrimSuffix(tgtID, "/")
			s.allow(w, r, func(w http.ResponseWriter, r *http.Request) { s.handleRESTTicket(w, r, tgtID) },
				http.MethodGet, http.MethodPost, http.MethodDelete)
			return
		}
		http.NotFound(w, r)
	}
}

func (s *Server) allow(w http.ResponseWriter, r *http.Request, h http.HandlerFunc, methods ...string) {
	for _, m := range methods {
		if r.Method == m {
			if r.Method == http.MethodPost {
				r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			}
			h(w, r)
			return
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

// failureStatus is the status of an answer to a request that failed on err:
// 503 while the database is out of reach or too slow (nothing is wrong with
// the request or the session, and trying again in a moment may well work),
// 500 for anything else.
func failureStatus(err error) int {
	if store.IsUnavailable(err) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// failPage logs a failed browser request (msg, err and attrs) and answers
// with the error page at failureStatus.
func (s *Server) failPage(w http.ResponseWriter, r *http.Request, msg string, err error, attrs ...any) {
	s.log.ErrorContext(r.Context(), msg, append(attrs, "err", err)...)
	s.pages.Error(w, r, failureStatus(err), ReasonInternal)
}

// WaitIdle blocks until no single logout or other background work is in
// flight (for tests and shutdown).
func (s *Server) WaitIdle() {
	s.bg.Wait()
	s.slo.wait()
}

// Close waits for background work until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.WaitIdle(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Cleanup deletes expired tickets and sessions once and sends single logout
// for the sessions that ended, batch by batch. Delivery is paced by
// slo_concurrency: a backlog of expired sessions slows the clean-up down
// rather than starting a goroutine per logout.
func (s *Server) Cleanup(ctx context.Context) error {
	return s.store.Cleanup(ctx, s.now(), func(e EndedSession) {
		s.log.Info("cas: SSO session expired", "user", e.TGT.PrincipalID, "services", len(e.Services))
		s.slo.sendPaced(ctx, e, s.now())
	})
}

// RunJanitor runs Cleanup at once and then every interval
// (Config.CleanupInterval when interval <= 0) until ctx is done: the first
// run clears what accumulated while no instance was up.
func (s *Server) RunJanitor(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = s.cfg.CleanupInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.Cleanup(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("cas: cleanup failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Service returns the registered service with this id.
func (s *Server) Service(id string) (Service, bool) {
	if rs := s.reg.byID(id); rs != nil {
		return rs.Service, true
	}
	return Service{}, false
}
