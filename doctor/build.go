package doctor

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"wxcas/config"
	"wxcas/keys"
	"wxcas/store"
	"wxcas/wechat"
	"wxcas/wechat/platform"
)

// Env is what the checks use besides the configuration: the database the
// caller opened (OpenDatabase), and what tests replace.
type Env struct {
	// DB is nil when opening it failed with DBErr.
	DB    *store.DB
	DBErr error
	// Now is this machine's clock (nil: time.Now).
	Now func() time.Time
	// WeChatOpenBaseURL and WeChatAPIBaseURL are where wxcas reaches
	// WeChat (the sandbox's emulator, or wechat.open_base_url and
	// api_base_url); empty: WeChat's own.
	WeChatOpenBaseURL, WeChatAPIBaseURL string
	// HTTPClient calls WeChat's API and loads its pages (nil: a client
	// with wechat.timeout that does not follow redirects).
	HTTPClient *http.Client
	// Roots verify public_url's certificate (nil: the system's).
	Roots *x509.CertPool
	// SMSScheme and SMSTransport reach a Tencent fake ("" and nil: the
	// SDK's https).
	SMSScheme    string
	SMSTransport http.RoundTripper
	// Logger receives the stores' warnings (nil: discarded).
	Logger *slog.Logger
}

// Build assembles the checks for cfg in the order they run: database,
// clock, secrets, public_url, each WeChat app's credentials, each login
// app's callback domain, then the SMS template and signature. An error
// means cfg cannot be checked at all (config.Load should have refused it).
func Build(ctx context.Context, cfg *config.Config, env Env) ([]Check, error) {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	httpClient := env.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: cfg.WeChat.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	client, err := weChatClient(cfg, env, httpClient)
	if err != nil {
		return nil, err
	}
	checks := []Check{
		Schema{DB: env.DB, OpenErr: env.DBErr},
		Clock{DB: env.DB, Now: env.Now},
		Secrets{Config: cfg},
		PublicURL{URL: cfg.Server.PublicURL, Sandbox: cfg.Sandbox.Enabled, Roots: env.Roots, Now: env.Now},
	}
	var unreachable string
	if cfg.Sandbox.Enabled {
		unreachable = sandboxUnreachable(cfg, env)
	}
	tickets, ticketsErr := ticketStore(ctx, cfg, env)
	for i, app := range cfg.WeChat.Apps {
		if p, ok := cfg.WeChat.Platform(app.ViaPlatform); ok {
			checks = append(checks, PlatformTicket{Tickets: tickets, TicketsErr: ticketsErr, AppID: app.AppID, PlatformID: p.ID,
				ComponentAppID: p.ComponentAppID, EventURL: PlatformEventURL(cfg.Server.PublicURL, p.ID), Now: env.Now, UnreachableFix: unreachable})
			continue
		}
		checks = append(checks, AppCredentials{Client: client, AppID: app.AppID, Index: i, UnreachableFix: unreachable})
	}
	for _, app := range cfg.WeChat.Apps {
		// Only these two kinds send people to WeChat with a redirect_uri;
		// mini programs and mobile apps get their codes in the app.
		if app.Kind == string(wechat.KindWebsite) || app.Kind == string(wechat.KindOfficialAccount) {
			checks = append(checks, Callback{Client: client, HTTP: httpClient, AppID: app.AppID, PublicURL: cfg.Server.PublicURL, UnreachableFix: unreachable})
		}
	}
	if cfg.SMS.Provider != "tencent" {
		return append(checks, skipped{"sms", fmt.Sprintf("sms.provider is %s: codes go to the log and the sandbox inbox, there is no SMS provider to check", cfg.SMS.Provider)}), nil
	}
	sms, err := NewSMSClient(cfg.SMS.Tencent, env.SMSScheme, env.SMSTransport)
	if err != nil {
		return nil, fmt.Errorf("sms.tencent: %w", err)
	}
	return append(checks,
		SMSTemplate{API: sms, TemplateID: cfg.SMS.Tencent.TemplateID, Params: cfg.SMS.Tencent.TemplateParams},
		SMSSign{API: sms, SignName: cfg.SMS.SignName}), nil
}

// sandboxUnreachable is the fix when the sandbox's WeChat emulator does
// not answer where doctor looked for it: inside wxcas serve, at the
// address this configuration gives it (which WXCAS_LISTEN moves: doctor
// run without the service's environment looks elsewhere), or at
// sandbox.emulator_url.
func sandboxUnreachable(cfg *config.Config, env Env) string {
	tried := env.WeChatAPIBaseURL
	if tried == "" {
		tried = cfg.WeChat.APIBaseURL
	}
	if cfg.Sandbox.EmulatorURL != "" {
		return fmt.Sprintf("no WeChat emulator answers at %s (sandbox.emulator_url): start wxcas emulator there, "+
			"and run wxcas doctor with the same environment as wxcas serve", tried)
	}
	return fmt.Sprintf("the sandbox's WeChat is the emulator inside wxcas serve, which doctor reaches at %s (server.listen %s): "+
		"run wxcas doctor with the same environment as the service (WXCAS_LISTEN=<the address wxcas serve listens on>, "+
		"if it was started with it), and start wxcas serve with this configuration first", tried, cfg.Server.Listen)
}

// PlatformEventURL is where WeChat pushes a platform's tickets and events
// (wxcas mounts it there).
func PlatformEventURL(publicURL, platformID string) string {
	return trimSlash(publicURL) + "/wechat/platforms/" + platformID + "/events"
}

// weChatClient is a client for every configured app, as wxcas builds it,
// that never retries: each check makes exactly one call.
func weChatClient(cfg *config.Config, env Env, httpClient *http.Client) (*wechat.Client, error) {
	var apps []wechat.App
	for _, a := range cfg.WeChat.Apps {
		p, _ := cfg.WeChat.Platform(a.ViaPlatform)
		apps = append(apps, wechat.App{AppID: a.AppID, Secret: a.Secret, Kind: wechat.Kind(a.Kind), ComponentAppID: p.ComponentAppID})
	}
	var platforms []wechat.Platform
	for _, p := range cfg.WeChat.Platforms {
		platforms = append(platforms, wechat.Platform{ComponentAppID: p.ComponentAppID, Secret: p.Secret})
	}
	open, api := env.WeChatOpenBaseURL, env.WeChatAPIBaseURL
	if open == "" {
		open = cfg.WeChat.OpenBaseURL
	}
	if api == "" {
		api = cfg.WeChat.APIBaseURL
	}
	c, err := wechat.New(wechat.Config{OpenBaseURL: open, APIBaseURL: api, Apps: apps, Platforms: platforms,
		HTTPClient: httpClient, Timeout: cfg.WeChat.Timeout, MaxRetries: -1, Now: env.Now})
	if err != nil {
		return nil, fmt.Errorf("wechat: %w", err)
	}
	return c, nil
}

// ticketStore reads the platforms' tickets as wxcas does, with the seal
// key derived from secrets.key, or in the sandbox from the key wxcas
// generated and keeps in the database (read, never created here).
func ticketStore(ctx context.Context, cfg *config.Config, env Env) (TicketStore, error) {
	if len(cfg.WeChat.Platforms) == 0 {
		return nil, nil
	}
	if env.DB == nil {
		return nil, errors.New("the database is not reachable")
	}
	master := []byte(cfg.Secrets.Key)
	if len(master) == 0 {
		var v string
		err := env.DB.GetContext(ctx, &v, env.DB.Rebind(`SELECT value FROM wxcas_meta WHERE name = ?`), keys.SandboxSecret)
		if err != nil {
			return nil, errors.New("no secrets.key, and no sandbox key in the database yet (wxcas serve makes one at its first start)")
		}
		master = []byte(v)
	}
	st, err := platform.NewSQLStore(env.DB, keys.Derive(master, keys.PlatformSeal), env.Now)
	if err != nil {
		return nil, err
	}
	return st.WithLogger(env.Logger), nil
}

// skipped is a check that does not apply to the configuration.
type skipped struct{ name, why string }

func (s skipped) Name() string               { return s.name }
func (s skipped) Run(context.Context) Result { return Skip(s.why) }
