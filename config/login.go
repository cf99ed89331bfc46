package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"wxcas/apereo"
	"wxcas/binding/sqldir"
	"wxcas/cas"
	"wxcas/login"
	"wxcas/ratelimit"
)

// CAS is the CAS server role: ticket lifetimes, the SSO cookie and the
// registry of services allowed to receive tickets.
type CAS struct {
	cas.Config `yaml:",inline"`
	// Mode: server (wxcas issues the tickets sites validate) or apereo-token
	// (wxcas hands the login to an existing Apereo CAS by token).
	Mode string `yaml:"mode"`
	// Apereo configures the token hand-off (mode apereo-token).
	Apereo apereo.Config `yaml:"apereo"`
}

// Login is the browser login: which WeChat apps the pages use, how the QR
// code is shown, and the binding policy.
type Login struct {
	login.Config `yaml:",inline"`
	// WebsiteAppID is the website app whose QR code desktop browsers scan.
	WebsiteAppID string `yaml:"website_appid"`
	// OfficialAccountAppID is the Official Account a login inside WeChat's
	// own browser starts from when neither the entry link (appid=) nor the
	// service names one.
	OfficialAccountAppID string `yaml:"official_account_appid"`
	// UnionIDOfficialAccount is the Official Account bound to the
	// open-platform account, the one whose snsapi_userinfo authorization
	// reveals the unionid: a person the entry account does not know is asked
	// there once (the unionid chain). Empty: no step-up.
	UnionIDOfficialAccount string `yaml:"unionid_official_account"`
	// OfficialAccountUnionID: the older spelling of UnionIDOfficialAccount =
	// OfficialAccountAppID (the one Official Account reveals the unionid).
	OfficialAccountUnionID bool `yaml:"official_account_unionid"`
	// EntryAccounts names, per service id (oidc.<client> for an OpenID
	// Connect client), the Official Account its logins inside WeChat start
	// from when the entry link names none.
	EntryAccounts map[string]string `yaml:"entry_accounts"`
	// QRMode: inline (QR code inside our page, wxLogin.js) or redirect
	// (full-page WeChat QR page).
	QRMode string `yaml:"qr_mode"`
	// FlowTTL bounds one login from start to finish.
	FlowTTL time.Duration `yaml:"flow_ttl"`
	// QRLifetime is how long one QR code stays on the page before the page
	// swaps it for a new one by itself.
	QRLifetime time.Duration `yaml:"qr_lifetime"`
	// PerIP limits, per client address, the logins started at /cas/login
	// (2 each: the start and the callback it leads to), the further WeChat
	// states a login issues, the callbacks with a state no login of the
	// browser issued and those beyond the one a state paid for: what costs
	// journey rows and calls to WeChat (see
	// web.Login.limited). High by default, since a campus NAT puts many
	// people behind one address; Max 0 turns it off.
	PerIP ratelimit.Limit `yaml:"per_ip"`
	// TemplatesDir overrides embedded page templates (and static files in its
	// static/ subdirectory) file by file, for branding.
	TemplatesDir string `yaml:"templates_dir"`
}

func defaultLogin() Login {
	return Login{
		Config: login.DefaultConfig(), QRMode: "inline", FlowTTL: 10 * time.Minute, QRLifetime: 5 * time.Minute,
		PerIP: ratelimit.Limit{Max: 300, Window: time.Minute},
	}
}

func (c *Config) validateLogin() Problems {
	var p Problems
	add := func(bad bool, format string, args ...any) {
		if bad {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}
	p = append(p, c.CAS.Config.Validate()...)
	if !c.Sandbox.Enabled {
		p = append(p, c.CAS.Config.ValidateOutsideSandbox()...)
	}
	add(c.CAS.Mode != "server" && c.CAS.Mode != "apereo-token", "cas.mode: %q must be server or apereo-token", c.CAS.Mode)
	if c.CAS.Mode == "apereo-token" {
		p = append(p, c.CAS.Apereo.Validate(c.CAS.Services, c.FromEnv, c.Sandbox.Enabled)...)
	}

	p = append(p, c.Login.Config.Validate()...)
	kinds := map[string]string{}
	for _, app := range c.WeChat.Apps {
		kinds[app.AppID] = app.Kind
	}
	add(c.Login.WebsiteAppID == "" && c.Login.OfficialAccountAppID == "",
		"login: set website_appid and/or official_account_appid (the apps browsers log in with)")
	if id := c.Login.WebsiteAppID; id != "" {
		add(kinds[id] != "website", "login.website_appid: %s is not a website app in wechat.apps", id)
	}
	if id := c.Login.OfficialAccountAppID; id != "" {
		add(kinds[id] != "official_account", "login.official_account_appid: %s is not an official_account app in wechat.apps", id)
	}
	if id := c.Login.UnionIDOfficialAccount; id != "" {
		add(kinds[id] != "official_account", "login.unionid_official_account: %s is not an official_account app in wechat.apps", id)
		add(c.Login.OfficialAccountUnionID && id != c.Login.OfficialAccountAppID,
			"login.official_account_unionid: true names official_account_appid as the unionid account, but unionid_official_account names %s; keep only unionid_official_account", id)
	}
	add(c.Login.OfficialAccountUnionID && c.Login.OfficialAccountAppID == "",
		"login.official_account_unionid: needs official_account_appid (or set unionid_official_account)")
	for _, service := range sortedKeys(c.Login.EntryAccounts) {
		id := c.Login.EntryAccounts[service]
		add(kinds[id] != "official_account", "login.entry_accounts.%s: %s is not an official_account app in wechat.apps", service, id)
		add(!c.knownService(service), "login.entry_accounts.%s: no such service in cas.services (or oidc.<client> in oidc.clients)", service)
	}
	add(c.Login.QRMode != "inline" && c.Login.QRMode != "redirect", "login.qr_mode: %q must be inline or redirect", c.Login.QRMode)
	add(c.Login.FlowTTL < time.Minute || c.Login.FlowTTL > 10*time.Minute, "login.flow_ttl: %v must be between 1m and 10m", c.Login.FlowTTL)
	add(c.Login.QRLifetime < 5*time.Second || c.Login.QRLifetime > c.Login.FlowTTL, "login.qr_lifetime: %v must be between 5s and login.flow_ttl", c.Login.QRLifetime)
	p = append(p, c.Login.PerIP.Problems("login.per_ip")...)
	if c.Login.TemplatesDir != "" {
		p = append(p, dirProblems("login.templates_dir", c.Login.TemplatesDir)...)
	}
	return p
}

// Directory selects the user directory.
type Directory struct {
	// Type: builtin (wxcas's own users table) or sql (the organisation's
	// database, through the queries under sql).
	Type string        `yaml:"type"`
	SQL  sqldir.Config `yaml:"sql"`
}

// Audit configures the audit log of logins, bindings and refusals.
type Audit struct {
	// Retention: events older than this are deleted.
	Retention time.Duration `yaml:"retention"`
}

func (c *Config) validateDirectory() Problems {
	var p Problems
	switch c.Directory.Type {
	case "builtin":
	case "sql":
		p = append(p, c.Directory.SQL.Validate(c.Sandbox.Enabled, c.FromEnv)...)
		if !c.Directory.SQL.CanCreate() && c.Login.OnUnknownPhone == login.UnknownPhoneCreate {
			p = append(p, "login.on_unknown_phone: create needs directory.sql.create (an INSERT); set it or use on_unknown_phone: refuse")
		}
	default:
		p = append(p, fmt.Sprintf("directory.type: %q must be builtin or sql", c.Directory.Type))
	}
	if c.Audit.Retention < 24*time.Hour {
		p = append(p, fmt.Sprintf("audit.retention: %v must be at least 24h", c.Audit.Retention))
	}
	return p
}

// UnionIDAccount is the Official Account whose snsapi_userinfo
// authorization reveals the unionid ("" for none), whichever spelling the
// file used.
func (l Login) UnionIDAccount() string {
	if l.UnionIDOfficialAccount != "" {
		return l.UnionIDOfficialAccount
	}
	if l.OfficialAccountUnionID {
		return l.OfficialAccountAppID
	}
	return ""
}

// knownService reports whether id is a registered service or an OpenID
// Connect client's internal one (oidc.<client>).
func (c *Config) knownService(id string) bool {
	for _, s := range c.CAS.Services {
		if s.ID == id {
			return true
		}
	}
	if client, ok := strings.CutPrefix(id, "oidc."); ok {
		for _, cl := range c.OIDC.Clients {
			if cl.ID == client {
				return true
			}
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
