package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOIDCProblems: what check-config says about the oidc section.
func TestOIDCProblems(t *testing.T) {
	prodEnv := map[string]string{"DSN": "wxcas:pw@tcp(db:3306)/wxcas", "KEY": strings.Repeat("k", 40), "TC_KEY": "x",
		"WEB_SECRET": strings.Repeat("w", 40)}
	client := func(fields string) string { return "oidc:\n  enabled: true\n  clients:\n    - {" + fields + "}\n" }
	web := "id: site, type: web, secret: '${WEB_SECRET}', redirect_uris: ['https://site.example/cb']"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"valid", client(web), nil},
		{"needs cas.mode server", "cas: {mode: apereo-token}\n" + client(web),
			[]string{"oidc.enabled: needs cas.mode: server"}},
		{"secret written in the file", client("id: site, type: web, secret: " + strings.Repeat("w", 40) + ", redirect_uris: ['https://site.example/cb']"),
			[]string{"oidc.clients[0].secret: must come from the environment"}},
		{"native app with a secret", client("id: app, type: native, secret: '${WEB_SECRET}', redirect_uris: ['com.example.app:/cb']"),
			[]string{"oidc.clients[0].secret: a native app cannot keep a secret"}},
		{"native scheme without a dot", client("id: app, type: native, redirect_uris: ['myapp:/cb']"),
			[]string{`oidc.clients[0].redirect_uris[0]: "myapp:/cb" must be https, a private-use scheme with a dot`}},
		{"http redirect in production", client("id: site, type: web, secret: '${WEB_SECRET}', redirect_uris: ['http://site.example/cb']"),
			[]string{`oidc.clients[0].redirect_uris[0]: "http://site.example/cb" must be https`}},
		{"redirect with a fragment", client("id: site, type: web, secret: '${WEB_SECRET}', redirect_uris: ['https://site.example/cb#x']"),
			[]string{"must be an absolute URI without a fragment"}},
		{"bad client id", client("id: 'a b', type: native, redirect_uris: ['com.example.app:/cb']"),
			[]string{`oidc.clients[0].id: "a b" must be 1-59 characters`}},
		{"implicit grant", client(web + ", grants: [authorization_code, implicit], scopes: [openid]"),
			[]string{`oidc.clients[0].grants: "implicit" is not offered`}},
		{"offline access without refresh", client(web + ", grants: [authorization_code], scopes: [openid, offline_access]"),
			[]string{"oidc.clients[0].scopes: offline_access needs the refresh_token grant"}},
		{"backend not first party", client("id: mp, type: backend, secret: '${WEB_SECRET}'"),
			[]string{"oidc.clients[0].first_party: a backend client logs people in only through the challenge endpoint"}},
		{"reserved claim", client(web + ", claims: [userId, sub]"),
			[]string{`oidc.clients[0].claims: "sub" is a registered JWT claim`}},
		{"publish ahead too long", "oidc: {enabled: true, key_rotation: 2h, key_publish_ahead: 2h, clients: [{" + web + "}]}\n",
			[]string{"oidc.key_publish_ahead: 2h0m0s must be positive and at most half of oidc.key_rotation"}},
		{"code lives too long", "oidc: {enabled: true, code_ttl: 20m, clients: [{" + web + "}]}\n",
			[]string{"oidc.code_ttl: 20m0s must be between 10s and 10m"}},
		{"no clients", "oidc: {enabled: true}\n", []string{"oidc.clients: at least one client is needed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(validProd+appsYAML+tc.yaml), env(prodEnv))
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			var p Problems
			require.ErrorAs(t, err, &p)
			var oidcProblems []string
			for _, line := range p {
				if strings.HasPrefix(line, "oidc.") {
					oidcProblems = append(oidcProblems, line)
				}
			}
			require.Len(t, oidcProblems, len(tc.want), "got:\n%s", p)
			for i, w := range tc.want {
				require.Contains(t, oidcProblems[i], w)
			}
		})
	}
}
