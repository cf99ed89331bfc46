package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/config"
	"wxcas/logx"
)

// startEmulatorCommand runs `wxcas emulator` in this process from a config
// body until the test ends and returns its base URL and its log. The body's
// sandbox.emulator_url may name port 0.
func startEmulatorCommand(t *testing.T, body string) (string, *logx.Buffer) {
	t.Helper()
	cfg, err := config.Load(writeConfig(t, body))
	require.NoError(t, err)
	logs := &logx.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	listening, done := make(chan string, 1), make(chan int, 1)
	go func() { done <- runEmulator(ctx, cfg, logs, listening) }()
	var addr string
	select {
	case addr = <-listening:
	case code := <-done:
		cancel()
		t.Fatalf("wxcas emulator exited with %d: %s", code, logs.String())
	}
	t.Cleanup(func() {
		cancel()
		require.Equal(t, exitOK, <-done, logs.String())
	})
	return "http://" + addr, logs
}

// emulatorPairConfig is the configuration of a wxcas on listen and of its
// emulator: one file for both, as `wxcas emulator -config` reads wxcas's.
func emulatorPairConfig(listen, dir, emulatorURL string) string {
	return "server: {listen: " + listen + ", public_url: 'http://" + listen + "'}\n" +
		"log: {level: debug}\n" +
		"database: {sqlite_path: " + filepath.Join(dir, "wxcas.db") + "}\n" +
		"sandbox: {enabled: true, emulator_url: '" + emulatorURL + "'}\n" +
		"wechat: {apps: [{appid: wxa1b2c3d4e5f60001, kind: website, secret: emulator-test-secret}]}\n" +
		"sms: {sign_name: 模拟}\n" +
		"cas: {services: [{id: site, name: Site, match: prefix, url: 'https://site.example.edu/app/'}]}\n" +
		"login: {website_appid: wxa1b2c3d4e5f60001}\n"
}

// TestEmulatorCommandServesASandbox: a wxcas whose sandbox.emulator_url
// names a running `wxcas emulator` logs people in through it (the QR code,
// the code exchange, the user info) and sends its SMS to that process's
// inbox, with no emulator of its own; the emulator still checks what
// WeChat checks, with the secrets it read from the same configuration.
func TestEmulatorCommandServesASandbox(t *testing.T) {
	ln, base := listen(t)
	dir := t.TempDir()
	emBase, emLog := startEmulatorCommand(t, emulatorPairConfig(ln.Addr().String(), dir, "http://127.0.0.1:0"))
	var wxLog logx.Buffer
	a := runAppWith(t, ln, emulatorPairConfig(ln.Addr().String(), dir, emBase), appTest{log: &wxLog})
	require.Nil(t, a.emulator, "no emulator inside wxcas")
	env := &flowEnv{t: t, a: a, base: base, service: "https://site.example.edu/app/"}

	// First login: the QR code is the other process's page.
	b := env.browser("")
	qr := b.start()
	m := iframeSrc.FindStringSubmatch(qr.body)
	require.NotNil(t, m, qr.body)
	require.True(t, strings.HasPrefix(html.UnescapeString(m[1]), emBase+"/sandbox/wechat/connect/qrconnect?"), m[1])
	bind := b.get(b.scan(qr, "carol"))
	require.Contains(t, bind.body, "绑定手机号", "a new person binds a phone")
	code := b.post(bind, "/login/phone", url.Values{"phone": {"13600136000"}})
	require.Equal(t, http.StatusOK, code.status, code.body)

	// The code is in the emulator's inbox and log, and only there; wxcas's
	// own inbox address leads to it.
	sms := sandboxSMSCode(t, emBase, "+8613600136000")
	require.Equal(t, []string{sms}, sandboxInbox(t, base, "+8613600136000"), "wxcas's /sandbox/sms redirects to the emulator's")
	require.Contains(t, emLog.String(), "【模拟】你的验证码是 "+sms, "the emulator's process writes the text with sign_name")
	require.NotContains(t, wxLog.String(), sms, "wxcas neither keeps nor logs the code")

	done := b.post(code, "/login/code", url.Values{"code": {sms}})
	require.Equal(t, http.StatusSeeOther, done.status, done.body)
	user := validateAt(t, base, env.service, ticketOf(t, done))

	// A returning login, in a new browser: the emulator knows carol as the
	// same WeChat user, so no phone this time.
	b2 := env.browser("")
	back := b2.get(b2.scan(b2.start(), "carol"))
	require.Equal(t, user, validateAt(t, base, env.service, ticketOf(t, back)))

	// The emulator checks what WeChat checks. A code is single-use...
	b3 := env.browser("")
	callback, err := url.Parse(b3.scan(b3.start(), "dave"))
	require.NoError(t, err)
	wxCode := callback.Query().Get("code")
	require.NotEmpty(t, wxCode, callback.String())
	exchange := func(appID, secret string) int {
		resp, err := http.Get(emBase + "/sandbox/wechat/sns/oauth2/access_token?appid=" + appID + "&secret=" + secret +
			"&code=" + url.QueryEscape(wxCode) + "&grant_type=authorization_code")
		require.NoError(t, err)
		defer resp.Body.Close()
		var body struct{ ErrCode int }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return body.ErrCode
	}
	require.Equal(t, 40013, exchange("wxa1b2c3d4e5f6ffff", "emulator-test-secret"), "only the configuration's apps")
	require.Equal(t, 40125, exchange("wxa1b2c3d4e5f60001", "wrong-secret"), "the secret is the configuration's")
	_, err = a.wechat.ExchangeCode(context.Background(), "wxa1b2c3d4e5f60001", wxCode)
	require.NoError(t, err, "wxcas exchanges it at the emulator")
	require.Equal(t, 40163, exchange("wxa1b2c3d4e5f60001", "emulator-test-secret"), "code been used")
	// ...and redirect_uri must be on the configured callback domain.
	resp, err := noRedirect.Get(emBase + "/sandbox/wechat/connect/qrconnect?appid=wxa1b2c3d4e5f60001&scope=snsapi_login&response_type=code" +
		"&redirect_uri=" + url.QueryEscape("https://elsewhere.example/wechat/callback") + "&state=s&sandbox_user=carol")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "no code for a foreign redirect_uri")

	// What the in-process sandbox served is one redirect away.
	resp, err = noRedirect.Get(base + "/sandbox/wechat/?x=1")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	require.Equal(t, emBase+"/sandbox/wechat/?x=1", resp.Header.Get("Location"))
}

// validateAt validates ticket for service at wxcas's CAS 3.0 endpoint and
// returns the user.
func validateAt(t *testing.T, base, service, ticket string) string {
	t.Helper()
	resp, err := http.Get(base + "/cas/p3/serviceValidate?service=" + url.QueryEscape(service) + "&ticket=" + url.QueryEscape(ticket))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`<cas:user>([^<]+)</cas:user>`).FindStringSubmatch(string(raw))
	require.NotNil(t, m, "authenticationSuccess: %s", raw)
	return m[1]
}

// TestShippedSandboxWithEmulatorCommand: the shipped config.yaml, with
// WXCAS_EMULATOR_URL set for both commands, runs `wxcas emulator` and
// `wxcas serve` as two servers, as docs/loadtest.md starts them: the login
// page's QR code is the emulator's, and the emulator pushes the sandbox
// platform's ticket to wxcas.
func TestShippedSandboxWithEmulatorCommand(t *testing.T) {
	shipped, err := filepath.Abs("config.yaml")
	require.NoError(t, err)
	addr, emAddr := freePort(t), freePort(t)
	t.Setenv("WXCAS_LISTEN", addr)
	t.Setenv("WXCAS_EMULATOR_URL", "http://"+emAddr)
	for _, v := range []string{"WXCAS_PUBLIC_URL", "WXCAS_METRICS_LISTEN", "WXCAS_SECRET_KEY", "WXCAS_ALLOW_SANDBOX"} {
		t.Setenv(v, "")
	}
	t.Chdir(t.TempDir())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := func(args ...string) (*logx.Buffer, chan int) {
		logs, done := &logx.Buffer{}, make(chan int, 1)
		go func() { done <- run(ctx, args, logs, logs) }()
		return logs, done
	}
	emLog, emDone := start("emulator", "-config", shipped)
	wxLog, wxDone := start("serve", "-config", shipped)
	defer func() {
		cancel()
		for _, d := range []chan int{emDone, wxDone} {
			select {
			case code := <-d:
				require.Equal(t, exitOK, code, "emulator:\n%s\nwxcas:\n%s", emLog.String(), wxLog.String())
			case <-time.After(20 * time.Second):
				t.Error("a command did not stop")
			}
		}
	}()
	ok := func(u string) bool {
		resp, err := http.Get(u)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	require.Eventually(t, func() bool { return ok("http://"+emAddr+"/healthz") && ok("http://"+addr+"/readyz") },
		60*time.Second, 100*time.Millisecond, "emulator:\n%s\nwxcas:\n%s", emLog.String(), wxLog.String())

	cookies, _ := cookiejar.New(nil)
	browser := &http.Client{Timeout: 10 * time.Second, Jar: cookies}
	resp, err := browser.Get("http://" + addr + "/cas/login?service=" + url.QueryEscape("http://"+addr+"/sandbox/app/"))
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := iframeSrc.FindStringSubmatch(string(raw))
	require.NotNil(t, m, string(raw))
	require.True(t, strings.HasPrefix(html.UnescapeString(m[1]), "http://"+emAddr+"/sandbox/wechat/connect/qrconnect?"), m[1])

	require.Eventually(t, func() bool { return strings.Contains(wxLog.String(), "component_verify_ticket received") },
		20*time.Second, 100*time.Millisecond, "the emulator pushes the platform's ticket to wxcas: %s", emLog.String())
	require.NotContains(t, wxLog.String(), "has no component_verify_ticket yet", "wxcas knows a ticket is on its way")
}

// TestEmulatorCommandNeedsItsAddress: without sandbox.emulator_url the
// command does not guess a port, and says what to set.
func TestEmulatorCommandNeedsItsAddress(t *testing.T) {
	var out, errb strings.Builder
	code := run(context.Background(), []string{"emulator", "-config", writeConfig(t, sandboxConfig(t.TempDir()))}, &out, &errb)
	require.Equal(t, exitBadInput, code)
	require.Contains(t, errb.String(), "sandbox.emulator_url")

	out.Reset()
	require.Equal(t, exitOK, run(context.Background(), []string{"help"}, &out, &errb))
	require.Regexp(t, `(?m)^  emulator +\S`, out.String())
}

// TestInstancesShareOneEmulator: two wxcas instances on one database and
// one `wxcas emulator`, as behind a load balancer. A login whose QR code
// one instance showed finishes on the other (the code is exchanged at the
// WeChat that issued it, which with an emulator inside each instance it
// would not be), and the SMS code one instance sent is in the inbox
// whichever instance the person's next request reaches.
func TestInstancesShareOneEmulator(t *testing.T) {
	lnA, baseA := listen(t)
	lnB, baseB := listen(t)
	dir := t.TempDir()
	emBase, _ := startEmulatorCommand(t, emulatorPairConfig(lnA.Addr().String(), dir, "http://127.0.0.1:0"))
	runApp(t, lnA, emulatorPairConfig(lnA.Addr().String(), dir, emBase), nil)
	runApp(t, lnB, emulatorPairConfig(lnB.Addr().String(), dir, emBase), nil)
	service := "https://site.example.edu/app/"

	// One browser; its cookies are the host's, so both instances see them.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), service) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	do := func(method, target string, form url.Values) (string, *http.Response) {
		t.Helper()
		var resp *http.Response
		var err error
		if form != nil {
			resp, err = c.PostForm(target, form)
		} else {
			resp, err = c.Get(target)
		}
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(raw), resp
	}
	fields := func(body string, extra url.Values) url.Values {
		t.Helper()
		csrf, flow := csrfField.FindStringSubmatch(body), flowField.FindStringSubmatch(body)
		require.NotNil(t, csrf, body)
		extra.Set("_csrf", html.UnescapeString(csrf[1]))
		extra.Set("flow", html.UnescapeString(flow[1]))
		return extra
	}

	qr, _ := do(http.MethodGet, baseA+"/cas/login?service="+url.QueryEscape(service), nil)
	m := iframeSrc.FindStringSubmatch(qr)
	require.NotNil(t, m, qr)
	resp, err := noRedirect.Get(html.UnescapeString(m[1]) + "&sandbox_user=erin")
	require.NoError(t, err)
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(callback, baseA+"/wechat/callback?"), callback)

	bind, _ := do(http.MethodGet, baseB+strings.TrimPrefix(callback, baseA), nil)
	require.Contains(t, bind, "绑定手机号", "B exchanged the code A's WeChat issued")
	code, _ := do(http.MethodPost, baseB+"/login/phone", fields(bind, url.Values{"phone": {"13600136001"}}))
	require.Contains(t, code, `name="code"`)
	sms := sandboxSMSCode(t, baseA, "+8613600136001") // A's /sandbox/sms leads to the one inbox
	_, done := do(http.MethodPost, baseA+"/login/code", fields(code, url.Values{"code": {sms}}))
	require.Equal(t, http.StatusSeeOther, done.StatusCode)
	require.True(t, strings.HasPrefix(done.Header.Get("Location"), service+"?ticket=ST-"), done.Header.Get("Location"))
}
