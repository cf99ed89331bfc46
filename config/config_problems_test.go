package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProblemsInFileOrder: one run reports every kind of problem — unset
// variables, unknown keys, mistyped values and refused values — in the order
// of the file, and none of them hides another.
func TestProblemsInFileOrder(t *testing.T) {
	const apps = "wechat: {apps: [{appid: wxa1b2c3d4e5f60001, kind: website, secret: '${W:-s}'}]}\nlogin: {website_appid: wxa1b2c3d4e5f60001}\n"
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{"one of each kind", `server:
  listen: nonsense
  public_url: ${WXCAS_TEST_UNSET}
  shutdown_timeout: soon
  listn: 127.0.0.1:80
log:
  format: xml
database:
  driver: mysql
  max_open_conns: many
  startup_retry: ${RETRY}
sandbox: {enabled: false}
` + apps, map[string]string{"RETRY": "later-s3cret"}, []string{
			`server.listen: "nonsense" is not host:port (line 2)`,
			`server.public_url: environment variable WXCAS_TEST_UNSET is empty or not set (line 3)`,
			`server.shutdown_timeout: expected a duration (such as 30s, 5m or 8h), got "soon" (line 4)`,
			`server.listn: unknown key (line 5)`,
			`log.format: "xml" must be text or json (line 7)`,
			// Left out of the file: sorted with its section.
			`database.dsn: required with driver mysql (e.g. ${WXCAS_MYSQL_DSN})`,
			`database.max_open_conns: expected a whole number, got "many" (line 10)`,
			`database.startup_retry: expected a duration (such as 30s, 5m or 8h), got "${RETRY}" (the expanded value is not shown) (line 11)`,
			// No line in the file at all: last, in Validate's order.
			`secrets.key: required outside the sandbox; set it from the environment: key: ${WXCAS_SECRET_KEY}`,
			`sms.provider: console only prints codes to the log; use tencent outside the sandbox`,
		}},
		{"an unknown key hides no value error", "log: {format: xml, colour: true}\nsandbox: {enabled: true}\nserver: {public_url: 'http://127.0.0.1:8080', listen: nonsense}\n" + apps, nil, []string{
			`log.format: "xml" must be text or json (line 1)`,
			`log.colour: unknown key (line 1)`,
			`server.listen: "nonsense" is not host:port (line 3)`,
		}},
		{"an unset variable hides no value error", "otp: {digits: 2}\nserver:\n  public_url: ${NOPE}\nsandbox: {enabled: true}\n" + apps, nil, []string{
			`otp.digits: must be between 4 and 10 (got 2) (line 1)`,
			`server.public_url: environment variable NOPE is empty or not set (line 3)`,
		}},
		{"mistyped sections, lists and switches", "server: {public_url: 'http://127.0.0.1:8080', trusted_proxies: 10.0.0.0/8}\nsandbox: {enabled: true}\naudit: [1]\n" +
			"wechat: {apps: [{appid: wxa1b2c3d4e5f60001, kind: website, secret: s}]}\nlogin: {website_appid: wxa1b2c3d4e5f60001, official_account_unionid: maybe}\n", nil, []string{
			`server.trusted_proxies: expected a list, got "10.0.0.0/8" (line 1)`,
			`audit: expected a mapping of keys to values, got a list (line 3)`,
			`login.official_account_unionid: expected true or false, got "maybe" (line 5)`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), env(tc.env))
			var p Problems
			require.ErrorAs(t, err, &p)
			require.Equal(t, tc.want, []string(p))
			for _, v := range tc.env {
				require.NotContains(t, p.Error(), v, "an expanded value may be a secret")
			}
		})
	}
}

// TestEmptyIsNotAbsent: a value that expands to nothing is empty (for
// metrics.listen: off), while a key left out keeps its default.
func TestEmptyIsNotAbsent(t *testing.T) {
	const base = "server: {public_url: 'http://127.0.0.1:8080'}\nsandbox: {enabled: true}\n" + appsYAML
	tests := []struct {
		name, yaml  string
		env         map[string]string
		wantMetrics string
		wantRetry   time.Duration
	}{
		{"left out: default port", "", nil, "127.0.0.1:9464", 60 * time.Second},
		{"explicit empty string: off", "metrics: {listen: ''}\n", nil, "", 60 * time.Second},
		{"empty expansion: off", "metrics:\n  listen: ${WXCAS_METRICS_LISTEN:-}\n", nil, "", 60 * time.Second},
		{"variable set", "metrics:\n  listen: ${WXCAS_METRICS_LISTEN:-}\n", map[string]string{"WXCAS_METRICS_LISTEN": "127.0.0.1:9999"}, "127.0.0.1:9999", 60 * time.Second},
		{"empty expansion of a duration keeps the default", "database:\n  startup_retry: ${RETRY:-}\n", nil, "127.0.0.1:9464", 60 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(base+tc.yaml), env(tc.env))
			require.NoError(t, err)
			require.Equal(t, tc.wantMetrics, cfg.Metrics.Listen)
			require.Equal(t, tc.wantRetry, cfg.Database.StartupRetry)
		})
	}
}

// TestSandboxFollowsListen: WXCAS_LISTEN alone moves the sandbox; public_url
// and relative service urls follow it unless set explicitly.
func TestSandboxFollowsListen(t *testing.T) {
	services := "cas: {services: [{id: demo, name: Demo, match: prefix, url: /sandbox/app/}, {id: re, name: Re, match: regex, url: '/x.*'}]}\n"
	tests := []struct {
		name, yaml, listen string
		allow              string
		wantPublic         string
		wantService        string
		wantErr            string
	}{
		{"derived from listen", "sandbox: {enabled: true}\n", "127.0.0.1:8081", "", "http://127.0.0.1:8081", "http://127.0.0.1:8081/sandbox/app/", ""},
		{"file's listen", "server: {listen: 'localhost:9000'}\nsandbox: {enabled: true}\n", "", "", "http://localhost:9000", "http://localhost:9000/sandbox/app/", ""},
		{"explicit public url wins", "server: {public_url: 'http://127.0.0.1:8080/sso/'}\nsandbox: {enabled: true}\n", "127.0.0.1:8081", "", "http://127.0.0.1:8080/sso/", "http://127.0.0.1:8080/sso/sandbox/app/", ""},
		{"a shared demo must name its url", "sandbox: {enabled: true}\n", "0.0.0.0:8081", "yes", "", "", "server.public_url: required"},
		{"never derived outside the sandbox", "sandbox: {enabled: false}\n", "127.0.0.1:8081", "", "", "", "server.public_url: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{"WXCAS_ALLOW_SANDBOX": tc.allow}
			if tc.listen != "" {
				e["WXCAS_LISTEN"] = tc.listen
			}
			cfg, err := Parse([]byte(tc.yaml+services+appsYAML), env(e))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantPublic, cfg.Server.PublicURL)
			require.Equal(t, tc.wantService, cfg.CAS.Services[0].URL)
			require.Equal(t, "/x.*", cfg.CAS.Services[1].URL, "a regex is a pattern, not a URL")
		})
	}
}

// TestInsecurePublicURL: http outside the sandbox is refused for every host,
// loopback included, unless explicitly allowed.
func TestInsecurePublicURL(t *testing.T) {
	tests := []struct {
		name, publicURL, allow string
		ok                     bool
	}{
		{"https", "https://login.example.edu", "", true},
		{"http, public host", "http://login.example.edu", "", false},
		{"http, loopback address", "http://127.0.0.1:8080", "", false},
		{"http, localhost", "http://localhost:8080", "", false},
		{"http, explicitly allowed", "http://127.0.0.1:8080", "allow_insecure_public_url: true, ", true},
	}
	envs := map[string]string{"K": strings.Repeat("k", 40), "TC_KEY": "x"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := "server: {" + tc.allow + "public_url: '" + tc.publicURL + "'}\nsecrets: {key: '${K}'}\n" + prodSMS + appsYAML
			_, err := Parse([]byte(raw), env(envs))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "server.public_url: must be https outside the sandbox")
		})
	}
}
