package doctor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/doctor"
	"wxcas/keys"
	"wxcas/sms/tencentfake"
	"wxcas/store"
	"wxcas/wechat/platform"
)

// allChecks are the names Build gives prodYAML's checks, in order.
var allChecks = []string{
	"database", "clock", "secrets", "public_url",
	"wechat_credentials/" + webApp, "wechat_credentials/" + oaApp, "wechat_credentials/" + miniApp,
	"wechat_credentials/" + mobileApp, "wechat_credentials/" + servedApp,
	"wechat_callback/" + webApp, "wechat_callback/" + oaApp, "wechat_callback/" + servedApp,
	"sms_template", "sms_signature",
}

// TestBuild runs every check Build makes for a deployment against the
// emulator, the Tencent fake, an https server and a database, first with
// nothing wrong, then with each failure injected: exactly the checks that
// must notice it fail, each with a fix.
func TestBuild(t *testing.T) {
	type setup struct {
		env      map[string]string // changes to prodEnv
		domain   string            // the apps' callback domain at WeChat (default 127.0.0.1)
		fake     func(s *tencentfake.Server)
		doctor   func(e *doctor.Env)
		noTicket bool
		fresh    bool // a database never migrated
	}
	tests := []struct {
		name  string
		setup setup
		fail  []string
		// db: the case is about the database, so it runs on MariaDB too
		// (the others need only one backend).
		db bool
	}{
		{"nothing wrong", setup{}, nil, true},
		{"a wrong WeChat secret", setup{env: map[string]string{"OA": "not-the-oa-secret"}}, []string{"wechat_credentials/" + oaApp}, false},
		{"callback domain not set at WeChat", setup{domain: "old.example.edu"},
			[]string{"wechat_callback/" + webApp, "wechat_callback/" + oaApp, "wechat_callback/" + servedApp}, false},
		{"no component_verify_ticket", setup{noTicket: true}, []string{"wechat_credentials/" + servedApp}, true},
		{"template rejected", setup{fake: func(s *tencentfake.Server) {
			_ = s.SetTemplateStatus(tencentfake.DefaultTemplateID, tencentfake.StatusRejected, "no")
		}}, []string{"sms_template"}, false},
		{"signature under review", setup{fake: func(s *tencentfake.Server) {
			_ = s.SetSignStatus(tencentfake.DefaultSignName, tencentfake.StatusUnderReview, "")
		}}, []string{"sms_signature"}, false},
		{"a wrong Tencent Cloud secret key", setup{env: map[string]string{"TC_KEY": "not-the-tencent-key"}}, []string{"sms_template", "sms_signature"}, false},
		{"a guessable master key", setup{env: map[string]string{"K": strings.Repeat("wxcas!", 8)}}, []string{"secrets"}, false},
		{"this machine's clock 5 s fast", setup{doctor: func(e *doctor.Env) { e.Now = func() time.Time { return time.Now().Add(5 * time.Second) } }},
			[]string{"clock"}, true},
		{"a certificate this machine does not trust", setup{doctor: func(e *doctor.Env) { e.Roots = nil }}, []string{"public_url"}, false},
		{"schema never migrated", setup{fresh: true}, []string{"database", "wechat_credentials/" + servedApp}, true},
		{"database unreachable", setup{doctor: func(e *doctor.Env) { e.DB, e.DBErr = nil, errors.New("dial tcp 127.0.0.1:3306: connection refused") }},
			[]string{"database", "clock", "wechat_credentials/" + servedApp}, true},
	}
	forBackends(t, func(t *testing.T, backend string) {
		for _, tt := range tests {
			if backend != "sqlite" && !tt.db {
				continue
			}
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				f := newFixture(t)
				if tt.setup.domain != "" {
					f.em, f.weChatURL = newEmulator(t, emulatorApps(tt.setup.domain), servedApp)
				}
				if tt.setup.fake != nil {
					tt.setup.fake(f.sms)
				}
				env := prodEnv()
				for k, v := range tt.setup.env {
					env[k] = v
				}
				cfg := prodConfig(t, f.public.URL, f.smsHost, env, "")
				var db *store.DB
				if tt.setup.fresh {
					db = freshDB(t, backend)
				} else {
					db = migrated(t, backend)
				}
				if !tt.setup.noTicket && !tt.setup.fresh {
					st, err := platform.NewSQLStore(db, keys.Derive([]byte(env["K"]), keys.PlatformSeal), nil)
					require.NoError(t, err)
					_, err = st.SaveTicket(ctx, componentID, "ticket@@@0001", time.Now().Add(-3*time.Minute))
					require.NoError(t, err)
				}
				denv := doctor.Env{DB: db, Now: time.Now, WeChatOpenBaseURL: f.weChatURL, WeChatAPIBaseURL: f.weChatURL,
					Roots: f.roots, SMSScheme: "HTTP", Logger: quiet}
				if tt.setup.doctor != nil {
					tt.setup.doctor(&denv)
				}
				checks, err := doctor.Build(ctx, cfg, denv)
				require.NoError(t, err)
				lines := doctor.Run(ctx, checks, 20*time.Second)

				var names, failed []string
				for _, l := range lines {
					names = append(names, l.Name)
					require.NotEqual(t, doctor.StatusSkip, l.Status, "%s: nothing is skipped outside the sandbox: %s", l.Name, l.Detail)
					if l.Status == doctor.StatusFail {
						failed = append(failed, l.Name)
						require.NotEmpty(t, l.Fix, "%s: a failure comes with a fix", l.Name)
					}
					for _, secret := range env {
						if len(secret) > 8 {
							require.NotContains(t, l.Detail+l.Fix, secret, "%s: no secret in the output", l.Name)
						}
					}
				}
				require.Equal(t, allChecks, names)
				require.Equal(t, tt.fail, failed, "%v", lines)
				require.Equal(t, len(tt.fail) > 0, doctor.Failed(lines))
				require.Zero(t, f.em.Calls("/cgi-bin/token")+f.em.Calls("/cgi-bin/stable_token")+f.em.Calls("/cgi-bin/component/api_component_token"),
					"no credential is renewed")
				require.Empty(t, f.sms.Delivered("+8613800138000"))
			})
		}
	})
}

// TestBuildSandbox: in the sandbox the checks that do not apply say so,
// and the SMS provider is the console.
func TestBuildSandbox(t *testing.T) {
	cfg := sandboxConfig(t)
	f := newFixture(t)
	checks, err := doctor.Build(context.Background(), cfg, doctor.Env{DB: migrated(t, "sqlite"), WeChatOpenBaseURL: f.weChatURL, WeChatAPIBaseURL: f.weChatURL})
	require.NoError(t, err)
	lines := doctor.Run(context.Background(), checks, 0)
	got := map[string]doctor.Status{}
	for _, l := range lines {
		got[l.Name] = l.Status
	}
	require.Equal(t, map[string]doctor.Status{
		"database": doctor.StatusPass, "clock": doctor.StatusPass, "secrets": doctor.StatusSkip, "public_url": doctor.StatusSkip,
		"wechat_credentials/" + webApp: doctor.StatusPass, "wechat_callback/" + webApp: doctor.StatusPass, "sms": doctor.StatusSkip,
	}, got, "%v", lines)
}

// TestBuildSandboxNotFound: in the sandbox, a WeChat emulator that does
// not answer is most often one doctor looked for at the wrong address
// (wxcas serve started with WXCAS_LISTEN, doctor without): the fix says
// where it looked and to run doctor with the service's environment.
func TestBuildSandboxNotFound(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	dead := closed.URL + "/sandbox/wechat"
	for _, tc := range []struct {
		name, emulatorURL string
		fix               []string
	}{
		{"the emulator inside wxcas serve", "", []string{"at " + dead + " (server.listen 127.0.0.1:8080)",
			"run wxcas doctor with the same environment as the service (WXCAS_LISTEN=", "start wxcas serve with this configuration"}},
		{"wxcas emulator apart", closed.URL, []string{"no WeChat emulator answers at " + dead + " (sandbox.emulator_url)",
			"start wxcas emulator there", "run wxcas doctor with the same environment as wxcas serve"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sandboxConfig(t)
			cfg.Sandbox.EmulatorURL = tc.emulatorURL
			checks, err := doctor.Build(context.Background(), cfg, doctor.Env{DB: migrated(t, "sqlite"), WeChatOpenBaseURL: dead, WeChatAPIBaseURL: dead})
			require.NoError(t, err)
			failed := 0
			for _, l := range doctor.Run(context.Background(), checks, 0) {
				if !strings.HasPrefix(l.Name, "wechat_") {
					continue
				}
				failed++
				require.Equal(t, doctor.StatusFail, l.Status, "%v", l)
				for _, s := range tc.fix {
					require.Contains(t, l.Fix, s, l.Name)
				}
			}
			require.Equal(t, 2, failed, "the app's credentials and its callback")
		})
	}
}

func TestRunAndWrite(t *testing.T) {
	checks := []doctor.Check{
		fixed{"ok", doctor.Pass("fine")},
		fixed{"broken", doctor.Fail("it broke", "mend it")},
		fixed{"n/a", doctor.Skip("not here")},
		panics{},
		slow{},
	}
	lines := doctor.Run(context.Background(), checks, 50*time.Millisecond)
	require.Equal(t, []doctor.Line{
		{Name: "ok", Status: doctor.StatusPass, Detail: "fine"},
		{Name: "broken", Status: doctor.StatusFail, Detail: "it broke", Fix: "mend it"},
		{Name: "n/a", Status: doctor.StatusSkip, Detail: "not here"},
		{Name: "panics", Status: doctor.StatusFail, Detail: "the check itself failed: boom", Fix: "report this as a wxcas bug, with the check's name"},
		{Name: "slow", Status: doctor.StatusFail, Detail: "did not finish within 50ms", Fix: "run wxcas doctor again; if it keeps timing out, the service this check calls is too slow"},
	}, lines)
	require.True(t, doctor.Failed(lines))
	require.False(t, doctor.Failed(lines[:1]))

	var text bytes.Buffer
	require.NoError(t, doctor.WriteText(&text, lines[:3]))
	require.Equal(t, "PASS  ok      fine\n"+
		"FAIL  broken  it broke\n"+
		"              fix: mend it\n"+
		"SKIP  n/a     not here\n"+
		"\n1 failed, 1 passed, 1 skipped\n", text.String())

	var js bytes.Buffer
	require.NoError(t, doctor.WriteJSON(&js, lines[:2]))
	rows := strings.Split(strings.TrimSpace(js.String()), "\n")
	require.Len(t, rows, 2, "one object per line")
	require.JSONEq(t, `{"name":"ok","status":"PASS","detail":"fine","fix":""}`, rows[0])
	var l doctor.Line
	require.NoError(t, json.Unmarshal([]byte(rows[1]), &l))
	require.Equal(t, lines[1], l)
	require.True(t, slices.ContainsFunc(rows, func(r string) bool { return strings.Contains(r, `"fix":"mend it"`) }))
}

type fixed struct {
	name string
	r    doctor.Result
}

func (f fixed) Name() string                      { return f.name }
func (f fixed) Run(context.Context) doctor.Result { return f.r }

type panics struct{}

func (panics) Name() string                      { return "panics" }
func (panics) Run(context.Context) doctor.Result { panic("boom") }

// slow waits for its deadline and reports success, as a check whose
// service answered too late might.
type slow struct{}

func (slow) Name() string { return "slow" }
func (slow) Run(ctx context.Context) doctor.Result {
	<-ctx.Done()
	return doctor.Pass("late")
}
