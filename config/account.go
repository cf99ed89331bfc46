package config

import (
	"fmt"
	"strings"
)

// Account is the person's own account page (/account) and its JSON API.
type Account struct {
	// Enabled turns the page and the API on (default true). They need
	// cas.mode server: they sign in through wxcas's own SSO session.
	Enabled *bool `yaml:"enabled"`
}

// On reports whether the account page is served.
func (a Account) On() bool { return a.Enabled == nil || *a.Enabled }

// Admin is the operators' console (/admin).
type Admin struct {
	// Principals are the CAS principals (as services receive them: the
	// user id, or the directory's principal) allowed into the console.
	// Empty: the console is off.
	Principals []string `yaml:"principals"`
}

func (c *Config) validateAccountAdmin() Problems {
	var p Problems
	seen := map[string]bool{}
	for i, pr := range c.Admin.Principals {
		switch {
		case strings.TrimSpace(pr) == "" || strings.TrimSpace(pr) != pr:
			p = append(p, fmt.Sprintf("admin.principals[%d]: %q must be a principal id without surrounding spaces", i, pr))
		case seen[pr]:
			p = append(p, fmt.Sprintf("admin.principals[%d]: %q is listed twice", i, pr))
		}
		seen[pr] = true
	}
	if len(c.Admin.Principals) > 0 && c.CAS.Mode != "" && c.CAS.Mode != "server" {
		p = append(p, "admin.principals: the admin console signs in through wxcas's own CAS server; it needs cas.mode: server")
	}
	return p
}
