package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"wxcas/audit"
	"wxcas/cas"
	"wxcas/config"
	"wxcas/keys"
	"wxcas/login"
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
	login     *login.Service
	cas       *cas.Server
	pages     *web.Pages
	audit     audit.Log
	emulator  *emulator.Emulator // sandbox only
	metrics   *metrics.Metrics
	// closers release what newApp opened besides the database.
	closers []func() error
	// background jobs (janitors) started by serve and stopped with ctx.
	jobs []func(ctx context.Context)
	now  func() time.Time
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
// the bound address once the listener is open (tests use port 0).
func serve(ctx context.Context, cfg *config.Config, stderr io.Writer, listening chan<- string) int {
	log, err := logx.New(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(stderr, "wxcas: %v\n", err)
		return exitBadInput
	}
	if cfg.Sandbox.Enabled {
		log.Warn("SANDBOX MODE: WeChat is emulated and SMS codes are printed to this log. " +
			"Never expose this instance to real users; set sandbox.enabled: false in production.")
	}
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailure
	}
	defer a.db.Close()

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.Server.Listen, "err", err)
		return exitFailure
	}
	log.Info("wxcas listening", "addr", ln.Addr().String(), "public_url", cfg.Server.PublicURL, "db", a.db.Name, "sandbox", cfg.Sandbox.Enabled)
	if cfg.Sandbox.Enabled {
		log.Info("sandbox: open this URL to try a WeChat login", "url", strings.TrimSuffix(cfg.Server.PublicURL, "/")+"/sandbox/app/")
	}
	if listening != nil {
		listening <- ln.Addr().String()
	}
	if cfg.Metrics.Listen != "" {
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			log.Error("cannot listen for metrics", "addr", cfg.Metrics.Listen, "err", err)
			return exitFailure
		}
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
	err = a.web.Run(ctx, ln, cfg.Server.ShutdownTimeout)
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

func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	return newAppWithClock(ctx, cfg, log, time.Now)
}

// newAppWithClock is newApp with the clock every expiry decision reads.
func newAppWithClock(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time) (*app, error) {
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, db: db, now: now, metrics: metrics.New()}
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
	pages, err := web.NewPages(web.Overlay(cfg.Login.TemplatesDir, templates.FS), cfg.Sandbox.Enabled)
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
