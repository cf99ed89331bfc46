package doctor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/doctor"
	"wxcas/store/storetest"
	"wxcas/wechat"
	"wxcas/wechat/emulator"
	"wxcas/wechat/platform"
)

func TestAppCredentials(t *testing.T) {
	env := prodEnv()
	good := map[string]wechat.App{
		webApp:    {AppID: webApp, Secret: env["WEB"], Kind: wechat.KindWebsite},
		oaApp:     {AppID: oaApp, Secret: env["OA"], Kind: wechat.KindOfficialAccount},
		miniApp:   {AppID: miniApp, Secret: env["MP"], Kind: wechat.KindMiniProgram},
		mobileApp: {AppID: mobileApp, Secret: env["APP"], Kind: wechat.KindMobileApp},
	}
	with := func(appID string, change func(a *wechat.App)) wechat.App {
		a := good[appID]
		change(&a)
		return a
	}
	wrongSecret := func(a *wechat.App) { a.Secret = "not-the-secret" }
	tests := []struct {
		name   string
		app    wechat.App
		fault  *emulator.Fault // on the app's exchange path
		status doctor.Status
		detail string
		fix    string
	}{
		{"website", good[webApp], nil, doctor.StatusPass, "40029", ""},
		{"official account", good[oaApp], nil, doctor.StatusPass, "40029", ""},
		{"mini program", good[miniApp], nil, doctor.StatusPass, "40029", ""},
		{"mobile app", good[mobileApp], nil, doctor.StatusPass, "40029", ""},
		{"website, wrong secret", with(webApp, wrongSecret), nil, doctor.StatusFail, "errcode 40125", "WXCAS_WECHAT_SECRET_3"},
		{"mini program, wrong secret", with(miniApp, wrongSecret), nil, doctor.StatusFail, "errcode 40125", "AppSecret of " + miniApp},
		{"appid WeChat does not know", wechat.App{AppID: "wxa1b2c3d4e5f6ffff", Secret: "some-secret", Kind: wechat.KindWebsite}, nil,
			doctor.StatusFail, "errcode 40013", "check the appid"},
		{"app registered as another kind", with(miniApp, func(a *wechat.App) { a.Kind = wechat.KindWebsite }), nil,
			doctor.StatusPass, "40029", ""}, // the secret is right; the kind is the callback check's business
		{"IP not whitelisted", good[oaApp], &emulator.FaultIPBlocked, doctor.StatusFail, "errcode 40164", "API IP whitelist"},
		{"WeChat busy", good[webApp], &emulator.FaultBusy, doctor.StatusFail, "busy or limited", "again in a minute"},
		{"not JSON", good[webApp], &emulator.FaultHTMLBody, doctor.StatusFail, "no usable answer", "wechat.api_base_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			em, base := newEmulator(t, emulatorApps("127.0.0.1"))
			path := emulator.PathAccessToken
			if tt.app.Kind == wechat.KindMiniProgram {
				path = emulator.PathJSCode2Session
			}
			if tt.fault != nil {
				em.InjectFault(path, *tt.fault)
			}
			c := weChatClient(t, base, tt.app)
			r := doctor.AppCredentials{Client: c, AppID: tt.app.AppID, Index: 3}.Run(context.Background())
			require.Equal(t, tt.status, r.Status, r.Detail)
			require.Contains(t, r.Detail, tt.detail)
			require.Contains(t, r.Fix, tt.fix)
			require.NotContains(t, r.Detail+r.Fix, tt.app.Secret, "no secret in the output")
			require.Equal(t, 1, em.Calls(emulator.PathAccessToken)+em.Calls(emulator.PathJSCode2Session), "one call")
			require.Zero(t, em.Calls(emulator.PathToken)+em.Calls(emulator.PathStableToken), "never a new app token")
		})
	}

	t.Run("an API that accepts a made-up code is not WeChat", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"access_token":"t","expires_in":7200,"refresh_token":"r","openid":"o","scope":"snsapi_login"}`)
		}))
		defer srv.Close()
		r := doctor.AppCredentials{Client: weChatClient(t, srv.URL, good[webApp]), AppID: webApp}.Run(context.Background())
		require.Equal(t, doctor.StatusFail, r.Status)
		require.Contains(t, r.Detail, "made-up code was accepted")
	})

	t.Run("unreachable, in the sandbox", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		r := doctor.AppCredentials{Client: weChatClient(t, srv.URL, good[webApp]), AppID: webApp, UnreachableFix: "start wxcas serve"}.Run(context.Background())
		require.Equal(t, doctor.StatusFail, r.Status)
		require.Contains(t, r.Detail, "transport error")
		require.Equal(t, "start wxcas serve", r.Fix)
	})
}

func TestCallback(t *testing.T) {
	env := prodEnv()
	web := wechat.App{AppID: webApp, Secret: env["WEB"], Kind: wechat.KindWebsite}
	oa := wechat.App{AppID: oaApp, Secret: env["OA"], Kind: wechat.KindOfficialAccount}
	served := wechat.App{AppID: servedApp, Kind: wechat.KindOfficialAccount, ComponentAppID: componentID}
	const public = "https://login.example.edu/sso"
	tests := []struct {
		name        string
		app         wechat.App
		domain      string   // the callback domain WeChat has for the apps
		authorizers []string // accounts that authorized the platform
		status      doctor.Status
		detail      string
		fix         string
	}{
		{"website app, domain set", web, "login.example.edu", nil, doctor.StatusPass, "accepts redirect_uri https://login.example.edu/sso/wechat/callback", ""},
		{"website app, another domain", web, "old.example.edu", nil, doctor.StatusFail, "该链接无法访问", "授权回调域 on open.weixin.qq.com"},
		{"official account, domain set", oa, "login.example.edu", nil, doctor.StatusPass, "public_url's host login.example.edu", ""},
		{"official account, another domain", oa, "old.example.edu", nil, doctor.StatusFail, "redirect_uri 域名与后台配置不一致", "set " + oaApp + "'s callback domain to login.example.edu (网页授权域名"},
		{"served account, authorized", served, "login.example.edu", []string{servedApp}, doctor.StatusPass, "accepts", ""},
		{"served account, not authorized", served, "login.example.edu", nil, doctor.StatusFail, "has not authorized the third-party platform", "authorize the third-party platform"},
		{"an Official Account configured as a website app", wechat.App{AppID: oaApp, Secret: env["OA"], Kind: wechat.KindWebsite}, "login.example.edu", nil,
			doctor.StatusFail, "Scope 参数错误", "check the kind of " + oaApp},
		{"an appid WeChat does not know", wechat.App{AppID: "wxa1b2c3d4e5f6ffff", Secret: "s", Kind: wechat.KindWebsite}, "login.example.edu", nil,
			doctor.StatusFail, "does not know the appid", "check wechat.apps' appid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			em, base := newEmulator(t, emulatorApps(tt.domain), tt.authorizers...)
			c := weChatClient(t, base, tt.app)
			r := doctor.Callback{Client: c, HTTP: noRedirects, AppID: tt.app.AppID, PublicURL: public}.Run(context.Background())
			require.Equal(t, tt.status, r.Status, r.Detail)
			require.Contains(t, r.Detail, tt.detail)
			require.Contains(t, r.Fix, tt.fix)
			require.Zero(t, em.Calls(emulator.PathAccessToken), "no code is exchanged")
		})
	}

	// What WeChat's own pages may answer besides the emulator's.
	pages := []struct {
		name   string
		status int
		body   string
		want   doctor.Status
		detail string
	}{
		{"an Official Account's page outside WeChat", 200, "<html><body><p>请在微信客户端打开链接</p></body></html>", doctor.StatusPass, "only inside its app"},
		{"domain refused, WeChat's spacing", 200, "<p>redirect_uri域名与后台配置不一致，错误码：10003</p>", doctor.StatusFail, "domain"},
		{"a server error", 502, "<html>Bad Gateway</html>", doctor.StatusFail, "HTTP 502"},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(p.status)
				fmt.Fprint(w, p.body)
			}))
			defer srv.Close()
			r := doctor.Callback{Client: weChatClient(t, srv.URL, oa), HTTP: noRedirects, AppID: oaApp, PublicURL: public}.Run(context.Background())
			require.Equal(t, p.want, r.Status, r.Detail)
			require.Contains(t, r.Detail, p.detail)
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		r := doctor.Callback{Client: weChatClient(t, srv.URL, web), HTTP: noRedirects, AppID: webApp, PublicURL: public}.Run(context.Background())
		require.Equal(t, doctor.StatusFail, r.Status)
		require.Contains(t, r.Fix, "wechat.open_base_url")
	})
}

func TestPlatformTicket(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		now := storetest.T0
		key := make([]byte, 32)
		authorized, withdrawn := true, false
		tests := []struct {
			name      string
			ticketAge time.Duration // 0: no ticket
			otherKey  bool          // the ticket was sealed under another secrets.key
			event     *bool         // the newest authorization event, if any
			status    doctor.Status
			detail    string
			fix       string
		}{
			{"fresh ticket", 5 * time.Minute, false, nil, doctor.StatusPass, "pushed 5 minutes ago; authorization unknown", ""},
			{"authorized", time.Minute, false, &authorized, doctor.StatusPass, "authorization authorized", ""},
			{"no ticket", 0, false, nil, doctor.StatusFail, "no component_verify_ticket stored", "https://login.example.edu/wechat/platforms/campus/events"},
			{"pushes stopped", 2 * time.Hour, false, nil, doctor.StatusFail, "is 2 hours old", "授权事件接收URL"},
			{"sealed under another key", time.Minute, true, nil, doctor.StatusFail, "no component_verify_ticket stored", "a changed secrets.key"},
			{"authorization withdrawn", time.Minute, false, &withdrawn, doctor.StatusFail, "withdrew its authorization", "authorize the third-party platform " + componentID},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db := migrated(t, backend)
				clock := func() time.Time { return now }
				st, err := platform.NewSQLStore(db, key, clock)
				require.NoError(t, err)
				st = st.WithLogger(quiet)
				if tt.ticketAge > 0 {
					sealer := st
					if tt.otherKey {
						sealer, err = platform.NewSQLStore(db, []byte("another-key-another-key-32-bytes"), clock)
						require.NoError(t, err)
					}
					_, err = sealer.SaveTicket(ctx, componentID, "ticket@@@x", now.Add(-tt.ticketAge))
					require.NoError(t, err)
				}
				if tt.event != nil {
					info := map[bool]string{true: platform.InfoAuthorized, false: platform.InfoUnauthorized}[*tt.event]
					_, err = st.SaveAuthorization(ctx, componentID, servedApp, *tt.event, info, now.Add(-time.Hour))
					require.NoError(t, err)
				}
				r := doctor.PlatformTicket{Tickets: st, AppID: servedApp, PlatformID: "campus", ComponentAppID: componentID,
					EventURL: doctor.PlatformEventURL("https://login.example.edu/", "campus"), Now: clock}.Run(ctx)
				require.Equal(t, tt.status, r.Status, r.Detail)
				require.Contains(t, r.Detail, tt.detail)
				require.Contains(t, r.Fix, tt.fix)
				require.NotContains(t, r.Detail+r.Fix, "ticket@@@x", "no ticket in the output")
			})
		}
	})

	r := doctor.PlatformTicket{AppID: servedApp, TicketsErr: fmt.Errorf("the database is not reachable")}.Run(context.Background())
	require.Equal(t, doctor.StatusFail, r.Status)
	require.Contains(t, r.Detail, "the database is not reachable")
}
