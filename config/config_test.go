package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// env is the environment of a test; the sandbox guard is acknowledged unless
// a test is about it (then it passes WXCAS_ALLOW_SANDBOX itself).
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if v, ok := m[k]; ok {
			return v, ok
		}
		if k == "WXCAS_ALLOW_SANDBOX" {
			return "yes", true
		}
		return "", false
	}
}

const validProd = `
server:
  listen: 0.0.0.0:9000
  public_url: https://login.example.edu
  trusted_proxies: [10.0.0.0/8]
database:
  driver: mysql
  dsn: ${DSN}
secrets:
  key: ${KEY}
` + prodSMS

func TestShippedConfigIsValid(t *testing.T) {
	cfg, err := Load("../config.yaml")
	require.NoError(t, err)
	require.True(t, cfg.Sandbox.Enabled, "the shipped file runs the sandbox")
	require.Equal(t, "sqlite", cfg.Database.Driver)
	require.Equal(t, "127.0.0.1:8080", cfg.Server.Listen)
	require.Equal(t, "http://127.0.0.1:8080", cfg.Server.PublicURL, "derived from the listen address")
	require.Equal(t, "http://127.0.0.1:8080/sandbox/app/", cfg.CAS.Services[0].URL, "the demo site follows public_url")
	require.Empty(t, cfg.Metrics.Listen, "the sandbox as shipped needs one port only")
}

func TestShippedConfigDocumentsEveryKey(t *testing.T) {
	raw, err := os.ReadFile("../config.yaml")
	require.NoError(t, err)
	lines := strings.Split(string(raw), "\n")
	itemIndent := -1 // fields of a list item are documented by the list's comment
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if strings.HasPrefix(trimmed, "- ") {
			itemIndent = indent + 2
			continue
		}
		if indent < itemIndent {
			itemIndent = -1
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasSuffix(trimmed, ":") || indent == itemIndent {
			continue // comments, section headers, list-item fields
		}
		// Every key with a value has its own comment right above it.
		require.True(t, i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#"),
			"config.yaml line %d %q has no comment above it", i+1, trimmed)
	}
}

func TestValidProduction(t *testing.T) {
	cfg, err := Parse([]byte(validProd+appsYAML), env(map[string]string{
		"DSN": "wxcas:pw@tcp(db:3306)/wxcas", "KEY": strings.Repeat("k", 40), "TC_KEY": "secret",
	}))
	require.NoError(t, err)
	require.Equal(t, "wxcas:pw@tcp(db:3306)/wxcas", cfg.Database.DSN)
	require.Equal(t, 15*time.Second, cfg.Server.ShutdownTimeout, "defaults fill what the file leaves out")
	require.True(t, cfg.FromEnv("secrets.key"))
	require.Equal(t, 300, cfg.Login.PerIP.Max, "logins per IP: high, for NAT")
	require.Equal(t, time.Minute, cfg.Login.PerIP.Window)

	cfg, err = Parse([]byte(validProd+loginApps+"login: {website_appid: wxa1b2c3d4e5f60001, per_ip: {max: 0}}\n"), env(map[string]string{
		"DSN": "wxcas:pw@tcp(db:3306)/wxcas", "KEY": strings.Repeat("k", 40), "TC_KEY": "secret",
	}))
	require.NoError(t, err, "max 0 turns the limit off and needs no window")
	require.Zero(t, cfg.Login.PerIP.Max)
}

func TestThreeMistakesAllReported(t *testing.T) {
	raw := `
server:
  listen: nonsense
  public_url: https://login.example.edu
log:
  format: xml
database:
  driver: postgres
sandbox:
  enabled: true
`
	_, err := Parse([]byte(raw+appsYAML), env(nil))
	var p Problems
	require.ErrorAs(t, err, &p)
	require.Len(t, p, 3, "got:\n%s", p)
	require.Contains(t, p[0], "server.listen")
	require.Contains(t, p[1], "log.format")
	require.Contains(t, p[2], "database.driver")
}

// appsYAML is the smallest valid wechat section; tests add it to documents
// that are about something else. Its secret comes from the environment (W).
const appsYAML = "\n" + loginApps + loginYAML

const loginYAML = "login: {website_appid: wxa1b2c3d4e5f60001}\n"

// loginApps is appsYAML without its login section, for tests of that section.
const loginApps = "wechat: {apps: [{appid: wxa1b2c3d4e5f60001, kind: website, secret: '${W:-s}'}]}\n"

const prodSMS = "sms: {provider: tencent, sign_name: 测试, tencent: {secret_id: AKID1, secret_key: '${TC_KEY}', sdk_app_id: '1400000000', template_id: '123'}}\n"

func TestProblems(t *testing.T) {
	key := strings.Repeat("k", 40)
	tcEnv := map[string]string{"TC_KEY": "x"}
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{"unknown keys named by path", "server:\n  listn: x\n  public_url: https://a.example\ndatabse: {}\nsandbox: {enabled: true}\n", nil,
			[]string{"server.listn: unknown key (line 2)", "databse: unknown key (line 4)"}},
		{"unknown key inside a list", "server:\n  public_url: https://a.example\n  trusted_proxies: [1.2.3.0/24]\nsandbox: {enabled: true, extra: 1}\n", nil,
			[]string{"sandbox.extra: unknown key"}},
		{"missing env var", "server:\n  public_url: ${NOPE}\nsandbox: {enabled: true}\n", nil,
			[]string{"server.public_url: environment variable NOPE is empty or not set"}},
		{"secret written in the file", "server: {public_url: 'https://a.example'}\nsecrets: {key: " + key + "}\n" + prodSMS, tcEnv,
			[]string{"secrets.key: must come from the environment"}},
		{"secret missing outside sandbox", "server: {public_url: 'https://a.example'}\n" + prodSMS, tcEnv,
			[]string{"secrets.key: required outside the sandbox"}},
		{"short secret", "server: {public_url: 'https://a.example'}\nsecrets: {key: '${K}'}\n" + prodSMS, map[string]string{"K": "short", "TC_KEY": "x"},
			[]string{"secrets.key: must be at least 32 characters"}},
		{"http public url in production", "server: {public_url: 'http://login.example.edu'}\nsecrets: {key: '${K}'}\n" + prodSMS, map[string]string{"K": key, "TC_KEY": "x"},
			[]string{"server.public_url: must be https outside the sandbox"}},
		{"public url with query", "server: {public_url: 'https://a.example/?x=1'}\nsandbox: {enabled: true}\n", nil,
			[]string{"server.public_url: \"https://a.example/?x=1\" must be an absolute http(s) URL"}},
		{"mysql without dsn", "server: {public_url: 'https://a.example'}\ndatabase: {driver: mysql}\nsandbox: {enabled: true}\n", nil,
			[]string{"database.dsn: required with driver mysql"}},
		{"password written in dsn", "server: {public_url: 'https://a.example'}\ndatabase: {driver: mysql, dsn: 'u:pw@tcp(h:3306)/d'}\nsandbox: {enabled: true}\n", nil,
			[]string{"database.dsn: contains a password"}},
		{"dsn that is not one", "server: {public_url: 'https://a.example'}\ndatabase: {driver: mysql, dsn: 'u:pw@tcp(h:3306'}\nsandbox: {enabled: true}\n", nil,
			[]string{"database.dsn: not a MySQL DSN"}},
		{"bad cidr and durations", "server: {public_url: 'https://a.example', trusted_proxies: [bogus], shutdown_timeout: -1s}\nsandbox: {enabled: true}\n", nil,
			[]string{"server.trusted_proxies[0]: \"bogus\" is not a CIDR prefix", "server.shutdown_timeout: must be positive"}},
		{"wrong type", "server: {public_url: 'https://a.example', shutdown_timeout: soon}\nsandbox: {enabled: true}\n", nil,
			[]string{`server.shutdown_timeout: expected a duration (such as 30s, 5m or 8h), got "soon" (line 1)`}},
		{"sqlite directory not writable", "server: {public_url: 'https://a.example'}\ndatabase: {sqlite_path: /proc/wxcas/x.db}\nsandbox: {enabled: true}\n", nil,
			[]string{"database.sqlite_path: cannot create directory /proc/wxcas: /proc is not writable"}},
		{"not yaml", "server: [\n", nil, []string{"config is not valid YAML"}},
		{"an unquoted variable inside { }", "sandbox: {enabled: true}\ndatabase: {driver: mysql, dsn: ${DSN}}\n", nil, []string{"line 2 has ${...} inside { }: quote it"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml+appsYAML), env(tc.env))
			var p Problems
			require.ErrorAs(t, err, &p)
			require.Len(t, p, len(tc.want), "got:\n%s", p)
			for i, w := range tc.want {
				require.Contains(t, p[i], w)
			}
		})
	}
}

// The colon of host:port is not a password (it used to be taken for one).
func TestDSNWithoutPasswordMayBeWritten(t *testing.T) {
	cfg, err := Parse([]byte("server: {public_url: 'https://a.example'}\ndatabase: {driver: mysql, dsn: 'root@tcp(127.0.0.1:3306)/d'}\nsandbox: {enabled: true}\n"+appsYAML), env(nil))
	require.NoError(t, err)
	require.Equal(t, "root@tcp(127.0.0.1:3306)/d", cfg.Database.DSN)
}

func TestEnvExpansion(t *testing.T) {
	raw := "server:\n  listen: ${HOST}:${PORT}\n  public_url: ${URL:-http://127.0.0.1:8080}\n  shutdown_timeout: ${GRACE}\nsandbox:\n  enabled: ${SANDBOX}\n"
	cfg, err := Parse([]byte(raw+appsYAML), env(map[string]string{"HOST": "0.0.0.0", "PORT": "81", "GRACE": "3s", "SANDBOX": "true"}))
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:81", cfg.Server.Listen)
	require.Equal(t, "http://127.0.0.1:8080", cfg.Server.PublicURL, "default applies when unset")
	require.Equal(t, 3*time.Second, cfg.Server.ShutdownTimeout, "expanded text resolves to the field's type")
	require.True(t, cfg.Sandbox.Enabled)

	// An expanded value can never change the document's structure.
	cfg, err = Parse([]byte("server:\n  public_url: ${URL}\n  listen: 127.0.0.1:1\nsandbox: {enabled: true}\n"),
		env(map[string]string{"URL": "https://a.example\nlisten: 0.0.0.0:1"}))
	require.Error(t, err, "a newline in a value stays inside the value")
	require.Nil(t, cfg)
}

func TestListenOverride(t *testing.T) {
	cfg, err := Parse([]byte("server: {public_url: 'http://127.0.0.1:8080'}\nsandbox: {enabled: true}\n"+appsYAML),
		env(map[string]string{"WXCAS_LISTEN": "127.0.0.1:9999", "WXCAS_ALLOW_SANDBOX": ""}))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9999", cfg.Server.Listen)
	_, err = Parse([]byte("server: {public_url: 'http://127.0.0.1:8080'}\nsandbox: {enabled: true}\n"+appsYAML),
		env(map[string]string{"WXCAS_LISTEN": "0.0.0.0:8080", "WXCAS_ALLOW_SANDBOX": ""}))
	require.ErrorContains(t, err, "sandbox.enabled", "the override is validated like the file")
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorContains(t, err, "does not exist")
	dir := t.TempDir()
	_, err = Load(dir)
	require.ErrorContains(t, err, "cannot read config file")
}

func TestFeatureProblems(t *testing.T) {
	sandbox := "server: {public_url: 'http://127.0.0.1:8080'}\nsandbox: {enabled: true}\n"
	prod := "server: {public_url: 'https://login.example.edu'}\nsecrets: {key: '${K}'}\n"
	envs := map[string]string{"K": strings.Repeat("k", 40), "TC_KEY": "x", "WS": "websecret"}
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"bad apps", sandbox + "wechat: {apps: [{appid: nope, kind: website, secret: s}, {appid: wxa1b2c3d4e5f60001, kind: tv, secret: ''}, {appid: wxa1b2c3d4e5f60001, kind: website, secret: s}]}\n" + loginYAML,
			[]string{"wechat.apps[0].appid: \"nope\" is not a WeChat appid", "wechat.apps[1].kind: \"tv\"", "wechat.apps[1].secret: required", "wechat.apps[2].appid: wxa1b2c3d4e5f60001 is listed twice"}},
		{"no apps", sandbox + "wechat: {apps: []}\n" + loginYAML, []string{"wechat.apps: at least one WeChat app is required", "login.website_appid: wxa1b2c3d4e5f60001 is not a website app"}},
		{"app secret written in the file", prod + prodSMS + "wechat: {apps: [{appid: wxa1b2c3d4e5f60001, kind: website, secret: literal}]}\n" + loginYAML,
			[]string{"wechat.apps[0].secret: must come from the environment"}},
		{"console sms in production", prod + "wechat: {apps: [{appid: wxa1b2c3d4e5f60001, kind: website, secret: '${WS}'}]}\n" + loginYAML,
			[]string{"sms.provider: console only prints codes to the log"}},
		{"tencent incomplete", sandbox + appsYAML + "sms: {provider: tencent, tencent: {secret_key: literal, endpoint: 'http://x', template_params: [code, name]}}\n",
			// File order: keys left out sort with their section.
			[]string{"sms.sign_name: required", "sms.tencent.secret_id: required", "sms.tencent.sdk_app_id: required", "sms.tencent.template_id: required",
				"sms.tencent.secret_key: must come from the environment", "sms.tencent.endpoint: host[:port] only", "sms.tencent.template_params[1]: \"name\""}},
		{"otp limits", sandbox + appsYAML + "otp: {digits: 2, per_phone_hour: 50, per_phone_day: 10, default_region: China}\n",
			[]string{"otp.digits: must be between 4 and 10", "otp.per_phone_hour: 50 is larger than per_phone_day (10)", "otp.default_region: \"China\""}},
		{"otp challenge and regions", sandbox + appsYAML + "otp: {allowed_regions: [CN, XX], challenge: {enabled: true, difficulty: 10, ttl: 1s, ip_hour: -1}}\n",
			[]string{"otp.allowed_regions: \"XX\"", "otp.challenge: thresholds must not be negative", "otp.challenge.difficulty: 10 must be between 1000 and 1000000", "otp.challenge.ttl: 1s must be between 1m and 1h"}},
		{"unknown sms provider", sandbox + appsYAML + "sms: {provider: carrier-pigeon}\n", []string{"sms.provider: \"carrier-pigeon\""}},
		{"login per ip negative", sandbox + loginApps + "login: {website_appid: wxa1b2c3d4e5f60001, per_ip: {max: -1, window: 1m}}\n",
			[]string{"login.per_ip.max: -1 must not be negative (0 turns the limit off)"}},
		{"login per ip without a window", sandbox + loginApps + "login: {website_appid: wxa1b2c3d4e5f60001, per_ip: {max: 10, window: 0s}}\n",
			[]string{"login.per_ip.window: 0s must be between 1s and 24h"}},
		{"login per ip window too long", sandbox + loginApps + "login: {website_appid: wxa1b2c3d4e5f60001, per_ip: {max: 10, window: 48h}}\n",
			[]string{"login.per_ip.window: 48h0m0s must be between 1s and 24h"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), env(envs))
			var p Problems
			require.ErrorAs(t, err, &p)
			require.Len(t, p, len(tc.want), "got:\n%s", p)
			for i, w := range tc.want {
				require.Contains(t, p[i], w)
			}
		})
	}
}

func TestSandboxOnlyOnLoopbackUnlessAcknowledged(t *testing.T) {
	tests := []struct {
		name, publicURL, listen, allow string
		ok                             bool
	}{
		{"local sandbox", "http://127.0.0.1:8080", "127.0.0.1:8080", "", true},
		{"localhost", "http://localhost:8080", "[::1]:8080", "", true},
		{"exposed public url", "https://login.example.edu", "127.0.0.1:8080", "", false},
		{"listening on every interface", "http://127.0.0.1:8080", "0.0.0.0:8080", "", false},
		{"acknowledged shared demo", "https://demo.example.edu", "0.0.0.0:8080", "yes", true},
		{"acknowledgement must be exact", "https://demo.example.edu", "0.0.0.0:8080", "true", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := "server: {public_url: '" + tc.publicURL + "', listen: '" + tc.listen + "'}\nsandbox: {enabled: true}\n" + appsYAML
			_, err := Parse([]byte(raw), env(map[string]string{"WXCAS_ALLOW_SANDBOX": tc.allow}))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "sandbox.enabled: the sandbox")
		})
	}
}
