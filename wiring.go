package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"wxcas/apereo"
	"wxcas/api"
	"wxcas/audit"
	"wxcas/binding"
	"wxcas/binding/sqldir"
	"wxcas/cas"
	"wxcas/challenge"
	"wxcas/config"
	"wxcas/finish"
	"wxcas/journey"
	"wxcas/keys"
	"wxcas/login"
	"wxcas/openid"
	"wxcas/otp"
	"wxcas/ratelimit"
	"wxcas/sms"
	"wxcas/web"
	"wxcas/wechat"
	"wxcas/wechat/apptoken"
	"wxcas/wechat/emulator"
	"wxcas/wechat/platform"
)

// Where the sandbox serves the WeChat emulator and the console SMS inbox:
// inside wxcas, or at the same paths under sandbox.emulator_url when
// `wxcas emulator` serves them.
const (
	sandboxWeChatPrefix = "/sandbox/wechat"
	sandboxSMSPath      = "/sandbox/sms"
)

// remoteEmulator is the base URL of the sandbox's emulator when it runs in
// a process of its own ("" when it runs inside wxcas, or outside the
// sandbox).
func (a *app) remoteEmulator() string {
	if !a.cfg.Sandbox.Enabled {
		return ""
	}
	return strings.TrimSuffix(a.cfg.Sandbox.EmulatorURL, "/")
}

// servedElsewhere answers what an in-process sandbox would serve with a
// temporary redirect to the same path and query under base, so that the
// README's sandbox URLs (and scripts) keep working when the emulator runs
// apart. 307 keeps a POST a POST.
func servedElsewhere(base string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, base+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
}

// wireWeChat builds the WeChat client and, in the sandbox, mounts the
// emulator that stands in for WeChat, or points the client at the one
// `wxcas emulator` serves.
func (a *app) wireWeChat() error {
	cfg := a.cfg.WeChat
	open, api := cfg.OpenBaseURL, cfg.APIBaseURL
	var apps []wechat.App
	for _, app := range cfg.Apps {
		apps = append(apps, wechat.App{AppID: app.AppID, Secret: app.Secret, Kind: wechat.Kind(app.Kind), ComponentAppID: componentAppID(a.cfg, app)})
	}
	var platforms []wechat.Platform
	for _, p := range cfg.Platforms {
		platforms = append(platforms, wechat.Platform{ComponentAppID: p.ComponentAppID, Secret: p.Secret})
	}
	if remote := a.remoteEmulator(); remote != "" {
		// Both the API calls and the browsers go straight to the emulator's
		// process: nothing of WeChat's work is left in this one.
		if open == "" {
			open = remote + sandboxWeChatPrefix
		}
		if api == "" {
			api = remote + sandboxWeChatPrefix
		}
		a.web.Mount(sandboxWeChatPrefix, servedElsewhere(remote))
	} else if a.cfg.Sandbox.Enabled {
		em, err := newSandboxEmulator(a.cfg, a.now, nil)
		if err != nil {
			return err
		}
		a.emulator = em
		a.web.Mount(sandboxWeChatPrefix, http.StripPrefix(sandboxWeChatPrefix, em))
		if open == "" {
			open = strings.TrimSuffix(a.cfg.Server.PublicURL, "/") + sandboxWeChatPrefix
		}
		if api == "" {
			api = selfURL(a.cfg.Server.Listen) + sandboxWeChatPrefix
		}
	}
	client, err := wechat.New(wechat.Config{
		OpenBaseURL: open, APIBaseURL: api, Apps: apps, Platforms: platforms, Timeout: cfg.Timeout, Now: a.now,
		Observe: a.metrics.WeChatCall,
		HTTPClient: &http.Client{Timeout: cfg.Timeout, Transport: weChatTransport(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	})
	if err != nil {
		return fmt.Errorf("wechat: %w", err)
	}
	a.wechat = client
	return nil
}

// weChatTransport keeps connections to WeChat's API open for the calls of
// many logins at once: Go's default keeps two idle connections per host,
// so concurrent logins kept opening new TLS connections (16 workers opened
// 122 for 600 logins).
func weChatTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return t
}

// newSandboxEmulator builds the sandbox's WeChat from the configuration:
// its apps with their secrets and callback domain, its platforms pushing
// to wxcas's event URLs, and the two test users. wxcas builds it in
// process, and `wxcas emulator` from the same file; log receives the
// ticket pushes' outcomes (nil: none).
func newSandboxEmulator(cfg *config.Config, now func() time.Time, log *slog.Logger) (*emulator.Emulator, error) {
	pub, err := url.Parse(cfg.Server.PublicURL)
	if err != nil {
		return nil, err
	}
	var apps []emulator.App
	unionAccount := cfg.Login.UnionIDAccount()
	for _, app := range cfg.WeChat.Apps {
		em := emulator.App{
			AppID: app.AppID, Secret: app.Secret, Kind: emulator.Kind(app.Kind), ComponentAppID: componentAppID(cfg, app),
			// The sandbox apps belong to one open-platform account, so a
			// person has one unionid across them, as in a typical
			// deployment; of the Official Accounts only the unionid account
			// is bound to it (the others are entry accounts of the chain).
			OpenPlatformID: "sandbox", CallbackDomain: pub.Hostname(),
		}
		if app.Kind == string(wechat.KindOfficialAccount) && unionAccount != "" && app.AppID != unionAccount {
			em.OpenPlatformID = ""
		}
		if em.ComponentAppID != "" {
			em.Secret = "" // served through its platform
		}
		apps = append(apps, em)
	}
	var platforms []emulator.Platform
	for _, p := range cfg.WeChat.Platforms {
		var authorizers []string
		for _, app := range cfg.WeChat.Apps {
			if app.ViaPlatform == p.ID {
				authorizers = append(authorizers, app.AppID)
			}
		}
		platforms = append(platforms, emulator.Platform{
			ComponentAppID: p.ComponentAppID, Secret: p.Secret, Token: p.Token, EncodingAESKey: p.EncodingAESKey,
			EventURL: selfURL(cfg.Server.Listen) + platformEventsPath(p.ID), Authorizers: authorizers,
		})
	}
	return emulator.New(emulator.Options{Apps: apps, Platforms: platforms, Now: now, Logger: log, Persons: []emulator.Person{
		{Name: "alice", Nickname: "Alice 爱丽丝", Phone: "13800138000"},
		{Name: "bob", Nickname: "小明 🐼", Phone: "13900139000"},
	}})
}

// componentAppID is the component appid of the platform app is served
// through ("" for an app with its own secret).
func componentAppID(cfg *config.Config, app config.WeChatApp) string {
	p, _ := cfg.WeChat.Platform(app.ViaPlatform)
	return p.ComponentAppID
}

// platformEventsPath is a platform's authorization event URL, under
// public_url: the address to enter as "授权事件接收URL" on the platform.
func platformEventsPath(id string) string { return "/wechat/platforms/" + id + "/events" }

// wirePlatforms mounts each third-party platform's event receiver (the
// component_verify_ticket push and the authorizers' events) and returns the
// shared component access tokens and the state of each platform-served
// account (nil and nil without platforms).
func (a *app) wirePlatforms() (*apptoken.Cache, func(context.Context, string) (web.AccountState, error), error) {
	if len(a.cfg.WeChat.Platforms) == 0 {
		return nil, nil, nil
	}
	tickets, err := platform.NewSQLStore(a.db, keys.Derive(a.masterKey, keys.PlatformSeal), a.now)
	if err != nil {
		return nil, nil, err
	}
	tickets = tickets.WithLogger(a.log)
	for _, p := range a.cfg.WeChat.Platforms {
		crypter, err := platform.NewCrypter(p.Token, p.EncodingAESKey, p.ComponentAppID)
		if err != nil {
			return nil, nil, fmt.Errorf("wechat.platforms %s: %w", p.ID, err)
		}
		rcv, err := platform.NewReceiver(platform.ReceiverOptions{
			ComponentAppID: p.ComponentAppID, Crypter: crypter, Store: tickets, Now: a.now, Logger: a.log.With("platform", p.ID),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("wechat.platforms %s: %w", p.ID, err)
		}
		a.web.Mount(platformEventsPath(p.ID), rcv)
	}
	// Component tokens share the app tokens' table, keyed by component
	// appid (distinct from every app's appid), with their own seal key.
	components, err := apptoken.New(a.db, platform.TokenFetcher{Client: a.wechat, Tickets: tickets}, apptoken.Options{
		Key: keys.Derive(a.masterKey, keys.PlatformToken), Now: a.now, Logger: a.log.With("component", "platform"),
	})
	if err != nil {
		return nil, nil, err
	}
	state := func(ctx context.Context, appID string) (web.AccountState, error) {
		app, ok := a.wechat.App(appID)
		if !ok || !app.ViaPlatform() {
			return web.AccountUsable, nil
		}
		status, err := tickets.Authorization(ctx, app.ComponentAppID, appID)
		if err != nil || status == platform.StatusUnauthorized {
			return web.AccountWithdrawn, err
		}
		if _, _, err := tickets.Ticket(ctx, app.ComponentAppID); errors.Is(err, platform.ErrNoTicket) {
			return web.AccountNotReady, nil
		} else if err != nil {
			return web.AccountUsable, err
		}
		return web.AccountUsable, nil
	}
	for _, p := range a.cfg.WeChat.Platforms {
		// What an operator needs to check a new platform: where WeChat must
		// push, and whether it has.
		_, _, err := tickets.Ticket(context.Background(), p.ComponentAppID)
		a.log.Info("wechat platform", "platform", p.ID, "component_appid", p.ComponentAppID,
			"event_url", strings.TrimSuffix(a.cfg.Server.PublicURL, "/")+platformEventsPath(p.ID), "ticket", err == nil)
		if errors.Is(err, platform.ErrNoTicket) && a.emulator == nil && a.remoteEmulator() == "" {
			a.log.Warn("wechat platform has no component_verify_ticket yet: its Official Accounts cannot log people in until WeChat pushes one to the event URL (every 10 minutes)", "platform", p.ID)
		}
	}
	if a.emulator != nil {
		// The sandbox's WeChat pushes tickets as WeChat does: at once, then
		// every 10 minutes.
		em := a.emulator
		a.jobs = append(a.jobs, func(ctx context.Context) { em.StartTicketPush(ctx, 10*time.Minute) })
	}
	if remote := a.remoteEmulator(); remote != "" {
		// The emulator's process pushes at its own start and every 10
		// minutes; an instance that starts later (or on a fresh database)
		// asks for a ticket now rather than waiting for the next round.
		a.jobs = append(a.jobs, func(ctx context.Context) { a.askForTickets(ctx, remote) })
	}
	return components, state, nil
}

// askForTickets has the emulator at remote push a component_verify_ticket
// to each platform's event URL now. The emulator pushes to the event URL
// of its own configuration (server.listen), which is this instance when
// both were started with the same file and environment, and otherwise an
// instance sharing this one's database.
func (a *app) askForTickets(ctx context.Context, remote string) {
	client := &http.Client{Timeout: 10 * time.Second}
	for _, p := range a.cfg.WeChat.Platforms {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			remote+sandboxWeChatPrefix+emulator.PathSandboxPush+"?component_appid="+url.QueryEscape(p.ComponentAppID), nil)
		if err != nil {
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("sandbox: the emulator did not answer a request for a component_verify_ticket", "platform", p.ID, "err", err)
			}
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			a.log.Warn("sandbox: the emulator could not push a component_verify_ticket (it pushes to the event URL of its own server.listen)",
				"platform", p.ID, "status", resp.StatusCode)
		}
	}
}

// selfURL is how wxcas reaches itself on its listen address.
func selfURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// wireSMS builds the SMS sender: Tencent Cloud, or in the sandbox the console
// sender with its inbox at /sandbox/sms, which is the emulator's process
// when it runs apart.
func (a *app) wireSMS() error {
	switch a.cfg.SMS.Provider {
	case "console":
		if remote := a.remoteEmulator(); remote != "" {
			// The inbox is in the emulator's process, not here: it then
			// holds the codes of every instance sharing that emulator, and
			// its process pays for logging them.
			a.sender = sms.NewRemoteConsole(remote+sandboxSMSPath, nil)
			a.web.Mount(sandboxSMSPath, servedElsewhere(remote))
			break
		}
		console := sms.NewConsole(a.log.With("component", "sms"), 20, a.now)
		if a.cfg.SMS.SignName != "" {
			console.SignName = a.cfg.SMS.SignName
		}
		a.web.Mount(sandboxSMSPath, console.InboxHandler())
		a.sender = console
	case "tencent":
		t := a.cfg.SMS.Tencent
		sender, err := sms.NewTencent(sms.TencentConfig{
			SecretID: t.SecretID, SecretKey: t.SecretKey, Region: t.Region, SdkAppID: t.SdkAppID,
			SignName: a.cfg.SMS.SignName, TemplateID: t.TemplateID, TemplateParams: t.TemplateParams,
			Endpoint: t.Endpoint, Timeout: t.Timeout, Now: a.now,
		})
		if err != nil {
			return fmt.Errorf("sms: %w", err)
		}
		a.sender = sender
	default:
		return fmt.Errorf("sms: unknown provider %q", a.cfg.SMS.Provider)
	}
	return nil
}

// wireOTP builds one-time code issuance on the database and the SMS sender,
// and schedules the cleanup of expired codes and counters.
func (a *app) wireOTP() error {
	sender := a.metrics.Sender(a.sender)
	send := func(ctx context.Context, phone otp.Phone, code string, ttl time.Duration) error {
		_, err := sender.Send(ctx, sms.Message{Phone: phone.String(), Code: code, TTL: ttl})
		return err
	}
	svc, err := otp.New(a.cfg.OTP.OTPConfig(keys.Derive(a.masterKey, keys.OTP)), otp.NewSQLStore(a.db), send, a.now, a.log.With("component", "otp"))
	if err != nil {
		return fmt.Errorf("otp: %w", err)
	}
	a.otp = svc
	a.metrics.WatchSMSBudget(svc)
	a.every("otp cleanup", func(ctx context.Context) (int64, error) { return svc.Cleanup(ctx) })
	if a.cfg.OTP.Challenge.Enabled {
		chal, err := challenge.New(keys.Derive(a.masterKey, keys.Challenge), challenge.SQLStore{DB: a.db}, a.now)
		if err != nil {
			return fmt.Errorf("otp challenge: %w", err)
		}
		svc.UseChallenges(a.metrics.Challenges(chal), a.cfg.OTP.Challenge.ChallengeConfig())
		a.every("challenge cleanup", chal.Cleanup)
	}
	return nil
}

// every schedules a clean-up job: once at start-up (what piled up while no
// instance ran goes at once, not an interval later), then every
// cleanup.interval. Several instances may run the same job, which is
// harmless: each is made of batched, idempotent DELETEs.
func (a *app) every(name string, job func(ctx context.Context) (int64, error)) {
	a.jobs = append(a.jobs, func(ctx context.Context) {
		t := time.NewTicker(a.cfg.Cleanup.Interval)
		defer t.Stop()
		for {
			n, err := job(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				a.log.Warn("background job failed", "job", name, "err", err)
			case n > 0:
				a.log.Debug("background job done", "job", name, "deleted", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// wireLogin builds the login journey, the CAS server and the browser
// login, and mounts them. The journey's finish line is chosen here: wxcas's
// own CAS server (SSO session + service ticket), or the hand-off to Apereo.
// The CAS server is built first and its handler last, with the browser
// login as its Authenticator, so neither holds the other.
func (a *app) wireLogin() error {
	pub, err := url.Parse(a.cfg.Server.PublicURL)
	if err != nil {
		return err
	}
	bindings := binding.NewSQLStore(a.db)
	directory, err := a.directory(bindings)
	if err != nil {
		return err
	}
	logins := login.New(a.cfg.Login.Config, bindings, directory, a.otp, a.db, a.now, a.log.With("component", "login"))
	auditSQL := audit.NewSQL(a.db)
	a.bindings, a.userDirectory, a.auditStore = bindings, directory, auditSQL
	a.audit = a.metrics.Audit(audit.Best(auditSQL, a.log.With("component", "audit")))
	a.every("audit retention", func(ctx context.Context) (int64, error) {
		return auditSQL.Cleanup(ctx, a.now().Add(-a.cfg.Audit.Retention))
	})
	tokens, err := apptoken.New(a.db, a.wechat, apptoken.Options{Key: keys.Derive(a.masterKey, keys.AppToken), Now: a.now, Logger: a.log})
	if err != nil {
		return err
	}
	components, accountState, err := a.wirePlatforms()
	if err != nil {
		return err
	}
	journeys := journey.NewSQLStore(a.db)
	a.weChatIDs = journey.WeChatClient{Client: a.wechat, Tokens: tokens, Components: components, Log: a.log.With("component", "journey")}
	a.journeys, err = journey.New(journey.Config{
		TTL: a.cfg.Login.FlowTTL, PhoneRegion: a.cfg.OTP.DefaultRegion, UnionIDApp: a.cfg.Login.UnionIDAccount(),
	}, journey.Deps{
		Store: journeys, Login: logins, Audit: a.audit, Funnel: a.metrics, Now: a.now, Log: a.log.With("component", "journey"),
		WeChat: a.weChatIDs,
	})
	if err != nil {
		return err
	}

	casCfg := a.cfg.CAS.Config
	// The OpenID provider logs people in through internal CAS services.
	casCfg.Services = append(slices.Clone(casCfg.Services), openid.Services(a.cfg.OIDC, a.cfg.Server.PublicURL)...)
	// So do the account page and the admin console.
	casCfg.Services = append(casCfg.Services, a.gatedServices()...)
	a.metrics.KnownServices(serviceIDs(casCfg.Services))
	casSrv, err := cas.NewServer(casCfg, cas.Deps{
		DB: a.db, Now: a.now, Logger: a.log.With("component", "cas"), CookieKey: keys.Derive(a.masterKey, keys.TicketCookie),
		PublicURL: pub, Pages: web.CASPages{Pages: a.pages}, HTTPClient: a.backChannelClient(),
	})
	if err != nil {
		return fmt.Errorf("cas: %w", err)
	}
	a.cas = casSrv
	var finisher journey.Finisher = finish.CAS{Server: casSrv}
	var accepts func(cas.LoginRequest) bool
	if a.cfg.CAS.Mode == "apereo-token" {
		// Apereo creates the SSO session and the ticket: wxcas only proves
		// the WeChat login with a short-lived token.
		minter, err := apereo.NewMinter(a.cfg.CAS.Apereo, a.cfg.CAS.Services, a.now)
		if err != nil {
			return fmt.Errorf("cas.apereo: %w", err)
		}
		finisher = finish.Apereo{Minter: minter, Pages: web.CASPages{Pages: a.pages}}
		accepts = func(req cas.LoginRequest) bool { return minter.Supports(req.ServiceID) }
	}
	// The browser login's own counters: a flood of logins from one address
	// must not lock the API's clients out, nor the other way round.
	loginLimits := ratelimit.Limiter{DB: a.db, Table: "login_rate_counters"}
	browser, err := web.NewLogin(web.LoginOptions{
		Logger: a.log.With("component", "web"), Pages: a.pages, Engine: a.journeys, Finisher: a.counted(finisher), Accepts: accepts,
		Now: a.now, PublicURL: pub, WeChat: a.wechat,
		WebsiteAppID: a.cfg.Login.WebsiteAppID, OfficialAccountAppID: a.cfg.Login.OfficialAccountAppID, QRMode: a.cfg.Login.QRMode,
		EntryAccounts: a.cfg.Login.EntryAccounts, AccountState: accountState,
		IframeQR: a.cfg.Sandbox.Enabled && a.cfg.WeChat.OpenBaseURL == "",
		FlowTTL:  a.cfg.Login.FlowTTL, Afterlife: journeyKeep, QRLifetime: a.cfg.Login.QRLifetime, ResendCooldown: a.cfg.OTP.ResendCooldown,
		SessionAuthKey: keys.Derive(a.masterKey, keys.SessionAuth), SessionCryptKey: keys.Derive(a.masterKey, keys.SessionCrypt),
		StateKey: keys.Derive(a.masterKey, keys.FlowState),
		Limiter:  loginLimits, PerIP: a.cfg.Login.PerIP, Funnel: a.metrics,
	})
	if err != nil {
		return err
	}
	a.web.Mount("/cas", browser.ForgetOnLogout(casSrv.Handler(browser)))
	if err := a.wireOIDC(casSrv, pub); err != nil {
		return err
	}
	if err := a.wireAccount(casSrv, pub); err != nil {
		return err
	}
	if err := a.wireAdmin(casSrv, pub); err != nil {
		return err
	}
	browser.Register(a.web.Echo())
	a.jobs = append(a.jobs, func(ctx context.Context) { casSrv.RunJanitor(ctx, a.cfg.Cleanup.Interval) })
	a.every("journey cleanup", func(ctx context.Context) (int64, error) {
		// An expired journey is kept an hour: until then a late request is
		// told "expired, start again for this service", not "unknown".
		return journeys.Cleanup(ctx, a.now().Add(-journeyKeep))
	})
	a.every("login rate counters", func(ctx context.Context) (int64, error) {
		return loginLimits.Cleanup(ctx, a.now())
	})
	a.every("unbound wechat accounts", func(ctx context.Context) (int64, error) {
		return bindings.CleanupAccounts(ctx, a.now().Add(-a.cfg.Cleanup.UnboundAccountTTL))
	})
	if directory == binding.Directory(bindings) {
		// Only the built-in users table: the organisation's directory is
		// theirs, and its users need no binding to exist.
		a.every("users without binding", func(ctx context.Context) (int64, error) {
			return bindings.CleanupOrphanUsers(ctx, a.now().Add(-a.cfg.Cleanup.OrphanUserGrace))
		})
	}

	if a.cfg.Sandbox.Enabled {
		base := strings.TrimSuffix(a.cfg.Server.PublicURL, "/")
		app := web.SandboxApp{
			ServiceURL: base + "/sandbox/app/", LoginURL: base + "/cas", CASURL: selfURL(a.cfg.Server.Listen) + "/cas",
			Client: &http.Client{Timeout: 10 * time.Second},
		}
		a.web.Mount("/sandbox/app", app)
	}
	return nil
}

// wireOIDC mounts the OpenID provider, built on the CAS server's sessions:
// logging out of CAS revokes the session's grants and sends back-channel
// logout (OnLogout).
func (a *app) wireOIDC(casSrv *cas.Server, pub *url.URL) error {
	if !a.cfg.OIDC.Enabled {
		return nil
	}
	limits := ratelimit.Limiter{DB: a.db, Table: "oidc_rate_counters"}
	prov, err := openid.New(a.cfg.OIDC, openid.Deps{
		Store: openid.NewSQLStore(a.db), Sessions: casSrv, Atomic: a.db.Atomic, Limiter: limits,
		EntryAccount: func(appID string) bool {
			app, ok := a.wechat.App(appID)
			return ok && app.Kind == wechat.KindOfficialAccount
		},
		RealIP: a.web.Echo().IPExtractor, HTTPClient: a.backChannelClient(), PublicURL: pub,
		SealKey: keys.Derive(a.masterKey, keys.OIDCKeySeal), CryptoKey: keys.Derive(a.masterKey, keys.OIDCCrypto),
		LogoutKey: keys.Derive(a.masterKey, keys.OIDCLogout), Pages: web.CASPages{Pages: a.pages},
		Insecure: pub.Scheme == "http", SessionLifetime: a.cfg.CAS.TGTMaxLifetime, Now: a.now, Log: a.log.With("component", "openid"),
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := prov.Ready(ctx); err != nil {
		return fmt.Errorf("oidc: %w", err)
	}
	casSrv.OnLogout(prov.RevokeSession, prov.SessionEnded)
	a.web.Mount(openid.PathDiscovery, prov.Handler())
	a.web.Mount("/oidc", prov.Handler())
	a.closers = append(a.closers, func() error { prov.Close(); return nil })
	a.every("oidc cleanup", prov.Cleanup)
	a.every("oidc rate counters", func(ctx context.Context) (int64, error) { return limits.Cleanup(ctx, a.now()) })
	return nil
}

// journeyKeep is how long an expired journey stays before the clean-up; the
// browser's journey cookie names its service as long (Afterlife).
const journeyKeep = time.Hour

// backChannelClient is the client of the CAS back channel: nil (the system
// roots) unless a test trusts its own servers.
func (a *app) backChannelClient() *http.Client {
	if a.backChannelTLS == nil {
		return nil
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = a.backChannelTLS
	return &http.Client{Transport: t}
}

// directory is the built-in users table or the organisation's database.
func (a *app) directory(builtin *binding.SQLStore) (binding.Directory, error) {
	if a.cfg.Directory.Type != "sql" {
		builtin.UseAsDirectory()
		return builtin, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := sqldir.Open(ctx, a.cfg.Directory.SQL, a.log.With("component", "directory"))
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	a.closers = append(a.closers, dir.Close)
	return dir, nil
}

// wireAPI mounts the JSON API for mini programs and mobile apps. Its logins
// end in wxcas's own CAS session (REST tickets), so it exists only when wxcas
// is the CAS server the sites trust.
func (a *app) wireAPI() error {
	if a.cfg.CAS.Mode != "server" {
		a.log.Info("JSON API for mini programs and apps is off: it needs cas.mode server")
		return nil
	}
	var accounts api.AccountDeps
	if a.cfg.Account.On() && a.accounts != nil { // built by wireLogin's wireAccount
		accounts = api.AccountDeps{Service: a.accounts, Sessions: a.cas, Logins: a.auditStore, WeChat: a.weChatIDs, PhoneRegion: a.cfg.OTP.DefaultRegion}
	}
	h, err := api.New(a.cfg.API, api.Deps{
		Engine: a.journeys, Finisher: a.counted(finish.Session{Sessions: a.cas}), WeChat: a.wechat, DB: a.db,
		Now: a.now, Logger: a.log.With("component", "api"), Account: accounts,
	})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	a.web.MountAPI("/api/v1", h, api.WithClientIP)
	a.every("api cleanup", h.Cleanup)
	return nil
}
