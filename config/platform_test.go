package config

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOfficialAccountsAndPlatforms: several Official Accounts, the unionid
// account, entry accounts per service and third-party platforms are
// checked together, every problem by its key path.
func TestOfficialAccountsAndPlatforms(t *testing.T) {
	const head = "server: {public_url: 'https://cas.example.org', listen: '127.0.0.1:8080'}\nsecrets: {key: '${K}'}\nsandbox: {enabled: false}\n" +
		"sms: {provider: tencent, sign_name: x, tencent: {secret_id: id, secret_key: '${SK}', sdk_app_id: '1400000000', template_id: '1'}}\n" +
		"cas: {services: [{id: site, match: prefix, url: 'https://app.example.org/'}]}\n"
	goodEnv := map[string]string{
		"K": "0123456789abcdef0123456789abcdef-production", "SK": "sk", "OA": "oa-secret", "PS": "platform-secret", "PT": "token123",
		"PK": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
	}
	const apps = `wechat:
  apps:
    - {appid: wxa1b2c3d4e5f60002, kind: official_account, secret: '${OA}'}
    - {appid: wxa1b2c3d4e5f60005, kind: official_account, via_platform: campus}
  platforms:
    - {id: campus, component_appid: wxa1b2c3d4e5f60009, secret: '${PS}', token: '${PT}', encoding_aes_key: '${PK}'}
`
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{"valid", apps + "login: {official_account_appid: wxa1b2c3d4e5f60005, unionid_official_account: wxa1b2c3d4e5f60002, entry_accounts: {site: wxa1b2c3d4e5f60005}}\n", goodEnv, nil},
		{"the older spelling of the unionid account", apps + "login: {official_account_appid: wxa1b2c3d4e5f60002, official_account_unionid: true}\n", goodEnv, nil},
		{"a platform-served app needs its platform and no secret", `wechat:
  apps:
    - {appid: wxa1b2c3d4e5f60005, kind: official_account, via_platform: nowhere, secret: s}
    - {appid: wxa1b2c3d4e5f60006, kind: mini_program, via_platform: campus}
  platforms:
    - {id: campus, component_appid: wxa1b2c3d4e5f60009, secret: '${PS}', token: '${PT}', encoding_aes_key: '${PK}'}
login: {official_account_appid: wxa1b2c3d4e5f60005}
`, goodEnv, []string{
			`wechat.apps[0].via_platform: "nowhere" is not a platform in wechat.platforms`,
			`wechat.apps[0].secret: an app served through a platform has no secret of its own (remove it)`,
			`wechat.apps[1].via_platform: only an official_account can be served through a platform`,
		}},
		{"platform settings", `wechat:
  apps:
    - {appid: wxa1b2c3d4e5f60005, kind: official_account, via_platform: campus}
  platforms:
    - {id: campus, component_appid: wxa1b2c3d4e5f60009, secret: literal, token: 'a b', encoding_aes_key: short}
    - {id: Campus Two, component_appid: nope, secret: '', token: '', encoding_aes_key: ''}
login: {official_account_appid: wxa1b2c3d4e5f60005}
`, goodEnv, []string{
			`wechat.platforms[0].secret: must come from the environment (e.g. ${WXCAS_PLATFORM_SECRET})`,
			`wechat.platforms[0].token: must come from the environment (e.g. ${WXCAS_PLATFORM_TOKEN})`,
			`wechat.platforms[0].encoding_aes_key: must come from the environment (e.g. ${WXCAS_PLATFORM_ENCODING_AES_KEY})`,
			`wechat.platforms[0].token: must be 3-32 letters and digits, as set on the platform`,
			`wechat.platforms[0].encoding_aes_key: must be the platform's 43-character EncodingAESKey`,
			`wechat.platforms[1].id: "Campus Two" must be 1-32 lower-case letters, digits, - or _ (it is part of the event URL)`,
			`wechat.platforms[1].component_appid: "nope" is not a WeChat appid`,
			`wechat.platforms[1].secret: required`,
			`wechat.platforms[1].token: required`,
			`wechat.platforms[1].encoding_aes_key: required`,
			`wechat.platforms[1]: no app in wechat.apps is served through platform Campus Two (via_platform: Campus Two)`,
		}},
		{"the unionid and entry accounts must be Official Accounts of the file, for known services", apps +
			"  \nlogin: {official_account_appid: wxa1b2c3d4e5f60001, unionid_official_account: wxa1b2c3d4e5f60007, entry_accounts: {site: wxa1b2c3d4e5f60008, nosuch: wxa1b2c3d4e5f60002}}\n", goodEnv, []string{
			`login.official_account_appid: wxa1b2c3d4e5f60001 is not an official_account app in wechat.apps`,
			`login.unionid_official_account: wxa1b2c3d4e5f60007 is not an official_account app in wechat.apps`,
			`login.entry_accounts.nosuch: no such service in cas.services (or oidc.<client> in oidc.clients)`,
			`login.entry_accounts.site: wxa1b2c3d4e5f60008 is not an official_account app in wechat.apps`,
		}},
		{"two spellings that disagree", apps + "login: {official_account_appid: wxa1b2c3d4e5f60005, official_account_unionid: true, unionid_official_account: wxa1b2c3d4e5f60002}\n", goodEnv, []string{
			`login.official_account_unionid: true names official_account_appid as the unionid account, but unionid_official_account names wxa1b2c3d4e5f60002; keep only unionid_official_account`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(head+tc.yaml), env(tc.env))
			if tc.want == nil {
				require.NoError(t, err)
				require.Equal(t, "wxa1b2c3d4e5f60002", cfg.Login.UnionIDAccount())
				return
			}
			var p Problems
			require.ErrorAs(t, err, &p)
			got := make([]string, len(p))
			for i, s := range p {
				got[i] = lineSuffix.ReplaceAllString(s, "")
			}
			require.ElementsMatch(t, tc.want, got)
			require.NotContains(t, p.Error(), "platform-secret")
		})
	}
}

var lineSuffix = regexp.MustCompile(` \(line \d+\)$`)
