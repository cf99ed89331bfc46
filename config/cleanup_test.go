package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidateCleanup(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // "" = no cleanup problem
	}{
		{"defaults", func(*Config) {}, ""},
		{"interval too short", func(c *Config) { c.Cleanup.Interval = 0 }, "cleanup.interval: 0s must be between 1s and 24h"},
		{"ttl too short", func(c *Config) { c.Cleanup.UnboundAccountTTL = time.Minute }, "cleanup.unbound_account_ttl: 1m0s must be at least 1h"},
		{"grace shorter than two logins", func(c *Config) { c.Login.FlowTTL = 10 * time.Minute; c.Cleanup.OrphanUserGrace = 15 * time.Minute },
			"cleanup.orphan_user_grace: 15m0s must be at least 1h and twice login.flow_ttl"},
		{"the old CAS key", func(c *Config) { c.CAS.CleanupInterval = 5 * time.Minute }, "cas.cleanup_interval: replaced by cleanup.interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			tc.change(c)
			got := c.validateCleanup()
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			require.True(t, strings.HasPrefix(got[0], tc.want), "got %q", got[0])
		})
	}
}
