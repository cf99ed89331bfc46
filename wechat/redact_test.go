package wechat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/wechat"
	"wxcas/wechat/emulator"
)

// No error string ever contains the secret, the code or a token, whatever
// went wrong: WeChat errors (even an errmsg echoing them), malformed
// bodies, dropped connections, refused connections, timeouts.
func TestNoSecretsInErrors(t *testing.T) {
	e := newEnv(t)
	const accessToken = "ACCESS-tok/en+with=chars_0123456789"
	const refreshToken = "REFRESH-tok/en+with=chars_0123456789"
	const appToken = "APP-tok/en+with=chars_0123456789"
	code := e.code(web, "alice", "")
	jsCode, err := e.em.IssueJSCode(mini, "alice")
	require.NoError(t, err)
	phoneCode, err := e.em.IssuePhoneCode(mini, "alice")
	require.NoError(t, err)
	var secrets []string
	for _, a := range clientApps() {
		secrets = append(secrets, a.Secret)
	}
	secrets = append(secrets, code, jsCode, phoneCode, accessToken, refreshToken, appToken)

	type sensitiveCall struct {
		values []string // what this request carries
		run    func(c *wechat.Client, ctx context.Context) error
	}
	calls := map[string]sensitiveCall{
		"exchange": {[]string{code}, func(c *wechat.Client, ctx context.Context) error {
			_, err := c.ExchangeCode(ctx, web, code)
			return err
		}},
		"jscode2session": {[]string{jsCode}, func(c *wechat.Client, ctx context.Context) error {
			_, err := c.JSCode2Session(ctx, mini, jsCode)
			return err
		}},
		"userinfo": {[]string{accessToken}, func(c *wechat.Client, ctx context.Context) error {
			_, err := c.UserInfo(ctx, accessToken, "openid", "")
			return err
		}},
		"auth": {[]string{accessToken}, func(c *wechat.Client, ctx context.Context) error {
			return c.CheckToken(ctx, accessToken, "openid")
		}},
		"refresh": {[]string{refreshToken}, func(c *wechat.Client, ctx context.Context) error {
			_, err := c.RefreshToken(ctx, web, refreshToken)
			return err
		}},
		"token": {nil, func(c *wechat.Client, ctx context.Context) error {
			_, err := c.AppAccessToken(ctx, oa)
			return err
		}},
		"stable_token": {nil, func(c *wechat.Client, ctx context.Context) error {
			_, err := c.StableAccessToken(ctx, oa, true)
			return err
		}},
		"phone": {[]string{appToken, phoneCode}, func(c *wechat.Client, ctx context.Context) error {
			_, err := c.PhoneNumber(ctx, appToken, phoneCode)
			return err
		}},
	}
	paths := []string{emulator.PathAccessToken, emulator.PathJSCode2Session, emulator.PathUserInfo, emulator.PathAuth,
		emulator.PathRefreshToken, emulator.PathToken, emulator.PathStableToken, emulator.PathPhoneNumber}
	// An errmsg or body echoing what the request carried (and every app
	// secret), raw and URL-encoded.
	echo := func(values []string) string {
		var parts []string
		for _, a := range clientApps() {
			parts = append(parts, a.Secret, url.QueryEscape(a.Secret))
		}
		for _, v := range values {
			parts = append(parts, v, url.QueryEscape(v), "&v="+url.QueryEscape(v)+"&")
		}
		return "echo " + strings.Join(parts, " ")
	}
	faults := map[string]func(values []string) emulator.Fault{
		"busy":    func([]string) emulator.Fault { return emulator.FaultBusy },
		"echoing": func(v []string) emulator.Fault { return emulator.Fault{ErrCode: 40029, ErrMsg: echo(v)} },
		"echoing long": func(v []string) emulator.Fault {
			return emulator.Fault{ErrCode: 40029, ErrMsg: strings.Repeat(echo(v), 20)}
		},
		"garbage": func([]string) emulator.Fault { return emulator.FaultGarbage },
		"html":    func([]string) emulator.Fault { return emulator.FaultHTMLBody },
		"raw echo": func(v []string) emulator.Fault {
			return emulator.Fault{Raw: true, Status: 500, Body: []byte("<html>" + echo(v) + "</html>")}
		},
		"dropped conn": func([]string) emulator.Fault { return emulator.FaultDrop },
		"slow":         func([]string) emulator.Fault { return emulator.FaultDelay(2 * time.Second) },
	}

	check := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		for _, s := range []string{err.Error(), fmt.Sprintf("%v|%+v|%#v|%q", err, err, err, err)} {
			for _, sec := range secrets {
				require.NotContains(t, s, sec)
				require.NotContains(t, s, url.QueryEscape(sec))
				require.NotContains(t, s, sec[:len(sec)/2], "no partial secret either")
			}
			require.NotContains(t, s, "secret=")
			require.NotContains(t, s, "code=")
			require.NotContains(t, s, "access_token=")
			require.NotContains(t, s, "http://"+e.srv.Listener.Addr().String()+"/")
		}
	}

	for fname, f := range faults {
		for name, call := range calls {
			t.Run(fname+"/"+name, func(t *testing.T) {
				e.em.ClearFaults()
				t.Cleanup(e.em.ClearFaults)
				for _, p := range paths {
					for range 8 {
						e.em.InjectFault(p, f(call.values))
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				check(t, call.run(e.c, ctx))
			})
		}
	}

	// Nothing listening: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	c, err := wechat.New(wechat.Config{OpenBaseURL: dead, APIBaseURL: dead, Apps: clientApps(), RetryBackoff: time.Millisecond})
	require.NoError(t, err)
	for name, call := range calls {
		t.Run("refused/"+name, func(t *testing.T) { check(t, call.run(c, context.Background())) })
	}

	// A server that reads the request then hangs up.
	hangup := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	srv := &http.Server{Handler: hangup, ErrorLog: nil}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln2) }()
	t.Cleanup(func() { _ = srv.Close() })
	c2, err := wechat.New(wechat.Config{APIBaseURL: "http://" + ln2.Addr().String(), Apps: clientApps(), RetryBackoff: time.Millisecond})
	require.NoError(t, err)
	for name, call := range calls {
		t.Run("hangup/"+name, func(t *testing.T) { check(t, call.run(c2, context.Background())) })
	}
}

func TestValuesDoNotPrintSecrets(t *testing.T) {
	tok := wechat.Token{AppID: web, OpenID: "oOPEN", UnionID: "oUNION", Scope: "snsapi_login",
		AccessToken: "ACCESS-SECRET-VALUE", RefreshToken: "REFRESH-SECRET-VALUE"}
	sess := wechat.Session{AppID: mini, OpenID: "oOPEN", SessionKey: "SESSION-SECRET-VALUE"}
	at := wechat.AppToken{AppID: oa, AccessToken: "APP-SECRET-VALUE"}
	app := wechat.App{AppID: web, Secret: "APP-SECRET-KEY", Kind: wechat.KindWebsite}
	phone := wechat.PhoneInfo{PhoneNumber: "13912345678", PurePhoneNumber: "13912345678", CountryCode: "86"}

	var logBuf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logBuf, nil))
	logger.Info("x", "tok", tok, "sess", sess, "at", at, "phone", phone)
	logger.Info("y", "tokp", &tok, "app", app)
	var textBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&textBuf, nil)).Info("z", "tok", tok, "sess", sess, "at", at, "app", app)

	outputs := []string{logBuf.String(), textBuf.String()}
	for _, v := range []any{tok, &tok, sess, &sess, at, &at, app, &app, phone} {
		outputs = append(outputs, fmt.Sprintf("%v %+v %#v %s", v, v, v, v))
	}
	for _, out := range outputs {
		for _, sec := range []string{"ACCESS-SECRET-VALUE", "REFRESH-SECRET-VALUE", "SESSION-SECRET-VALUE", "APP-SECRET-VALUE", "APP-SECRET-KEY", "13912345678"} {
			require.NotContains(t, out, sec)
		}
	}
	require.Contains(t, tok.String(), "oOPEN")
	require.Contains(t, logBuf.String(), `"openid":"oOPEN"`)
	require.Contains(t, phone.String(), "PurePhoneNumber:139****5678", "the number is masked by logx.MaskPhone")
	require.Contains(t, logBuf.String(), `"phone":"139****5678"`)

	// Encoding to JSON on purpose (to store a token) still works.
	b, err := json.Marshal(tok)
	require.NoError(t, err)
	require.Contains(t, string(b), "ACCESS-SECRET-VALUE")
}
