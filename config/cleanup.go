package config

import (
	"fmt"
	"time"

	"wxcas/cas"
)

// Cleanup schedules the deletion of what expired: CAS tickets and sessions,
// login flows, SMS codes and counters, API bind tokens, audit events past
// retention, WeChat accounts that never bound and users left without a
// binding. Every job deletes in small indexed batches, runs once at start-up
// and then every Interval; several instances running them is harmless.
type Cleanup struct {
	// Interval is how often every clean-up job runs.
	Interval time.Duration `yaml:"interval"`
	// UnboundAccountTTL: a WeChat account that no binding reaches and that
	// was last seen longer ago than this is forgotten.
	UnboundAccountTTL time.Duration `yaml:"unbound_account_ttl"`
	// OrphanUserGrace: a user of the built-in directory without a binding,
	// created longer ago than this, is deleted (a first login that created
	// the user but lost the binding race). Long enough for any login in
	// progress to finish binding.
	OrphanUserGrace time.Duration `yaml:"orphan_user_grace"`
}

func defaultCleanup() Cleanup {
	return Cleanup{Interval: time.Minute, UnboundAccountTTL: 30 * 24 * time.Hour, OrphanUserGrace: 24 * time.Hour}
}

func (c *Config) validateCleanup() Problems {
	var p Problems
	add := func(bad bool, format string, args ...any) {
		if bad {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}
	cl := c.Cleanup
	add(cl.Interval < time.Second || cl.Interval > 24*time.Hour, "cleanup.interval: %v must be between 1s and 24h", cl.Interval)
	add(cl.UnboundAccountTTL < time.Hour, "cleanup.unbound_account_ttl: %v must be at least 1h", cl.UnboundAccountTTL)
	// A user younger than a login (flow_ttl) may still be about to bind.
	add(cl.OrphanUserGrace < time.Hour || cl.OrphanUserGrace < 2*c.Login.FlowTTL,
		"cleanup.orphan_user_grace: %v must be at least 1h and twice login.flow_ttl", cl.OrphanUserGrace)
	// cas.cleanup_interval was the CAS janitor's own interval; one key now
	// schedules every job, and a file still setting the old one is told so
	// rather than silently ignored.
	add(c.CAS.CleanupInterval != cas.DefaultConfig().CleanupInterval,
		"cas.cleanup_interval: replaced by cleanup.interval (every clean-up job uses it); remove it")
	return p
}
