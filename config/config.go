// Package config holds wxcas's typed configuration: decoded strictly from
// config.yaml, with secrets expanded from the environment and every problem
// reported at once by Validate.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"wxcas/apereo"
	"wxcas/api"
	"wxcas/binding/sqldir"
	"wxcas/cas"
	"wxcas/openid"
)

// Config is the whole of config.yaml.
type Config struct {
	Server    Server        `yaml:"server"`
	Log       Log           `yaml:"log"`
	Database  Database      `yaml:"database"`
	Secrets   Secrets       `yaml:"secrets"`
	Sandbox   Sandbox       `yaml:"sandbox"`
	WeChat    WeChat        `yaml:"wechat"`
	SMS       SMS           `yaml:"sms"`
	OTP       OTP           `yaml:"otp"`
	CAS       CAS           `yaml:"cas"`
	Login     Login         `yaml:"login"`
	Directory Directory     `yaml:"directory"`
	Audit     Audit         `yaml:"audit"`
	Metrics   Metrics       `yaml:"metrics"`
	API       api.Config    `yaml:"api"`
	OIDC      openid.Config `yaml:"oidc"`
	Cleanup   Cleanup       `yaml:"cleanup"`
	Account   Account       `yaml:"account"`
	Admin     Admin         `yaml:"admin"`
	Help      Help          `yaml:"help"`

	// fromEnv holds the key paths whose values came from ${VAR} expansion.
	fromEnv map[string]bool
	// envVars holds the variables each key path's value refers to.
	envVars map[string][]string
	// listenFromEnv: server.listen came from WXCAS_LISTEN, not the file, so
	// a problem with it must say so and cannot point at a line.
	listenFromEnv bool
	// relativeServices holds the indexes of the cas.services written
	// relative to public_url, which derive has resolved.
	relativeServices map[int]bool
	// sandboxAcknowledged: WXCAS_ALLOW_SANDBOX=yes lets the sandbox run on a
	// non-loopback address (a shared demo); without it the sandbox cannot be
	// exposed by a config file copied to a server by mistake.
	sandboxAcknowledged bool
}

// Server is the HTTP listener and how the outside world reaches it.
type Server struct {
	Listen          string        `yaml:"listen"`
	PublicURL       string        `yaml:"public_url"`
	TrustedProxies  []string      `yaml:"trusted_proxies"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	RequestTimeout  time.Duration `yaml:"request_timeout"`
	// AllowInsecurePublicURL accepts an http public_url outside the sandbox,
	// for a TLS-terminating proxy on the same host in a lab; cookies then
	// lose the Secure flag, so start-up warns.
	AllowInsecurePublicURL bool `yaml:"allow_insecure_public_url"`
}

// Metrics exposes Prometheus metrics on their own listener, so they never
// share the public address.
type Metrics struct {
	// Listen is host:port for GET /metrics. Left out of the file it is
	// 127.0.0.1:9464; set but empty (listen: "" or an empty ${VAR:-}) it
	// turns metrics off.
	Listen string `yaml:"listen"`
}

// Log selects the log format and level.
type Log struct {
	Format string `yaml:"format"` // text | json
	Level  string `yaml:"level"`  // debug | info | warn | error
}

// Database selects the store: embedded SQLite or MySQL.
type Database struct {
	Driver       string        `yaml:"driver"` // sqlite | mysql
	DSN          string        `yaml:"dsn"`
	SQLitePath   string        `yaml:"sqlite_path"`
	MaxOpenConns int           `yaml:"max_open_conns"`
	StartupRetry time.Duration `yaml:"startup_retry"`
}

// Secrets are never written in the file itself outside the sandbox: they come
// from the environment through ${VAR}.
type Secrets struct {
	// Key is the master secret; session, state, OTP and cookie keys are derived from it.
	Key string `yaml:"key"`
}

// Sandbox turns on the built-in WeChat emulator and console SMS. It must be
// switched on explicitly and is announced loudly.
type Sandbox struct {
	Enabled bool `yaml:"enabled"`
	// EmulatorURL is the base URL of a WeChat emulator served by
	// `wxcas emulator` in a process of its own (e.g. http://127.0.0.1:18081).
	// Empty: the emulator and the SMS inbox run inside wxcas. Set, wxcas
	// calls that emulator's WeChat, sends browsers to its pages and its
	// console SMS to its inbox, so a measurement of wxcas leaves the
	// emulator's work out and several instances can share one WeChat.
	EmulatorURL string `yaml:"emulator_url"`
}

// Defaults returns the configuration used for every key the file leaves out.
func Defaults() *Config {
	return &Config{
		Server: Server{
			Listen:          "127.0.0.1:8080",
			ShutdownTimeout: 15 * time.Second,
			RequestTimeout:  30 * time.Second,
		},
		Log:      Log{Format: "text", Level: "info"},
		Database: Database{Driver: "sqlite", SQLitePath: "./data/wxcas.db", MaxOpenConns: 20, StartupRetry: 60 * time.Second},
		WeChat:   WeChat{Timeout: 10 * time.Second},
		SMS: SMS{Provider: "console", Tencent: TencentSMS{
			Region: "ap-guangzhou", Timeout: 10 * time.Second, TemplateParams: []string{"code", "ttl_minutes"},
		}},
		OTP:       defaultOTP(),
		CAS:       CAS{Config: cas.DefaultConfig(), Mode: "server", Apereo: apereo.DefaultConfig()},
		Login:     defaultLogin(),
		Directory: Directory{Type: "builtin", SQL: sqldir.DefaultConfig()},
		Audit:     Audit{Retention: 365 * 24 * time.Hour},
		Metrics:   Metrics{Listen: "127.0.0.1:9464"},
		API:       api.DefaultConfig(),
		OIDC:      openid.DefaultConfig(),
		Cleanup:   defaultCleanup(),
	}
}

// applyEnv applies the documented environment overrides (WXCAS_LISTEN).
func (c *Config) applyEnv(lookup func(string) (string, bool)) {
	if v, ok := lookup("WXCAS_LISTEN"); ok && v != "" {
		c.Server.Listen = v
		c.listenFromEnv = true
	}
}

// derive fills in what the sandbox can work out from the listen address, so
// that WXCAS_LISTEN alone moves it to another port: an empty public_url is
// http://<listen> (loopback only; anything else must say how it is reached),
// and an exact or prefix service url starting with "/" is relative to
// public_url (the sandbox's demo site is registered as /sandbox/app/).
func (c *Config) derive() {
	if c.Sandbox.Enabled && c.Server.PublicURL == "" && loopbackListen(c.Server.Listen) {
		c.Server.PublicURL = "http://" + c.Server.Listen
	}
	base := strings.TrimSuffix(c.Server.PublicURL, "/")
	c.relativeServices = map[int]bool{}
	for i, s := range c.CAS.Services {
		if relativeServiceURL(s) {
			c.relativeServices[i] = true
			if base != "" {
				c.CAS.Services[i].URL = base + s.URL
			}
		}
	}
}

// FromEnv reports whether the value at a dotted key path came from ${VAR}.
func (c *Config) FromEnv(path string) bool { return c.fromEnv[path] }

// Validate checks the whole configuration and returns every problem found.
func (c *Config) Validate() Problems {
	var p Problems
	add := func(bad bool, format string, args ...any) {
		if bad {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}

	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		key := "server.listen"
		if c.listenFromEnv {
			key = "server.listen (from WXCAS_LISTEN)"
		}
		p = append(p, fmt.Sprintf("%s: %q is not host:port", key, c.Server.Listen))
	}
	u, err := url.Parse(c.Server.PublicURL)
	publicURLOK := c.Server.PublicURL != "" && err == nil && (u.Scheme == "http" || u.Scheme == "https") &&
		u.Host != "" && u.RawQuery == "" && u.Fragment == ""
	if c.Server.PublicURL == "" {
		p = append(p, c.publicURLRequired())
	} else if !publicURLOK {
		p = append(p, fmt.Sprintf("server.public_url: %q must be an absolute http(s) URL without query or fragment", c.Server.PublicURL))
	} else if u.Scheme == "http" && !c.Sandbox.Enabled && !c.Server.AllowInsecurePublicURL {
		// Loopback included: a browser on the same host is still a real
		// user whose cookies would travel unprotected.
		p = append(p, "server.public_url: must be https outside the sandbox (cookies are Secure); "+
			"only for a TLS-terminating proxy on the same host in a lab, set server.allow_insecure_public_url: true")
	} else if c.Sandbox.Enabled && !c.sandboxAcknowledged && (!isLoopback(u.Hostname()) || !loopbackListen(c.Server.Listen)) {
		p = append(p, "sandbox.enabled: the sandbox (fake WeChat, codes in the log) only serves loopback addresses; "+
			"set sandbox.enabled: false for real users, or WXCAS_ALLOW_SANDBOX=yes for a shared demo")
	}
	p = append(p, c.validateEmulatorURL()...)
	for i, cidr := range c.Server.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			p = append(p, fmt.Sprintf("server.trusted_proxies[%d]: %q is not a CIDR prefix", i, cidr))
		}
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			p = append(p, fmt.Sprintf("metrics.listen: %q is not host:port", c.Metrics.Listen))
		}
	}
	add(c.Server.ShutdownTimeout <= 0, "server.shutdown_timeout: must be positive")
	add(c.Server.RequestTimeout <= 0, "server.request_timeout: must be positive")

	add(c.Log.Format != "text" && c.Log.Format != "json", "log.format: %q must be text or json", c.Log.Format)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p = append(p, fmt.Sprintf("log.level: %q must be debug, info, warn or error", c.Log.Level))
	}

	switch c.Database.Driver {
	case "sqlite":
		add(c.Database.SQLitePath == "", "database.sqlite_path: required with driver sqlite")
		add(c.Database.DSN != "", "database.dsn: only used with driver mysql (driver is sqlite)")
		if c.Database.SQLitePath != "" {
			p = append(p, sqliteDirProblems(c.Database.SQLitePath)...)
		}
	case "mysql":
		add(c.Database.DSN == "", "database.dsn: required with driver mysql (e.g. ${WXCAS_MYSQL_DSN})")
		if c.Database.DSN != "" {
			// The driver's own parser tells a password from the colon of
			// host:port; its error is not shown because it quotes the DSN.
			dsn, err := mysql.ParseDSN(c.Database.DSN)
			add(err != nil, "database.dsn: not a MySQL DSN (user:password@tcp(host:3306)/dbname)")
			add(err == nil && dsn.Passwd != "" && !c.FromEnv("database.dsn"),
				"database.dsn: contains a password; take it from the environment with ${WXCAS_MYSQL_DSN}")
		}
	default:
		p = append(p, fmt.Sprintf("database.driver: %q must be sqlite or mysql", c.Database.Driver))
	}
	add(c.Database.MaxOpenConns < 1, "database.max_open_conns: must be at least 1")
	add(c.Database.StartupRetry < 0, "database.startup_retry: must not be negative")

	switch {
	case c.Secrets.Key == "" && !c.Sandbox.Enabled:
		p = append(p, "secrets.key: required outside the sandbox; set it from the environment: key: ${WXCAS_SECRET_KEY}")
	case c.Secrets.Key != "" && !c.FromEnv("secrets.key") && !c.Sandbox.Enabled:
		p = append(p, "secrets.key: must come from the environment (${WXCAS_SECRET_KEY}), not be written in the file")
	case c.Secrets.Key != "" && len(c.Secrets.Key) < 32:
		p = append(p, "secrets.key: must be at least 32 characters (e.g. openssl rand -base64 48)")
	}
	p = append(p, c.validateFeatures()...)
	login := c.validateLogin()
	if !publicURLOK {
		login = dropRelativeServiceURLs(login, c.relativeServices)
	}
	p = append(p, login...)
	p = append(p, c.validateDirectory()...)
	p = append(p, c.validateCleanup()...)
	p = append(p, c.API.Validate()...)
	p = append(p, c.validateAccountAdmin()...)
	return append(p, c.validateOIDC()...)
}

// validateEmulatorURL checks sandbox.emulator_url: wxcas appends the
// emulator's own paths to it, and the emulator listens on its host:port, so
// it is a bare http(s) origin; like the sandbox itself, it stays on loopback
// unless the sandbox is acknowledged as a shared demo.
func (c *Config) validateEmulatorURL() Problems {
	raw := c.Sandbox.EmulatorURL
	if raw == "" {
		return nil
	}
	if !c.Sandbox.Enabled {
		return Problems{"sandbox.emulator_url: only used in the sandbox (sandbox.enabled is false); remove it"}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Problems{fmt.Sprintf("sandbox.emulator_url: %q must be http(s)://host:port with nothing after it (the address `wxcas emulator` listens on)", raw)}
	}
	if !c.sandboxAcknowledged && !isLoopback(u.Hostname()) {
		return Problems{"sandbox.emulator_url: the emulator (fake WeChat, SMS codes to anyone who asks) only serves loopback addresses; " +
			"WXCAS_ALLOW_SANDBOX=yes for a shared demo"}
	}
	return nil
}

// validateOIDC checks the oidc section: its sessions are wxcas's own CAS
// sessions, so it needs cas.mode server; a client secret comes from the
// environment outside the sandbox.
func (c *Config) validateOIDC() []string {
	if !c.OIDC.Enabled {
		return nil
	}
	var p []string
	if c.CAS.Mode != "server" {
		p = append(p, fmt.Sprintf("oidc.enabled: needs cas.mode: server (the OpenID provider's sessions are wxcas's CAS sessions; with %s, Apereo holds them)", c.CAS.Mode))
	}
	fromEnv := func(path string) bool { return c.Sandbox.Enabled || c.FromEnv(path) }
	return append(p, c.OIDC.Validate(fromEnv, c.Sandbox.Enabled || c.Server.AllowInsecurePublicURL)...)
}

// publicURLRequired says why public_url is missing and what to set. In the
// sandbox it is only derived from a loopback listen address (a browser on
// another host could not reach http://<0.0.0.0:8080>), so moving the sandbox
// to another address needs it set.
func (c *Config) publicURLRequired() string {
	what := "set server.public_url"
	if vars := c.envVars["server.public_url"]; len(vars) > 0 {
		what = "set " + strings.Join(vars, " or ")
	}
	if !c.Sandbox.Enabled {
		return "server.public_url: required (the external base URL, e.g. https://login.example.edu)"
	}
	// derive fills it in on a loopback listen address, so the listen address
	// is either not host:port (reported itself) or not loopback.
	msg := "server.public_url: required when the sandbox listens on a non-loopback address"
	if !loopbackListen(c.Server.Listen) && validListen(c.Server.Listen) {
		msg += " (" + c.Server.Listen + ")"
	} else {
		msg = "server.public_url: required unless the sandbox listens on a loopback host:port"
	}
	msg += ": " + what + " to the URL browsers reach it at"
	if !c.sandboxAcknowledged {
		msg += "; a shared sandbox also needs WXCAS_ALLOW_SANDBOX=yes"
	}
	return msg
}

// dropRelativeServiceURLs removes the problems of service urls written
// relative to public_url ("/sandbox/app/") when public_url itself is missing
// or invalid: they are only a consequence of the public_url problem, which
// is reported.
func dropRelativeServiceURLs(problems Problems, relative map[int]bool) Problems {
	var out Problems
	for _, text := range problems {
		var i int
		if n, _ := fmt.Sscanf(problemPath(text), "cas.services[%d].url", &i); n == 1 && relative[i] {
			continue
		}
		out = append(out, text)
	}
	return out
}

// relativeServiceURL is a service url derive resolves against public_url.
func relativeServiceURL(s cas.Service) bool {
	return strings.HasPrefix(s.URL, "/") && !strings.HasPrefix(s.URL, "//") &&
		(s.Match == cas.MatchExact || s.Match == cas.MatchPrefix)
}

func validListen(listen string) bool {
	_, _, err := net.SplitHostPort(listen)
	return err == nil
}

func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	return err == nil && isLoopback(host)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sqliteDirProblems names the path when the database file's directory cannot
// be created or written, so the operator is not left guessing.
func sqliteDirProblems(path string) Problems {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		// Created at start-up; its parent must be writable.
		parent := dir
		for {
			parent = filepath.Dir(parent)
			if st, err := os.Stat(parent); err == nil {
				if !st.IsDir() || !writable(parent) {
					return Problems{fmt.Sprintf("database.sqlite_path: cannot create directory %s: %s is not writable", dir, parent)}
				}
				return nil
			}
			if parent == filepath.Dir(parent) {
				return nil
			}
		}
	case err != nil:
		return Problems{fmt.Sprintf("database.sqlite_path: cannot use directory %s: %v", dir, err)}
	case !st.IsDir():
		return Problems{fmt.Sprintf("database.sqlite_path: %s is not a directory", dir)}
	case !writable(dir):
		return Problems{fmt.Sprintf("database.sqlite_path: directory %s is not writable", dir)}
	}
	return nil
}

func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".wxcas-write-check-*")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return true
}

func dirProblems(key, dir string) Problems {
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return Problems{fmt.Sprintf("%s: %v", key, err)}
	case !st.IsDir():
		return Problems{fmt.Sprintf("%s: %s is not a directory", key, dir)}
	}
	return nil
}
