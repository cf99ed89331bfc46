package doctor_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/config"
)

// The apps of prodYAML, as the emulator and the tests name them.
const (
	webApp      = "wxa1b2c3d4e5f60001"
	oaApp       = "wxa1b2c3d4e5f60002"
	miniApp     = "wxa1b2c3d4e5f60003"
	mobileApp   = "wxa1b2c3d4e5f60004"
	servedApp   = "wxa1b2c3d4e5f60005" // an Official Account served through platform campus
	componentID = "wxa1b2c3d4e5f60009"
)

// prodYAML is a deployment outside the sandbox with one app of each kind,
// a third-party platform and Tencent SMS; PUBLIC, DIR and SMSHOST are
// replaced, every secret comes from the environment (prodEnv).
const prodYAML = `server: {public_url: 'PUBLIC', listen: '127.0.0.1:8080'}
secrets: {key: '${K}'}
sandbox: {enabled: false}
database: {sqlite_path: 'DIR/wxcas.db'}
wechat:
  apps:
    - {appid: wxa1b2c3d4e5f60001, kind: website, secret: '${WEB}'}
    - {appid: wxa1b2c3d4e5f60002, kind: official_account, secret: '${OA}'}
    - {appid: wxa1b2c3d4e5f60003, kind: mini_program, secret: '${MP}'}
    - {appid: wxa1b2c3d4e5f60004, kind: mobile_app, secret: '${APP}'}
    - {appid: wxa1b2c3d4e5f60005, kind: official_account, via_platform: campus}
  platforms:
    - {id: campus, component_appid: wxa1b2c3d4e5f60009, secret: '${PS}', token: '${PT}', encoding_aes_key: '${PK}'}
sms:
  provider: tencent
  sign_name: wxcas
  tencent: {secret_id: '${TC_ID}', secret_key: '${TC_KEY}', sdk_app_id: '1400000000', template_id: '100001', endpoint: 'SMSHOST'}
login: {website_appid: wxa1b2c3d4e5f60001, official_account_appid: wxa1b2c3d4e5f60002}
cas: {services: [{id: site, name: Site, match: prefix, url: 'https://app.example.org/'}]}
`

// prodEnv holds the secrets of prodYAML; the key is 48 random bytes in
// base64, as docs/doctor.md tells operators to make it.
func prodEnv() map[string]string {
	return map[string]string{
		"K":   "q7Xr0m3vJ2kLwP9sTt4yBz8cN1fHd6gAeU5iVoYxRjQ+Mn/KlS0aW2bC7DuEhFpG",
		"WEB": "web-secret", "OA": "oa-secret", "MP": "mp-secret", "APP": "app-secret",
		"PS": "platform-secret", "PT": "token123", "PK": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
		"TC_ID": "AKIDwxcasfake0000000000000000000000", "TC_KEY": "wxcasfakesecretkey00000000000000",
	}
}

// prodConfig parses prodYAML (plus extra) as config.Load would.
func prodConfig(t *testing.T, publicURL, smsHost string, env map[string]string, extra string) *config.Config {
	t.Helper()
	raw := strings.NewReplacer("PUBLIC", publicURL, "DIR", filepath.ToSlash(t.TempDir()), "SMSHOST", smsHost).Replace(prodYAML) + extra
	cfg, err := config.Parse([]byte(raw), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	return cfg
}

// sandboxConfig is a sandbox with prodYAML's website app (and its secret).
func sandboxConfig(t *testing.T) *config.Config {
	t.Helper()
	raw := "server: {listen: '127.0.0.1:8080'}\nsandbox: {enabled: true}\ndatabase: {sqlite_path: '" + filepath.ToSlash(t.TempDir()) + "/wxcas.db'}\n" +
		"wechat: {apps: [{appid: " + webApp + ", kind: website, secret: " + prodEnv()["WEB"] + "}]}\nlogin: {website_appid: " + webApp + "}\n"
	cfg, err := config.Parse([]byte(raw), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	return cfg
}
