package main

import (
	"net/url"

	"wxcas/cas"
	"wxcas/config"
	"wxcas/keys"
	"wxcas/ratelimit"
	"wxcas/web"
)

// The admin console's CAS service and where it lives.
const (
	adminServiceID = "wxcas.admin"
	adminPath      = "/admin"
)

// adminServices is the console's CAS service when the console is on
// (admin.principals lists someone).
func adminServices(cfg *config.Config) []cas.Service {
	if len(cfg.Admin.Principals) == 0 {
		return nil
	}
	return []cas.Service{web.GateService(adminServiceID, "Admin console", cfg.Server.PublicURL, adminPath)}
}

// wireAdmin mounts the admin console when admin.principals lists someone;
// otherwise /admin is not served at all (404). Operators sign in through
// wxcas's own CAS server, as the account page's people do, with a cookie of
// the console's own name (the gate's keys are shared; the cookie's name is
// part of what they authenticate).
func (a *app) wireAdmin(casSrv *cas.Server, pub *url.URL) error {
	if len(adminServices(a.cfg)) == 0 {
		return nil
	}
	gate := &web.CASGate{Path: adminPath, Cookie: "wxcas_admin", Sessions: casSrv, Pages: a.pages, PublicURL: pub,
		HashKey: keys.Derive(a.masterKey, keys.GateAuth), BlockKey: keys.Derive(a.masterKey, keys.GateCrypt),
		MaxAge: a.cfg.CAS.TGTMaxLifetime, Now: a.now}
	if err := gate.Init(); err != nil {
		return err
	}
	console, err := web.NewAdmin(web.AdminOptions{
		Gate: gate, ServiceID: adminServiceID, Principals: a.cfg.Admin.Principals, Bindings: a.bindings, Users: a.userDirectory, Accounts: a.accounts,
		Events: a.auditStore, Audit: a.audit, Pages: a.pages, PhoneRegion: a.cfg.OTP.DefaultRegion,
		// The login's counters table: its clean-up already runs.
		Refusals: ratelimit.Limiter{DB: a.db, Table: "login_rate_counters"}, Now: a.now,
		Log: a.log.With("component", "admin"),
	})
	if err != nil {
		return err
	}
	console.Register(a.web.Echo())
	return nil
}
