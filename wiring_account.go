package main

import (
	"context"
	"net/url"

	"wxcas/account"
	"wxcas/binding"
	"wxcas/cas"
	"wxcas/journey"
	"wxcas/keys"
	"wxcas/ratelimit"
	"wxcas/web"
	"wxcas/wechat"
)

// The account page's CAS service.
const accountServiceID = "wxcas.account"

// accountOn reports whether the account page is served: it signs in through
// wxcas's own SSO session, so only with cas.mode server.
func (a *app) accountOn() bool { return a.cfg.Account.On() && a.cfg.CAS.Mode == "server" }

// gatedServices are the CAS services of wxcas's own signed-in pages.
func (a *app) gatedServices() []cas.Service {
	var out []cas.Service
	if a.accountOn() {
		out = append(out, web.GateService(accountServiceID, "My account", a.cfg.Server.PublicURL, "/account"))
	}
	return append(out, adminServices(a.cfg)...)
}

// wireAccount builds the account service (also used by the admin console
// and the CLI) and, when on, mounts the account page.
func (a *app) wireAccount(casSrv *cas.Server, pub *url.URL) error {
	var phones account.Phones
	if any(a.userDirectory) == any(a.bindings) {
		phones = a.bindings // the built-in users table; an organisation's directory is theirs
	}
	var err error
	a.accounts, err = account.New(account.Deps{
		Bindings: a.bindings, Directory: a.userDirectory, Phones: phones, Sessions: casSrv, Codes: a.otp, Tx: a.db,
		Replacements: account.SQLReplacements{DB: a.db}, Audit: a.audit, Events: a.auditStore,
		// The login's counters table: its clean-up already runs.
		Probes: ratelimit.Limiter{DB: a.db, Table: "login_rate_counters"}, Now: a.now, Log: a.log.With("component", "account"),
	})
	if err != nil {
		return err
	}
	a.every("account replacements", func(ctx context.Context) (int64, error) { return a.accounts.CleanupReplacements(ctx) })
	if !a.accountOn() {
		return nil
	}
	gate := &web.CASGate{Path: "/account", Cookie: "wxcas_account", Sessions: casSrv, Pages: a.pages, PublicURL: pub,
		HashKey: keys.Derive(a.masterKey, keys.GateAuth), BlockKey: keys.Derive(a.masterKey, keys.GateCrypt),
		MaxAge: a.cfg.CAS.TGTMaxLifetime, Now: a.now}
	if err := gate.Init(); err != nil {
		return err
	}
	pages := &web.AccountPages{
		Gate: gate, Accounts: a.accounts, Logins: a.auditStore, WeChat: accountWeChat{Client: a.wechat, ids: a.weChatIDs},
		Pages: a.pages, WebsiteAppID: a.cfg.Login.WebsiteAppID, OfficialAccountAppID: a.cfg.Login.OfficialAccountAppID,
		PhoneRegion: a.cfg.OTP.DefaultRegion, RealIP: a.web.Echo().IPExtractor, Log: a.log.With("component", "account"),
		ServiceName: func(id string) string {
			if svc, ok := casSrv.Service(id); ok && svc.Name != "" {
				return svc.Name
			}
			return id
		},
		AppKind: func(appID string) string {
			app, _ := a.wechat.App(appID)
			return string(app.Kind)
		},
	}
	pages.Register(a.web.Echo())
	return nil
}

// accountWeChat is WeChat for the account page: the client's authorize
// URLs and the login's code exchange.
type accountWeChat struct {
	*wechat.Client
	ids journey.WeChatClient
}

func (w accountWeChat) Identify(ctx context.Context, appID, code string) (binding.Account, error) {
	return w.ids.Identify(ctx, appID, code)
}
