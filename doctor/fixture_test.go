package doctor_test

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/sms/tencentfake"
	"wxcas/wechat"
	"wxcas/wechat/emulator"
)

// fixture is a deployment's outside world: WeChat (the emulator, knowing
// prodYAML's apps and secrets), Tencent SMS (the fake) and the https
// server public_url names.
type fixture struct {
	em        *emulator.Emulator
	weChatURL string
	sms       *tencentfake.Server
	smsHost   string
	public    *httptest.Server
	roots     *x509.CertPool
}

// emulatorApps are prodYAML's apps as WeChat knows them, with callback
// domain (public_url's host).
func emulatorApps(domain string) []emulator.App {
	env := prodEnv()
	return []emulator.App{
		{AppID: webApp, Secret: env["WEB"], Kind: emulator.KindWebsite, CallbackDomain: domain},
		{AppID: oaApp, Secret: env["OA"], Kind: emulator.KindOfficialAccount, CallbackDomain: domain},
		{AppID: miniApp, Secret: env["MP"], Kind: emulator.KindMiniProgram},
		{AppID: mobileApp, Secret: env["APP"], Kind: emulator.KindMobileApp},
		{AppID: servedApp, Kind: emulator.KindOfficialAccount, ComponentAppID: componentID, CallbackDomain: domain},
	}
}

func newEmulator(t *testing.T, apps []emulator.App, authorizers ...string) (*emulator.Emulator, string) {
	t.Helper()
	env := prodEnv()
	em, err := emulator.New(emulator.Options{Apps: apps, Platforms: []emulator.Platform{{
		ComponentAppID: componentID, Secret: env["PS"], Token: env["PT"], EncodingAESKey: env["PK"], Authorizers: authorizers,
	}}})
	require.NoError(t, err)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return em, srv.URL
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	f.public = httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(f.public.Close)
	f.roots = x509.NewCertPool()
	f.roots.AddCert(f.public.Certificate())
	f.em, f.weChatURL = newEmulator(t, emulatorApps("127.0.0.1"), servedApp)
	env := prodEnv()
	f.sms = tencentfake.New(tencentfake.Options{Credentials: map[string]string{env["TC_ID"]: env["TC_KEY"]}})
	smsSrv := httptest.NewServer(f.sms)
	t.Cleanup(smsSrv.Close)
	f.smsHost = strings.TrimPrefix(smsSrv.URL, "http://")
	return f
}

// weChatClient is a client of the emulator at base for apps.
func weChatClient(t *testing.T, base string, apps ...wechat.App) *wechat.Client {
	t.Helper()
	env := prodEnv()
	c, err := wechat.New(wechat.Config{OpenBaseURL: base, APIBaseURL: base, Apps: apps, MaxRetries: -1, Timeout: 5 * time.Second,
		Platforms: []wechat.Platform{{ComponentAppID: componentID, Secret: env["PS"]}}})
	require.NoError(t, err)
	return c
}

// noRedirects is how wxcas's client treats WeChat's redirects.
var noRedirects = &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
