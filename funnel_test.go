package main

// The login funnel (package metrics) counted through real logins: the
// browser's and the JSON API's, a first login, a returning person and a
// wrong code, and the labels they leave.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/metrics"
	"wxcas/metrics/metricstest"
)

// funnelOf is every step's count for one channel and service.
func funnelOf(t *testing.T, a *app, channel, service string) map[metrics.Step]float64 {
	t.Helper()
	out := map[metrics.Step]float64{}
	for _, s := range metrics.Steps {
		out[s] = metricstest.Sum(t, a.metrics.Registry, "wxcas_login_funnel_steps_total",
			map[string]string{"step": string(s), "channel": channel, "service": service})
	}
	return out
}

// moved is after minus before, for the steps that moved.
func moved(before, after map[metrics.Step]float64) map[metrics.Step]float64 {
	out := map[metrics.Step]float64{}
	for s, v := range after {
		if d := v - before[s]; d != 0 {
			out[s] = d
		}
	}
	return out
}

func TestFunnelBrowser(t *testing.T) {
	env := startFlowEnv(t, "")
	a := env.a
	refusals := func(outcome string) float64 {
		return metricstest.Sum(t, a.metrics.Registry, "wxcas_login_events_total",
			map[string]string{"kind": "refusal", "outcome": outcome, "channel": "qr_inline", "service": "site"})
	}

	// A first login, with a wrong code before the right one.
	before := funnelOf(t, a, "qr_inline", "site")
	b := env.browser("")
	bind := b.get(b.scan(b.start(), "nora"))
	require.Contains(t, bind.body, "绑定手机号")
	code := b.post(bind, "/login/phone", url.Values{"phone": {"13700137000"}})
	require.Equal(t, http.StatusOK, code.status)
	right := env.smsCode("+8613700137000")
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	p := b.post(code, "/login/code", url.Values{"code": {wrong}})
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Equal(t, 1.0, refusals("wrong_code"), "the wrong code is a failure by outcome")
	done := b.post(code, "/login/code", url.Values{"code": {right}})
	ticketOf(t, done)
	require.Equal(t, map[metrics.Step]float64{
		metrics.StepQRShown: 1, metrics.StepWeChatCallback: 1, metrics.StepIdentifiedNew: 1, metrics.StepPhoneRequested: 1,
		metrics.StepCodeSent: 1, metrics.StepCodeVerified: 1, metrics.StepBound: 1, metrics.StepIssued: 1,
	}, moved(before, funnelOf(t, a, "qr_inline", "site")), "a new person, step by step; the wrong code verified nothing")

	// The same person again, in another browser: WeChat knows them.
	before = funnelOf(t, a, "qr_inline", "site")
	b = env.browser("")
	ticketOf(t, b.get(b.scan(b.start(), "nora")))
	require.Equal(t, map[metrics.Step]float64{
		metrics.StepQRShown: 1, metrics.StepWeChatCallback: 1, metrics.StepIdentifiedReturning: 1, metrics.StepIssued: 1,
	}, moved(before, funnelOf(t, a, "qr_inline", "site")), "a returning person goes straight to the ticket")

	// A refusal in WeChat: a callback, and a failure by outcome, no more.
	before = funnelOf(t, a, "qr_inline", "site")
	b = env.browser("")
	qr := b.start()
	state := regexp.MustCompile(`state=([A-Za-z0-9]+)`).FindStringSubmatch(iframeSrc.FindStringSubmatch(qr.body)[1])[1]
	b.get(env.base + "/wechat/callback?state=" + state)
	require.Equal(t, map[metrics.Step]float64{metrics.StepQRShown: 1, metrics.StepWeChatCallback: 1},
		moved(before, funnelOf(t, a, "qr_inline", "site")))
	require.Equal(t, 1.0, refusals("wechat_refused"))

	require.Equal(t, 1.0, metricstest.Sum(t, a.metrics.Registry, "wxcas_sms_budget_used", nil),
		"the budget counts the one code sent")
	require.Positive(t, metricstest.Sum(t, a.metrics.Registry, "wxcas_wechat_calls_total",
		map[string]string{"op": "sns/oauth2/access_token", "result": "ok"}), "the code exchanges are counted")
	requireBoundedLabels(t, a, "13700137000")
}

func TestFunnelAPI(t *testing.T) {
	a, base := startSandbox(t)
	post := func(path, body string) map[string]any {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out
	}
	login := func(person string) map[string]any {
		t.Helper()
		resp, err := http.PostForm(base+"/sandbox/wechat/_sandbox/code", url.Values{"appid": {"wxa1b2c3d4e5f60003"}, "sandbox_user": {person}, "type": {"js"}})
		require.NoError(t, err)
		var issued struct{ Code string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&issued))
		resp.Body.Close()
		return post("/api/v1/login/wechat", `{"appid":"wxa1b2c3d4e5f60003","code":"`+issued.Code+`"}`)
	}

	before := funnelOf(t, a, "mini_program", "none")
	out := login("olga")
	require.Equal(t, "binding_required", out["status"])
	out = post("/api/v1/bind/sms/send", `{"bind_token":"`+out["bind_token"].(string)+`","phone":"13600136000"}`)
	require.Equal(t, "code_sent", out["status"], "%v", out)
	out = post("/api/v1/bind/sms/verify", `{"bind_token":"`+out["bind_token"].(string)+`","code":"`+sandboxSMSCode(t, base, "+8613600136000")+`"}`)
	require.Equal(t, "logged_in", out["status"], "%v", out)
	require.Equal(t, map[metrics.Step]float64{
		metrics.StepWeChatCallback: 1, metrics.StepIdentifiedNew: 1, metrics.StepPhoneRequested: 1,
		metrics.StepCodeSent: 1, metrics.StepCodeVerified: 1, metrics.StepBound: 1, metrics.StepIssued: 1,
	}, moved(before, funnelOf(t, a, "mini_program", "none")), "an app shows no QR code; its login has no service")

	before = funnelOf(t, a, "mini_program", "none")
	require.Equal(t, "logged_in", login("olga")["status"])
	require.Equal(t, map[metrics.Step]float64{
		metrics.StepWeChatCallback: 1, metrics.StepIdentifiedReturning: 1, metrics.StepIssued: 1,
	}, moved(before, funnelOf(t, a, "mini_program", "none")))
	requireBoundedLabels(t, a, "13600136000")
}

// requireBoundedLabels checks every label value of the registry: no URL,
// query string or phone number, no openid of the audit log, and the
// funnel's channels and services from their known sets.
func requireBoundedLabels(t *testing.T, a *app, phone string) {
	t.Helper()
	var openIDs []string
	require.NoError(t, a.db.Select(&openIDs, `SELECT DISTINCT openid FROM audit_events WHERE openid <> ''`))
	require.NotEmpty(t, openIDs)
	digits := regexp.MustCompile(`\d{7,}`)
	channels := map[string]bool{"qr_inline": true, "qr_redirect": true, "oa": true, "mini_program": true, "mobile_app": true, "api": true, "none": true, "other": true}
	for _, s := range metricstest.Gather(t, a.metrics.Registry) {
		for k, v := range s.Labels {
			where := s.Name + "{" + k + "=" + v + "}"
			require.NotContains(t, v, "://", where)
			require.NotContains(t, v, "?", where)
			require.NotContains(t, v, phone, where)
			require.False(t, digits.MatchString(v), "no long run of digits (a phone): %s", where)
			for _, id := range openIDs {
				require.NotContains(t, v, id, where)
			}
			if k == "channel" && strings.HasPrefix(s.Name, "wxcas_login_") {
				require.True(t, channels[v], where)
			}
			if k == "service" {
				require.Contains(t, []string{"site", "demo", "none", "other"}, v, where)
			}
		}
	}
}
