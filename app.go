package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"wxcas/account"
	"wxcas/audit"
	"wxcas/binding"
	"wxcas/cas"
	"wxcas/config"
	"wxcas/journey"
	"wxcas/keys"
	"wxcas/logx"
	"wxcas/metrics"
	"wxcas/otp"
	"wxcas/sms"
	"wxcas/static"
	"wxcas/store"
	"wxcas/templates"
	"wxcas/web"
	"wxcas/wechat"
	"wxcas/wechat/emulator"
)

// app is everything a running wxcas holds; assembled by newApp from config.
type app struct {
	cfg       *config.Config
	log       *slog.Logger
	db        *store.DB
	masterKey []byte
	web       *web.Server
	wechat    *wechat.Client
	sender    sms.Sender
	otp       *otp.Service
	journeys  *journey.Engine
	cas       *cas.Server
	pages     *web.Pages
	audit     audit.Log
	// The binding's life after the first login (wireLogin, wireAccount):
	// the account page, the admin console and the CLI use them.
	bindings      *binding.SQLStore
	userDirectory binding.Directory
	auditStore    audit.Store
	accounts      *account.Service
	// weChatIDs identifies WeChat people by their codes (the login's and
	// the account page's).
	weChatIDs journey.WeChatClient
	emulator  *emulator.Emulator // sandbox only
	metrics   *metrics.Metrics
	// closers release what newApp opened besides the database.
	closers []func() error
	// background jobs (janitors) started by serve and stopped with ctx.
	jobs []func(ctx context.Context)
	now  func() time.Time
	// backChannelTLS, when set, replaces the system roots for the CAS
	// back-channel calls (pgtUrl callbacks, single logout). Only tests set
	// it, to trust their own https servers.
	backChannelTLS *tls.Config
}

// appOption adjusts an app before its parts are wired.
type appOption func(*app)

// withBackChannelTLS trusts cfg for the CAS back channel (nil: no change).
func withBackChannelTLS(cfg *tls.Config) appOption {
	return func(a *app) { a.backChannelTLS = cfg }
}

func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.DB, error) {
	return store.Open(ctx, store.Options{
		Driver:       cfg.Database.Driver,
		DSN:          cfg.Database.DSN,
		SQLitePath:   cfg.Database.SQLitePath,
		MaxOpenConns: cfg.Database.MaxOpenConns,
		StartupRetry: cfg.Database.StartupRetry,
	}, log)
}

func migrate(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) int {
	log, err := logx.New(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(stderr, "wxcas: %v\n", err)
		return exitBadInput
	}
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		log.Error("cannot open database", "err", err)
		return exitFailure
	}
	defer db.Close()
	n, err := db.Migrate(ctx)
	if err != nil {
		log.Error("migration failed", "err", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s: %d migration(s) applied, schema up to date\n", db.Name, n)
	return exitOK
}

// serve runs the service until ctx is cancelled. listening, if not nil, gets
// the bound address once the whole application is served (tests use port 0).
//
// It listens before anything else: while start-up waits for the database
// (store.Open retries for database.startup_retry), /healthz already answers
// 200 so a liveness probe does not kill an instance that starts during an
// outage, and /readyz and every other path answer 503 with the reason. Once
// the application is assembled it takes over the same http.Server.
func serve(ctx context.Context, cfg *config.Config, stderr io.Writer, listening chan<- string) int {
	log, err := logx.New(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(stderr, "wxcas: %v\n", err)
		return exitBadInput
	}
	// Libraries that log through slog's default (the OpenID provider's
	// op package) log in wxcas's format too.
	slog.SetDefault(log.With("component", "library"))
	if cfg.Sandbox.Enabled && cfg.Sandbox.EmulatorURL != "" {
		log.Warn("SANDBOX MODE: WeChat is emulated by wxcas emulator, whose log and inbox show the SMS codes. "+
			"Never expose this instance to real users; set sandbox.enabled: false in production.", "emulator_url", cfg.Sandbox.EmulatorURL)
	} else if cfg.Sandbox.Enabled {
		log.Warn("SANDBOX MODE: WeChat is emulated and SMS codes are printed to this log. " +
			"Never expose this instance to real users; set sandbox.enabled: false in production.")
	} else if cfg.Server.AllowInsecurePublicURL && strings.HasPrefix(cfg.Server.PublicURL, "http:") {
		log.Warn("server.allow_insecure_public_url: public_url is plain http, so cookies are not marked Secure; "+
			"only acceptable behind a TLS-terminating proxy on the same host", "public_url", cfg.Server.PublicURL)
	}

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.Server.Listen, "err", err)
		return exitFailure
	}
	// The metrics port is taken now too, so a port conflict fails at once
	// rather than after the wait for the database.
	var mln net.Listener
	if cfg.Metrics.Listen != "" {
		if mln, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			ln.Close()
			log.Error("cannot listen for metrics (set metrics.listen to another address, or empty to turn metrics off)",
				"addr", cfg.Metrics.Listen, "err", err)
			return exitFailure
		}
		defer mln.Close()
	}
	handler := &phasedHandler{}
	handler.starting("starting: waiting for the database")
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- web.Serve(serveCtx, ln, handler, cfg.Server.ShutdownTimeout, log) }()
	addr := ln.Addr().String()
	log.Info("wxcas listening", "addr", addr, "public_url", cfg.Server.PublicURL, "sandbox", cfg.Sandbox.Enabled, "status", "starting")

	a, err := newApp(ctx, cfg, log)
	if err != nil {
		stopServing()
		<-served
		if ctx.Err() != nil {
			log.Info("wxcas stopped during start-up")
			return exitOK
		}
		log.Error("cannot start", "err", err)
		return exitFailure
	}
	defer a.db.Close()
	handler.ready(a.web)
	log.Info("wxcas ready", "addr", addr, "db", a.db.Name)
	if cfg.Sandbox.Enabled {
		log.Info("sandbox: open this URL to try a WeChat login", "url", strings.TrimSuffix(cfg.Server.PublicURL, "/")+"/sandbox/app/")
	}
	if listening != nil {
		listening <- addr
	}
	if mln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metrics.Handler())
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
		log.Info("metrics listening", "addr", mln.Addr().String(), "path", "/metrics")
	}
	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	for _, job := range a.jobs {
		go job(jobsCtx)
	}
	// Serve returns once ctx is cancelled and in-flight requests are done
	// (or at once if serving failed).
	err = <-served
	stopJobs()
	closeCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if cerr := a.cas.Close(closeCtx); cerr != nil {
		log.Warn("single-logout requests still pending at shutdown", "err", cerr)
	}
	for _, c := range a.closers {
		_ = c()
	}
	if err != nil {
		log.Error("server stopped with error", "err", err)
		return exitFailure
	}
	log.Info("wxcas stopped")
	return exitOK
}

// phasedHandler answers health checks while start-up runs and hands every
// request to the application once it is ready; an atomic swap, so one
// http.Server (and its graceful shutdown) covers both phases.
type phasedHandler struct {
	app    atomic.Pointer[http.Handler]
	reason atomic.Pointer[string]
}

func (h *phasedHandler) starting(reason string) { h.reason.Store(&reason) }

func (h *phasedHandler) ready(app http.Handler) { h.app.Store(&app) }

func (h *phasedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if app := h.app.Load(); app != nil {
		(*app).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == "/healthz" {
		// The process is alive; restarting it would not make the database
		// come back sooner.
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
		return
	}
	// Readiness and every other path: not yet (503, not 404, so that nothing
	// mistakes a starting instance for a missing page).
	w.Header().Set("Retry-After", "5")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "unavailable", "reason": *h.reason.Load()})
}

func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	return newAppWithClock(ctx, cfg, log, time.Now)
}

// newAppWithClock is newApp with the clock every expiry decision reads.
func newAppWithClock(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time, opts ...appOption) (*app, error) {
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, db: db, now: now, metrics: metrics.New()}
	for _, o := range opts {
		o(a)
	}
	fail := func(err error) (*app, error) {
		db.Close()
		return nil, err
	}
	if n, err := db.Migrate(ctx); err != nil {
		return fail(err)
	} else if n > 0 {
		log.Info("database migrated", "applied", n, "db", db.Name)
	}
	if a.masterKey, err = masterKey(ctx, cfg, db, a.now); err != nil {
		return fail(err)
	}
	pages, err := web.NewPages(web.Overlay(cfg.Login.TemplatesDir, templates.FS), cfg.Sandbox.Enabled, web.BasePath(cfg.Server.PublicURL),
		web.Help(web.HelpLine{ZH: cfg.Help.Text, EN: cfg.Help.TextEN, URL: cfg.Help.URL}), web.PhoneRegion(cfg.OTP.DefaultRegion, cfg.OTP.AllowedRegions...))
	if err != nil {
		return fail(err)
	}
	a.pages = pages
	a.web, err = web.New(web.Options{
		Logger:         log,
		DB:             db,
		Pages:          pages,
		Static:         staticFS(cfg.Login.TemplatesDir),
		TrustedProxies: cfg.Server.TrustedProxies,
		RequestTimeout: cfg.Server.RequestTimeout,
		Observe:        a.metrics.ObserveRequest,
	})
	if err != nil {
		return fail(err)
	}
	for _, wire := range []func() error{a.wireWeChat, a.wireSMS, a.wireOTP, a.wireLogin, a.wireAPI} {
		if err := wire(); err != nil {
			return fail(err)
		}
	}
	return a, nil
}

// masterKey returns the configured secret, or in the sandbox (only) a random
// one generated once and kept in the database so that restarts and several
// sandbox instances agree.
func masterKey(ctx context.Context, cfg *config.Config, db *store.DB, now func() time.Time) ([]byte, error) {
	if cfg.Secrets.Key != "" {
		return []byte(cfg.Secrets.Key), nil
	}
	if !cfg.Sandbox.Enabled {
		return nil, fmt.Errorf("secrets.key is required outside the sandbox")
	}
	v, err := db.Meta(ctx, keys.SandboxSecret, func() (string, error) {
		var b [48]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		return base64.RawStdEncoding.EncodeToString(b[:]), nil
	}, now())
	if err != nil {
		return nil, fmt.Errorf("sandbox secret: %w", err)
	}
	return []byte(v), nil
}

// staticFS is the embedded static files, overridden by <templates_dir>/static.
func staticFS(templatesDir string) fs.FS {
	if templatesDir == "" {
		return static.FS
	}
	return web.Overlay(filepath.Join(templatesDir, "static"), static.FS)
}
