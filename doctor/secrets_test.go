package doctor_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/config"
	"wxcas/doctor"
)

func TestSecrets(t *testing.T) {
	const oidcClient = "oidc: {enabled: true, clients: [{id: portal, name: Portal, type: web, secret: '${OC}', redirect_uris: ['https://app.example.org/cb']}]}\n"
	tests := []struct {
		name   string
		env    map[string]string // changes to prodEnv
		extra  string
		status doctor.Status
		detail []string
		fix    string
	}{
		{"random key", nil, "", doctor.StatusPass, []string{"set from the environment", "at least 128 bits"}, ""},
		{"a word repeated", map[string]string{"K": "passwordpasswordpasswordpassword"}, "", doctor.StatusFail,
			[]string{"secrets.key is guessable: 32 characters"}, "WXCAS_SECRET_KEY"},
		{"one character", map[string]string{"K": strings.Repeat("a", 64)}, "", doctor.StatusFail,
			[]string{"secrets.key is guessable: 64 characters, about 0 bits"}, "openssl rand -base64 48"},
		{"random client secret", map[string]string{"OC": "Zk3v9Qx1Lm7Tb2Wn8Rc5Yp0Hs4Jd6Fg/Ae+KuOi"}, oidcClient, doctor.StatusPass, []string{"the 2 chosen by you"}, ""},
		{"weak client secret", map[string]string{"OC": "portal-portal-portal-portal-portal"}, oidcClient, doctor.StatusFail,
			[]string{"oidc.clients[0].secret is guessable"}, "give client portal the same"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := prodEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			cfg := prodConfig(t, "https://login.example.edu", "127.0.0.1:1", env, tt.extra)
			r := doctor.Secrets{Config: cfg}.Run(context.Background())
			require.Equal(t, tt.status, r.Status, r.Detail)
			for _, d := range tt.detail {
				require.Contains(t, r.Detail, d)
			}
			require.Contains(t, r.Fix, tt.fix)
			for _, v := range env {
				if len(v) > 8 {
					require.NotContains(t, r.Detail+r.Fix, v, "no secret in the output")
				}
			}
		})
	}

	t.Run("sandbox", func(t *testing.T) {
		cfg, err := config.Parse([]byte("sandbox: {enabled: true}\nwechat: {apps: [{appid: wxa1b2c3d4e5f60001, kind: website, secret: s}]}\nlogin: {website_appid: wxa1b2c3d4e5f60001}\n"),
			func(string) (string, bool) { return "", false })
		require.NoError(t, err)
		r := doctor.Secrets{Config: cfg}.Run(context.Background())
		require.Equal(t, doctor.StatusSkip, r.Status)
		require.Contains(t, r.Detail, "sandbox")
	})
}
