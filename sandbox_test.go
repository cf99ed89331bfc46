package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/config"
	"wxcas/logx"
	"wxcas/otp"
	"wxcas/wechat/emulator"
)

// listen opens a loopback listener and returns it with its base URL.
func listen(t testing.TB) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln, "http://" + ln.Addr().String()
}

// runApp assembles wxcas from a config body, as `go run .` does, serves it on
// ln until the test ends, and returns it. now is its clock (nil: real time).
func runApp(t testing.TB, ln net.Listener, body string, now func() time.Time) *app {
	t.Helper()
	return runAppWith(t, ln, body, appTest{now: now})
}

// appTest is what a test may change in an app that runApp assembles.
type appTest struct {
	now func() time.Time // the clock (nil: real time)
	log io.Writer        // the log, in the config's format and level (nil: discarded)
	// backChannel trusts the test's own https servers for the CAS
	// back-channel calls (pgtUrl callbacks, single logout).
	backChannel *tls.Config
}

func runAppWith(t testing.TB, ln net.Listener, body string, o appTest) *app {
	t.Helper()
	if o.now == nil {
		o.now = time.Now
	}
	cfg, err := config.Load(writeConfig(t, body))
	require.NoError(t, err)
	logger := logx.Discard()
	if o.log != nil {
		logger, err = logx.New(o.log, cfg.Log.Format, cfg.Log.Level)
		require.NoError(t, err)
	}
	a, err := newAppWithClock(context.Background(), cfg, logger, o.now, withBackChannelTLS(o.backChannel))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.web.Run(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() { cancel(); <-done; a.db.Close() })
	return a
}

// startSandbox runs a sandbox with a website app, a mini program and the demo site.
func startSandbox(t *testing.T) (*app, string) {
	t.Helper()
	ln, base := listen(t)
	body := "server:\n  listen: " + ln.Addr().String() + "\n  public_url: " + base + "\ndatabase:\n  sqlite_path: " +
		filepath.Join(t.TempDir(), "wxcas.db") + "\nsandbox: {enabled: true}\nwechat:\n  apps:\n" +
		"    - {appid: wxa1b2c3d4e5f60001, kind: website, secret: s1}\n" +
		"    - {appid: wxa1b2c3d4e5f60003, kind: mini_program, secret: s3}\nlogin: {website_appid: wxa1b2c3d4e5f60001}\n" +
		"cas: {services: [{id: demo, name: Demo, match: prefix, url: '" + base + "/sandbox/app/'}]}\n"
	return runApp(t, ln, body, nil), base
}

// sandboxSMSCode reads the newest code sent to phone from the sandbox inbox.
func sandboxSMSCode(t testing.TB, base, phone string) string {
	t.Helper()
	codes := sandboxInbox(t, base, phone)
	require.NotEmpty(t, codes, "an SMS reached the sandbox inbox")
	return codes[0]
}

// sandboxInbox returns the codes sent to phone, newest first.
func sandboxInbox(t testing.TB, base, phone string) []string {
	t.Helper()
	resp, err := http.Get(base + "/sandbox/sms?phone=" + url.QueryEscape(phone))
	require.NoError(t, err)
	defer resp.Body.Close()
	var inbox struct{ Messages []struct{ Code string } }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&inbox))
	codes := make([]string, len(inbox.Messages))
	for i, m := range inbox.Messages {
		codes[i] = m.Code
	}
	return codes
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}

func TestSandboxScriptedScan(t *testing.T) {
	a, base := startSandbox(t)
	ctx := context.Background()

	// A script "scans" by adding sandbox_user to the QR connect URL.
	auth, err := a.wechat.QRConnectURL("wxa1b2c3d4e5f60001", base+"/wechat/callback", "st4te", "")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(auth, base+"/sandbox/wechat/connect/qrconnect?"), auth)
	u, _ := url.Parse(auth)
	q := u.Query()
	q.Set("sandbox_user", "alice")
	u.RawQuery, u.Fragment = q.Encode(), ""
	resp, err := noRedirect.Get(u.String())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "/wechat/callback", loc.Path)
	require.Equal(t, "st4te", loc.Query().Get("state"))

	// The server side exchanges the code through the mounted emulator.
	tok, err := a.wechat.ExchangeCode(ctx, "wxa1b2c3d4e5f60001", loc.Query().Get("code"))
	require.NoError(t, err)
	require.NotEmpty(t, tok.OpenID)
	require.NotEmpty(t, tok.UnionID)
	_, err = a.wechat.ExchangeCode(ctx, "wxa1b2c3d4e5f60001", loc.Query().Get("code"))
	require.Error(t, err, "a code is single-use")

	// The same person in the mini program: same unionid, another openid.
	resp, err = http.PostForm(base+"/sandbox/wechat/_sandbox/code", url.Values{"appid": {"wxa1b2c3d4e5f60003"}, "sandbox_user": {"alice"}, "type": {"js"}})
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	var issued struct{ Code string }
	require.NoError(t, json.Unmarshal(raw, &issued), string(raw))
	sess, err := a.wechat.JSCode2Session(ctx, "wxa1b2c3d4e5f60003", issued.Code)
	require.NoError(t, err)
	require.Equal(t, tok.UnionID, sess.UnionID)
	require.NotEqual(t, tok.OpenID, sess.OpenID)
}

func TestSandboxPhonePageShowsBanner(t *testing.T) {
	a, base := startSandbox(t)
	auth, err := a.wechat.QRConnectURL("wxa1b2c3d4e5f60001", base+"/wechat/callback", "s", "")
	require.NoError(t, err)
	resp, err := noRedirect.Get(auth)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(page), emulator.Banner)
	require.Contains(t, string(page), "alice", "the tester picks a test user")
}

func TestSandboxSMSInbox(t *testing.T) {
	a, base := startSandbox(t)
	ctx := context.Background()
	phone, err := otp.ParsePhone("138 0013 8000", "CN")
	require.NoError(t, err)
	_, err = a.otp.Send(ctx, otp.SendRequest{Phone: phone, IP: "127.0.0.1", Purpose: "bind", Holder: "sandbox-test-login"})
	require.NoError(t, err)

	resp, err := http.Get(base + "/sandbox/sms?phone=" + url.QueryEscape(phone.String()))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var inbox struct {
		Messages []struct{ Code, Text string }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&inbox))
	require.Len(t, inbox.Messages, 1)
	code := inbox.Messages[0].Code
	require.Len(t, code, 6)
	require.Contains(t, inbox.Messages[0].Text, code)

	require.NoError(t, a.otp.Verify(ctx, otp.VerifyRequest{Phone: phone, Purpose: "bind", Code: code, Holder: "sandbox-test-login"}))
	require.Error(t, a.otp.Verify(ctx, otp.VerifyRequest{Phone: phone, Purpose: "bind", Code: code, Holder: "sandbox-test-login"}), "a code verifies once")
	_, err = a.otp.Send(ctx, otp.SendRequest{Phone: phone, IP: "127.0.0.1", Purpose: "bind", Holder: "sandbox-test-login"})
	require.ErrorIs(t, err, otp.ErrRateLimited, "the resend cooldown holds")
}

func TestSandboxMiniProgramAPI(t *testing.T) {
	_, base := startSandbox(t)
	post := func(path, body string, hdr ...string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	resp, err := http.PostForm(base+"/sandbox/wechat/_sandbox/code", url.Values{"appid": {"wxa1b2c3d4e5f60003"}, "sandbox_user": {"kim"}, "type": {"js"}})
	require.NoError(t, err)
	var issued struct{ Code string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&issued))
	resp.Body.Close()

	status, out := post("/api/v1/login/wechat", `{"appid":"wxa1b2c3d4e5f60003","code":"`+issued.Code+`"}`)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, "binding_required", out["status"])
	status, out = post("/api/v1/bind/sms/send", `{"bind_token":"`+out["bind_token"].(string)+`","phone":"13900139011"}`)
	require.Equal(t, http.StatusOK, status, "%v", out)
	status, out = post("/api/v1/bind/sms/verify", `{"bind_token":"`+out["bind_token"].(string)+`","code":"`+sandboxSMSCode(t, base, "+8613900139011")+`"}`)
	require.Equal(t, http.StatusOK, status, "%v", out)
	tgt := out["tgt"].(string)

	st, err := http.PostForm(base+"/cas/v1/tickets/"+tgt, url.Values{"service": {base + "/sandbox/app/"}})
	require.NoError(t, err)
	ticket, _ := io.ReadAll(st.Body)
	st.Body.Close()
	require.Equal(t, http.StatusOK, st.StatusCode, string(ticket))
	v, err := http.Get(base + "/cas/p3/serviceValidate?service=" + url.QueryEscape(base+"/sandbox/app/") + "&ticket=" + string(ticket))
	require.NoError(t, err)
	xml, _ := io.ReadAll(v.Body)
	v.Body.Close()
	require.Contains(t, string(xml), "<cas:user>"+out["user_id"].(string)+"</cas:user>")

	status, out = post("/api/v1/login/wechat", `{"appid":"wxa1b2c3d4e5f60003","code":"x","openid":"forged"}`, "Accept-Language", "en")
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "invalid_request", out["error"].(map[string]any)["code"], "a client never names its own openid")
}
