package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEmulatorURL: sandbox.emulator_url is the address `wxcas emulator`
// listens on and wxcas appends the emulator's paths to, so only a bare
// http(s) origin with a port is taken; like the sandbox, it stays on
// loopback unless WXCAS_ALLOW_SANDBOX=yes.
func TestEmulatorURL(t *testing.T) {
	tests := []struct {
		name, url, allow string
		enabled          bool
		want             string // the problem's beginning; "" for none
	}{
		{"absent", "", "", true, ""},
		{"loopback", "http://127.0.0.1:18081", "", true, ""},
		{"trailing slash", "http://localhost:18081/", "", true, ""},
		{"outside the sandbox", "http://127.0.0.1:18081", "", false, "sandbox.emulator_url: only used in the sandbox"},
		{"no port", "http://127.0.0.1", "", true, `sandbox.emulator_url: "http://127.0.0.1" must be`},
		{"a path", "http://127.0.0.1:18081/emu", "", true, "sandbox.emulator_url: \"http://127.0.0.1:18081/emu\" must be"},
		{"not a URL", "127.0.0.1:18081", "", true, "sandbox.emulator_url: \"127.0.0.1:18081\" must be"},
		{"exposed", "http://192.0.2.1:18081", "", true, "sandbox.emulator_url: the emulator (fake WeChat"},
		{"exposed, acknowledged", "http://192.0.2.1:18081", "yes", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := "server: {public_url: 'http://127.0.0.1:8080', listen: '127.0.0.1:8080'}\n" +
				"sandbox: {enabled: " + map[bool]string{true: "true", false: "false"}[tc.enabled] + ", emulator_url: '" + tc.url + "'}\n" + appsYAML
			cfg, err := Parse([]byte(raw), env(map[string]string{"WXCAS_ALLOW_SANDBOX": tc.allow}))
			if tc.want == "" {
				require.NoError(t, err)
				require.Equal(t, tc.url, cfg.Sandbox.EmulatorURL)
				return
			}
			var p Problems
			require.ErrorAs(t, err, &p)
			require.True(t, slices.ContainsFunc(p, func(text string) bool { return strings.HasPrefix(text, tc.want) }),
				"want %q among %q", tc.want, p)
		})
	}
}
