package cas

import (
	"net/url"
	"regexp"
	"strings"
)

// registry is the compiled service list; lookups go in configuration order
// and the first match wins.
type registry struct {
	services []*registered
}

type registered struct {
	Service
	norm    string         // normalised pattern for exact and prefix
	re      *regexp.Regexp // regex
	proxyRE *regexp.Regexp // ProxyCallbackPattern, nil when unrestricted
}

func newRegistry(services []Service) (*registry, error) {
	r := &registry{}
	for _, s := range services {
		rs := &registered{Service: s}
		if rs.Name == "" {
			rs.Name = rs.ID
		}
		switch s.Match {
		case MatchExact, MatchPrefix:
			rs.norm = normalizeService(s.URL)
		case MatchRegex:
			re, err := compileServiceRegex(s.URL)
			if err != nil {
				return nil, err
			}
			rs.re = re
		}
		if s.ProxyCallbackPattern != "" {
			re, err := compileServiceRegex(s.ProxyCallbackPattern)
			if err != nil {
				return nil, err
			}
			rs.proxyRE = re
		}
		r.services = append(r.services, rs)
	}
	return r, nil
}

// lookup returns the registered service for a service URL, or nil. Malformed
// URLs (not absolute http(s), user information, control characters) never
// match.
func (r *registry) lookup(serviceURL string) *registered {
	if _, err := parseServiceURL(serviceURL); err != nil {
		return nil
	}
	norm := normalizeService(serviceURL)
	raw := stripFragment(serviceURL)
	for _, s := range r.services {
		switch s.Match {
		case MatchExact:
			if norm == s.norm {
				return s
			}
		case MatchPrefix:
			if strings.HasPrefix(norm, s.norm) {
				return s
			}
		case MatchRegex:
			if s.re.MatchString(raw) {
				return s
			}
		}
	}
	return nil
}

// lookupPresented is lookup for a service presented at validation, which
// Apereo compares URL-decoded: a service sent encoded once too often still
// names its registered service.
func (r *registry) lookupPresented(serviceURL string) *registered {
	if svc := r.lookup(serviceURL); svc != nil {
		return svc
	}
	if d, err := url.QueryUnescape(serviceURL); err == nil && d != serviceURL {
		return r.lookup(d)
	}
	return nil
}

func (r *registry) byID(id string) *registered {
	for _, s := range r.services {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// sameService compares the service a ticket was issued for with the one
// presented at validation as Apereo's DefaultServiceMatchingStrategy does:
// fragment removed, URL-decoded, case-insensitive.
func sameService(a, b string) bool {
	return normalizeService(a) == normalizeService(b)
}

func normalizeService(s string) string {
	s = stripFragment(s)
	if d, err := url.QueryUnescape(s); err == nil {
		s = d
	}
	return strings.ToLower(s)
}

func stripFragment(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		return s[:i]
	}
	return s
}

// withTicket appends ticket=... to a service URL exactly as given, before any
// fragment, with ? or & as the URL needs.
func withTicket(service, ticket string) string {
	base, frag, hasFrag := strings.Cut(service, "#")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	out := base + sep + "ticket=" + url.QueryEscape(ticket)
	if hasFrag {
		out += "#" + frag
	}
	return out
}
