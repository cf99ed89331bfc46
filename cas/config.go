package cas

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Config is the `cas:` section of config.yaml.
type Config struct {
	// ServiceTicketTTL bounds how long an unvalidated ST stays usable (Apereo: 10 s).
	ServiceTicketTTL time.Duration `yaml:"service_ticket_ttl"`
	// ProxyTicketTTL is the same for PTs.
	ProxyTicketTTL time.Duration `yaml:"proxy_ticket_ttl"`
	// TGTMaxLifetime is the hard limit of an SSO session (Apereo: 8 h).
	TGTMaxLifetime time.Duration `yaml:"tgt_max_lifetime"`
	// TGTIdleTimeout ends an SSO session that issued no ticket for this long (Apereo: 2 h).
	TGTIdleTimeout time.Duration `yaml:"tgt_idle_timeout"`
	// CookieName names the ticket-granting cookie (default "TGC").
	CookieName string `yaml:"cookie_name"`
	// SLOTimeout bounds each back-channel logout POST.
	SLOTimeout time.Duration `yaml:"slo_timeout"`
	// SLOConcurrency bounds the logout POSTs in flight across the process.
	SLOConcurrency int `yaml:"slo_concurrency"`
	// ProxyCallbackTimeout bounds the GET to a pgtUrl.
	ProxyCallbackTimeout time.Duration `yaml:"proxy_callback_timeout"`
	// LogoutRedirect: a logout with a registered service= goes straight
	// back to it (CAS 3.0 "may redirect"). Off, the person lands on the
	// logged-out page, which links back to the service: they see that the
	// logout happened before the site shows its own login again.
	LogoutRedirect bool `yaml:"logout_redirect"`
	// CleanupInterval is how often RunJanitor deletes expired tickets.
	CleanupInterval time.Duration `yaml:"cleanup_interval"`
	// Services is the registry: only these may receive tickets.
	Services []Service `yaml:"services"`
}

// Service is one registered CAS client application.
type Service struct {
	// ID is a short stable identifier used in logs (e.g. "library").
	ID string `yaml:"id"`
	// Name is shown to users.
	Name string `yaml:"name"`
	// Match says how URL is compared with a service URL: exact, prefix or regex.
	// Service URLs are first normalised (RFC 3986: scheme and host
	// lower-case, default port removed, encodings normalised, dot segments
	// removed; see normalizeServiceURL), and the ticket only ever goes to the
	// normalised URL. exact and prefix compare the normalised URLs (url is
	// normalised too) without the fragment, with the query URL-decoded and
	// without regard to case (as Apereo compares services); a prefix ends on
	// a path-segment boundary: https://h/app covers /app, /app/... and
	// /app?..., not /appx. regex must match the whole normalised URL
	// (fragment removed), case-insensitively.
	Match string `yaml:"match"`
	// URL is the pattern.
	URL string `yaml:"url"`
	// Attributes lists the principal attributes released to this service.
	Attributes []string `yaml:"attributes"`
	// AttributesOnServiceValidate also releases attributes on the CAS 2.0
	// endpoints (/serviceValidate, /proxyValidate); /p3/* always carry them.
	AttributesOnServiceValidate bool `yaml:"attributes_on_service_validate"`
	// LogoutType is back_channel (default: SAML LogoutRequest POSTed on
	// logout) or none.
	LogoutType string `yaml:"logout_type"`
	// LogoutURL receives the back-channel logout; empty means the service URL
	// the ticket was issued for.
	LogoutURL string `yaml:"logout_url"`
	// Internal marks a service of wxcas's own (the OpenID provider's
	// continuation): its tickets are redeemed only in-process
	// (Server.RedeemTicket), never issued over REST nor validated at the
	// validation endpoints. Not settable in config.yaml.
	Internal bool `yaml:"-"`
	// AllowProxy lets this service obtain proxy-granting tickets (pgtUrl).
	AllowProxy bool `yaml:"allow_proxy"`
	// ProxyCallbackPattern restricts the pgtUrl (a regex matched against the
	// whole URL, case-insensitively). A pgtUrl it matches may be on any
	// address, private and loopback ones included: the operator chose it.
	// Empty allows any https URL on a public address only (see
	// proxycallback.go); check-config requires a pattern for allow_proxy
	// outside the sandbox (ValidateOutsideSandbox).
	ProxyCallbackPattern string `yaml:"proxy_callback_pattern"`
	// PrincipalAttribute, when set, makes <cas:user> (and the CAS 1.0 user
	// line) for this service the first value of this principal attribute
	// instead of the principal id, e.g. the directory "username" an Apereo
	// CAS delegating to wxcas already knows. A principal without a usable
	// value fails validation (INVALID_TICKET); the id is never sent instead.
	PrincipalAttribute string `yaml:"principal_attribute"`
}

// ErrPrincipalAttributeMissing: the principal has no usable value for the
// service's PrincipalAttribute.
var ErrPrincipalAttributeMissing = errors.New("cas: the principal has no value for the service's principal attribute")

// User returns the user name this service receives for p: p.ID, or the first
// value of PrincipalAttribute when the service sets one. The value must be
// 1-255 characters of text without control characters; otherwise User
// returns an error wrapping ErrPrincipalAttributeMissing rather than falling
// back to the id (an operator who asked for a username must not receive an
// internal id instead).
func (s Service) User(p Principal) (string, error) {
	if s.PrincipalAttribute == "" {
		return p.ID, nil
	}
	vals := p.Attributes[s.PrincipalAttribute]
	if len(vals) == 0 || !usableUser(vals[0]) {
		return "", fmt.Errorf("%w (%s)", ErrPrincipalAttributeMissing, s.PrincipalAttribute)
	}
	return vals[0], nil
}

// usableUser reports whether s can be a <cas:user>.
func usableUser(s string) bool { return s != "" && len(s) <= 255 && ValidText(s) }

// Matcher finds the registered service for a service URL exactly as the
// server's /cas/login does: configuration order, first match wins, and
// malformed URLs never match. Packages that send users to services
// themselves (the Apereo token hand-off) use it to apply the same allow-list.
type Matcher struct{ reg *registry }

// NewMatcher compiles a service list (normally Config.Services, already
// validated).
func NewMatcher(services []Service) (*Matcher, error) {
	reg, err := newRegistry(services)
	if err != nil {
		return nil, err
	}
	return &Matcher{reg: reg}, nil
}

// Match returns the registered service for serviceURL (a service parameter
// exactly as given).
func (m *Matcher) Match(serviceURL string) (Service, bool) {
	svc, _, ok := m.Resolve(serviceURL)
	return svc, ok
}

// Resolve is Match that also returns the normalised service URL, the only
// form that should be redirected to (see the registry's normalisation):
// "" and false when the URL is malformed or not registered.
func (m *Matcher) Resolve(serviceURL string) (Service, string, bool) {
	if svc, norm, _ := m.reg.lookup(serviceURL); svc != nil {
		return svc.Service, norm, true
	}
	return Service{}, "", false
}

// Match kinds and logout types.
const (
	MatchExact  = "exact"
	MatchPrefix = "prefix"
	MatchRegex  = "regex"

	LogoutBackChannel = "back_channel"
	LogoutNone        = "none"
)

// DefaultConfig returns Apereo-compatible defaults and an empty registry.
func DefaultConfig() Config {
	return Config{
		ServiceTicketTTL:     10 * time.Second,
		ProxyTicketTTL:       10 * time.Second,
		TGTMaxLifetime:       8 * time.Hour,
		TGTIdleTimeout:       2 * time.Hour,
		CookieName:           "TGC",
		SLOTimeout:           5 * time.Second,
		SLOConcurrency:       8,
		ProxyCallbackTimeout: 5 * time.Second,
		CleanupInterval:      time.Minute,
	}
}

var (
	serviceIDPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	cookieNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// attrNamePattern keeps released attribute names valid XML element names
	// (they become <cas:name>) and valid HTTP header suffixes for mod_auth_cas.
	attrNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)
)

// reservedAttributes are the protocol's own children of <cas:attributes>.
var reservedAttributes = map[string]bool{
	"authenticationDate":                     true,
	"longTermAuthenticationRequestTokenUsed": true,
	"isFromNewLogin":                         true,
}

// Validate returns every problem in the section, each prefixed with its key
// path (cas.services[1].url: ...).
func (c Config) Validate() []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if c.ServiceTicketTTL < time.Second || c.ServiceTicketTTL > 5*time.Minute {
		add("cas.service_ticket_ttl: %v must be between 1s and 5m (the protocol recommends at most 5 minutes)", c.ServiceTicketTTL)
	}
	if c.ProxyTicketTTL < time.Second || c.ProxyTicketTTL > 5*time.Minute {
		add("cas.proxy_ticket_ttl: %v must be between 1s and 5m", c.ProxyTicketTTL)
	}
	if c.TGTMaxLifetime <= 0 {
		add("cas.tgt_max_lifetime: must be positive")
	}
	if c.TGTIdleTimeout <= 0 {
		add("cas.tgt_idle_timeout: must be positive")
	} else if c.TGTMaxLifetime > 0 && c.TGTIdleTimeout > c.TGTMaxLifetime {
		add("cas.tgt_idle_timeout: %v exceeds cas.tgt_max_lifetime %v", c.TGTIdleTimeout, c.TGTMaxLifetime)
	}
	if !cookieNamePattern.MatchString(c.CookieName) {
		add("cas.cookie_name: %q must be 1-64 characters of A-Z a-z 0-9 _ -", c.CookieName)
	}
	if c.SLOTimeout <= 0 || c.SLOTimeout > time.Minute {
		add("cas.slo_timeout: %v must be between 0 and 1m", c.SLOTimeout)
	}
	if c.SLOConcurrency < 1 || c.SLOConcurrency > 256 {
		add("cas.slo_concurrency: %d must be between 1 and 256", c.SLOConcurrency)
	}
	if c.ProxyCallbackTimeout <= 0 || c.ProxyCallbackTimeout > time.Minute {
		add("cas.proxy_callback_timeout: %v must be between 0 and 1m", c.ProxyCallbackTimeout)
	}
	if c.CleanupInterval <= 0 {
		add("cas.cleanup_interval: must be positive")
	}

	ids := map[string]int{}
	for i, s := range c.Services {
		key := fmt.Sprintf("cas.services[%d]", i)
		switch {
		case s.ID == "":
			add("%s.id: required", key)
		case !serviceIDPattern.MatchString(s.ID):
			add("%s.id: %q must be 1-64 characters of A-Z a-z 0-9 _ . - (starting with a letter or digit)", key, s.ID)
		default:
			if j, dup := ids[s.ID]; dup {
				add("%s.id: %q duplicates cas.services[%d].id", key, s.ID, j)
			} else {
				ids[s.ID] = i
			}
		}
		switch s.Match {
		case MatchExact, MatchPrefix:
			if s.URL == "" {
				add("%s.url: required", key)
			} else if msg := checkServiceURL(s.URL); msg != "" {
				add("%s.url: %q %s", key, s.URL, msg)
			} else if s.Match == MatchPrefix {
				if u, _ := url.Parse(s.URL); u.Path == "" {
					add("%s.url: prefix %q must include the path (at least the \"/\" after the host), or it also matches other hosts", key, s.URL)
				}
			}
		case MatchRegex:
			if s.URL == "" {
				add("%s.url: required", key)
			} else if _, err := compileServiceRegex(s.URL); err != nil {
				add("%s.url: invalid regex: %v", key, err)
			}
		case "":
			add("%s.match: required (exact, prefix or regex)", key)
		default:
			add("%s.match: %q must be exact, prefix or regex", key, s.Match)
		}
		seen := map[string]bool{}
		for j, a := range s.Attributes {
			akey := fmt.Sprintf("%s.attributes[%d]", key, j)
			switch {
			case !attrNamePattern.MatchString(a):
				add("%s: %q is not a valid attribute name (letters, digits, _ . -, starting with a letter or _)", akey, a)
			case reservedAttributes[a]:
				add("%s: %q is a protocol attribute, always sent on /p3/*", akey, a)
			case seen[a]:
				add("%s: %q is listed twice", akey, a)
			}
			seen[a] = true
		}
		switch s.LogoutType {
		case "", LogoutBackChannel:
			if s.LogoutURL != "" {
				if msg := checkServiceURL(s.LogoutURL); msg != "" {
					add("%s.logout_url: %q %s", key, s.LogoutURL, msg)
				}
			}
		case LogoutNone:
			if s.LogoutURL != "" {
				add("%s.logout_url: set, but logout_type is none", key)
			}
		default:
			add("%s.logout_type: %q must be back_channel or none (front-channel logout is not supported)", key, s.LogoutType)
		}
		if a := s.PrincipalAttribute; a != "" {
			switch {
			case !attrNamePattern.MatchString(a):
				add("%s.principal_attribute: %q is not a valid attribute name (letters, digits, _ . -, starting with a letter or _)", key, a)
			case reservedAttributes[a]:
				add("%s.principal_attribute: %q is a protocol attribute, not a principal attribute", key, a)
			}
		}
		if s.ProxyCallbackPattern != "" {
			if !s.AllowProxy {
				add("%s.proxy_callback_pattern: set, but allow_proxy is false", key)
			}
			if _, err := compileServiceRegex(s.ProxyCallbackPattern); err != nil {
				add("%s.proxy_callback_pattern: invalid regex: %v", key, err)
			}
		}
	}
	return p
}

// ValidateOutsideSandbox returns the problems that only count in
// production: an allow_proxy service without proxy_callback_pattern would
// send proxy-granting tickets to any public https URL a client names.
func (c Config) ValidateOutsideSandbox() []string {
	var p []string
	for i, s := range c.Services {
		if s.AllowProxy && s.ProxyCallbackPattern == "" {
			p = append(p, fmt.Sprintf("cas.services[%d].proxy_callback_pattern: required with allow_proxy outside the sandbox "+
				"(a regex for the service's own pgtUrl, e.g. https://app\\.example\\.edu/cas/proxy-callback); "+
				"without it proxy-granting tickets go to any public https URL a client names", i))
		}
	}
	return p
}

// checkServiceURL returns why s cannot be a service URL, or "": the
// registry's normalisation (normalizeServiceURL) must accept it, and a
// registered URL has no fragment.
func checkServiceURL(s string) string {
	if _, err := normalizeServiceURL(s); err != nil {
		return err.Error()
	}
	if strings.Contains(s, "#") {
		return "must not have a fragment"
	}
	return ""
}

// compileServiceRegex anchors the pattern and makes it case-insensitive, as
// Apereo's RegexRegisteredService does.
func compileServiceRegex(pattern string) (*regexp.Regexp, error) {
	return regexp.Compile(`(?i)^(?:` + pattern + `)$`)
}
