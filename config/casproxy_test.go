package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestProxyCallbackPatternRequiredOutsideSandbox: check-config refuses an
// allow_proxy service without proxy_callback_pattern in production (its
// callbacks could go to any public https URL), and lets the sandbox be.
func TestProxyCallbackPatternRequiredOutsideSandbox(t *testing.T) {
	prodEnv := map[string]string{"DSN": "wxcas:pw@tcp(db:3306)/wxcas", "KEY": strings.Repeat("k", 40), "TC_KEY": "secret"}
	const sandbox = "server: {public_url: 'http://127.0.0.1:8080'}\nsandbox: {enabled: true}\n"
	const pattern = `, proxy_callback_pattern: 'https://portal\.example\.edu/proxy-callback'`
	for _, tc := range []struct {
		name, yaml, extra string
		env               map[string]string
		want              string // "" for no problem
	}{
		{"production without pattern", validProd, "", prodEnv,
			"cas.services[0].proxy_callback_pattern: required with allow_proxy outside the sandbox"},
		{"production with pattern", validProd, pattern, prodEnv, ""},
		{"sandbox without pattern", sandbox, "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := "cas:\n  services:\n    - {id: portal, match: prefix, url: 'https://portal.example.edu/', allow_proxy: true" + tc.extra + "}\n"
			_, err := Parse([]byte(tc.yaml+svc+appsYAML), env(tc.env))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			var p Problems
			require.ErrorAs(t, err, &p)
			require.Len(t, p, 1, "got:\n%s", p)
			require.Contains(t, p[0], tc.want)
		})
	}
}
