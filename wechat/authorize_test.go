package wechat_test

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/wechat"
)

func newOfflineClient(t *testing.T) *wechat.Client {
	t.Helper()
	c, err := wechat.New(wechat.Config{Apps: clientApps()})
	require.NoError(t, err)
	return c
}

func TestQRConnectURL(t *testing.T) {
	c := newOfflineClient(t)
	u, err := c.QRConnectURL(web, "https://cas.example.org/cb?service=https://app.example.org/a b&x=1", "abc123", "")
	require.NoError(t, err)
	require.Equal(t, "https://open.weixin.qq.com/connect/qrconnect?appid="+web+
		"&redirect_uri=https%3A%2F%2Fcas.example.org%2Fcb%3Fservice%3Dhttps%3A%2F%2Fapp.example.org%2Fa+b%26x%3D1"+
		"&response_type=code&scope=snsapi_login&state=abc123#wechat_redirect", u)

	// The encoded redirect_uri decodes back to the original.
	parsed, err := url.Parse(u)
	require.NoError(t, err)
	require.Equal(t, "https://cas.example.org/cb?service=https://app.example.org/a b&x=1", parsed.Query().Get("redirect_uri"))
	require.Equal(t, "wechat_redirect", parsed.Fragment)

	u, err = c.QRConnectURL(web, "https://cas.example.org/cb", "abc", "en")
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(u, "&state=abc&lang=en#wechat_redirect"), u)
}

func TestOAuthURL(t *testing.T) {
	c := newOfflineClient(t)
	u, err := c.OAuthURL(oa, "http://m.example.org/wx/cb", wechat.ScopeBase, "S1", false)
	require.NoError(t, err)
	require.Equal(t, "https://open.weixin.qq.com/connect/oauth2/authorize?appid="+oa+
		"&redirect_uri=http%3A%2F%2Fm.example.org%2Fwx%2Fcb&response_type=code&scope=snsapi_base&state=S1#wechat_redirect", u)
	u, err = c.OAuthURL(oa, "http://m.example.org/wx/cb", wechat.ScopeUserInfo, "S1", true)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(u, "&scope=snsapi_userinfo&state=S1&forcePopup=true#wechat_redirect"), u)
}

func TestAuthorizeURLValidation(t *testing.T) {
	c := newOfflineClient(t)
	long := strings.Repeat("a", 129)
	tests := []struct {
		name string
		fn   func() error
		kind wechat.ErrorKind
	}{
		{"qr unknown app", func() error { _, err := c.QRConnectURL("wxnope", "https://a/b", "s", ""); return err }, wechat.ErrUnknownApp},
		{"qr with OA app", func() error { _, err := c.QRConnectURL(oa, "https://a/b", "s", ""); return err }, wechat.ErrWrongAppKind},
		{"oa with website app", func() error {
			_, err := c.OAuthURL(web, "https://a/b", wechat.ScopeBase, "s", false)
			return err
		}, wechat.ErrWrongAppKind},
		{"oa with snsapi_login", func() error {
			_, err := c.OAuthURL(oa, "https://a/b", wechat.ScopeLogin, "s", false)
			return err
		}, wechat.ErrInvalidArgument},
		{"relative redirect", func() error { _, err := c.QRConnectURL(web, "/cb", "s", ""); return err }, wechat.ErrInvalidArgument},
		{"javascript redirect", func() error { _, err := c.QRConnectURL(web, "javascript:alert(1)", "s", ""); return err }, wechat.ErrInvalidArgument},
		{"redirect with fragment", func() error { _, err := c.QRConnectURL(web, "https://a/b#x", "s", ""); return err }, wechat.ErrInvalidArgument},
		{"empty state", func() error { _, err := c.QRConnectURL(web, "https://a/b", "", ""); return err }, wechat.ErrInvalidArgument},
		{"long state", func() error { _, err := c.QRConnectURL(web, "https://a/b", long, ""); return err }, wechat.ErrInvalidArgument},
		{"state with symbols", func() error {
			_, err := c.OAuthURL(oa, "https://a/b", wechat.ScopeBase, "a&b=c", false)
			return err
		}, wechat.ErrInvalidArgument},
		{"bad lang", func() error { _, err := c.QRConnectURL(web, "https://a/b", "s", "fr"); return err }, wechat.ErrInvalidArgument},
		{"wxlogin without container", func() error { _, err := c.WxLogin(web, "", "https://a/b", "s"); return err }, wechat.ErrInvalidArgument},
		{"wxlogin with mini program", func() error { _, err := c.WxLogin(mini, "x", "https://a/b", "s"); return err }, wechat.ErrWrongAppKind},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { requireKind(t, tt.fn(), tt.kind, 0) })
	}
	_, err := c.QRConnectURL(web, "https://a/b", strings.Repeat("Z9", 64), "")
	require.NoError(t, err, "128 characters is allowed")
}

func TestWxLoginOptions(t *testing.T) {
	c := newOfflineClient(t)
	o, err := c.WxLogin(web, "login_container", "https://cas.example.org/cb?x=1&y=2", "st8")
	require.NoError(t, err)
	require.Equal(t, "https%3A%2F%2Fcas.example.org%2Fcb%3Fx%3D1%26y%3D2", o.RedirectURI)
	b, err := json.Marshal(o)
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"login_container","appid":"`+web+`","scope":"snsapi_login",
		"redirect_uri":"https%3A%2F%2Fcas.example.org%2Fcb%3Fx%3D1%26y%3D2","state":"st8","self_redirect":false}`, string(b))

	o.SelfRedirect, o.Style, o.Href, o.Lang, o.StyleLite, o.DisableFastLogin =
		true, "white", "data:text/css;base64,LmltcHb3dFFyY29kZSB7d2lkdGg6IDIwMHB4O30=", "en", true, true
	b, err = json.Marshal(o)
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"login_container","appid":"`+web+`","scope":"snsapi_login",
		"redirect_uri":"https%3A%2F%2Fcas.example.org%2Fcb%3Fx%3D1%26y%3D2","state":"st8","self_redirect":true,
		"style":"white","href":"data:text/css;base64,LmltcHb3dFFyY29kZSB7d2lkdGg6IDIwMHB4O30=","lang":"en",
		"stylelite":1,"fast_login":0}`, string(b))

	// In a page template the options become the object literal.
	tpl := template.Must(template.New("p").Parse(`<script>new WxLogin({{.}});</script>`))
	var buf bytes.Buffer
	require.NoError(t, tpl.Execute(&buf, o))
	out := buf.String()
	require.True(t, strings.HasPrefix(out, `<script>new WxLogin({"id":"login_container",`), out)
	require.Contains(t, out, `"redirect_uri":"https%3A%2F%2Fcas.example.org%2Fcb%3Fx%3D1%26y%3D2"`)
	require.Contains(t, out, `"fast_login":0`)

	// The iframe URL the script would build, on the configured host.
	iframe := c.WxLoginIframeURL(o)
	require.Equal(t, "https://open.weixin.qq.com/connect/qrconnect?appid="+web+"&scope=snsapi_login"+
		"&redirect_uri=https%3A%2F%2Fcas.example.org%2Fcb%3Fx%3D1%26y%3D2&state=st8&login_type=jssdk&self_redirect=true"+
		"&style=white&href=data%3Atext%2Fcss%3Bbase64%2CLmltcHb3dFFyY29kZSB7d2lkdGg6IDIwMHB4O30%3D&lang=en&stylelite=1&fast_login=0", iframe)
	pu, err := url.Parse(iframe)
	require.NoError(t, err)
	require.Equal(t, "https://cas.example.org/cb?x=1&y=2", pu.Query().Get("redirect_uri"))
}

func TestParseCallback(t *testing.T) {
	code, state, err := wechat.ParseCallback(url.Values{"code": {"C0DE"}, "state": {"st"}})
	require.NoError(t, err)
	require.Equal(t, "C0DE", code)
	require.Equal(t, "st", state)

	_, state, err = wechat.ParseCallback(url.Values{"state": {"st"}})
	requireKind(t, err, wechat.ErrAccessDenied, 0)
	require.Equal(t, "st", state)
}

func TestNewValidation(t *testing.T) {
	_, err := wechat.New(wechat.Config{})
	require.ErrorContains(t, err, "no apps")

	_, err = wechat.New(wechat.Config{
		OpenBaseURL: "ftp://x", APIBaseURL: "https://api.example.org/?q=1",
		Apps: []wechat.App{
			{AppID: "a", Secret: "", Kind: wechat.KindWebsite},
			{AppID: "a", Secret: "s", Kind: "tv"},
			{AppID: "", Secret: "s", Kind: wechat.KindWebsite},
		},
	})
	require.Error(t, err)
	for _, want := range []string{"OpenBaseURL", "APIBaseURL", "app a: empty secret", `unknown kind "tv"`, "listed twice", "apps[2]: empty appid"} {
		require.ErrorContains(t, err, want)
	}
	require.NotContains(t, err.Error(), "\"s\"")

	c, err := wechat.New(wechat.Config{OpenBaseURL: "http://127.0.0.1:8080/sandbox/wechat/", Apps: clientApps()})
	require.NoError(t, err)
	u, err := c.QRConnectURL(web, "https://a/b", "s", "")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(u, "http://127.0.0.1:8080/sandbox/wechat/connect/qrconnect?"), u)
	a, ok := c.App(web)
	require.True(t, ok)
	require.Equal(t, wechat.KindWebsite, a.Kind)
	require.NotContains(t, a.String(), a.Secret)
}

func TestErrorKindSentinels(t *testing.T) {
	for k := wechat.ErrUnexpected; k <= wechat.ErrTransport; k++ {
		require.NotContains(t, k.String(), "ErrorKind(", "kind %d has a name", int(k))
		err := error(&wechat.Error{Op: "x", Kind: k})
		require.ErrorIs(t, err, k)
		for j := wechat.ErrUnexpected; j <= wechat.ErrTransport; j++ {
			if j != k {
				require.NotErrorIs(t, err, j)
			}
		}
	}
}
