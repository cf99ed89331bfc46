package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/audit"
	"wxcas/metrics/metricstest"
	"wxcas/otp"
	"wxcas/wechat"
)

func TestFunnelLabelsAreBounded(t *testing.T) {
	tests := []struct {
		name             string
		channel, service string
		wantChannel      string
		wantService      string
	}{
		{"a registered service", "qr_inline", "site", "qr_inline", "site"},
		{"an OpenID client", "qr_redirect", "oidc.app", "qr_redirect", "oidc.app"},
		{"the journey's Official Account channels are oa", "oa_base", "site", "oa", "site"},
		{"the step-up too", "oa_userinfo", "site", "oa", "site"},
		{"an API login has no service", "mini_program", "", "mini_program", "none"},
		{"an unknown channel", "carrier_pigeon", "site", "other", "site"},
		{"a URL is never a label", "qr_inline", "https://evil.example/?phone=13800138000", "qr_inline", "other"},
		{"a service not registered", "mobile_app", "oidc.gone", "mobile_app", "other"},
		{"no channel", "", "site", "none", "site"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			m.KnownServices([]string{"site", "oidc.app"})
			m.Step(StepCodeSent, tc.channel, tc.service)
			want := map[string]string{"step": "code_sent", "channel": tc.wantChannel, "service": tc.wantService}
			require.Equal(t, 1.0, metricstest.Sum(t, m.Registry, "wxcas_login_funnel_steps_total", want))
			require.Equal(t, 1.0, metricstest.Sum(t, m.Registry, "wxcas_login_funnel_steps_total", nil), "one series only")
		})
	}
	t.Run("before KnownServices every service is other", func(t *testing.T) {
		m := New()
		m.Step(StepIssued, "qr_inline", "site")
		require.Equal(t, 1.0, metricstest.Sum(t, m.Registry, "wxcas_login_funnel_steps_total", map[string]string{"service": "other"}))
	})
	t.Run("the audit counter bounds its labels the same way", func(t *testing.T) {
		m := New()
		m.KnownServices([]string{"site"})
		log := m.Audit(&nopLog{})
		require.NoError(t, log.Record(context.Background(), audit.Event{Kind: "refusal", Outcome: "wrong_code", Channel: "qr_inline", Service: "site"}))
		require.NoError(t, log.Record(context.Background(), audit.Event{Kind: "refusal", Outcome: "wrong_code", Channel: "qr_inline", Service: "https://x.example/"}))
		require.Equal(t, 1.0, metricstest.Sum(t, m.Registry, "wxcas_login_events_total", map[string]string{"service": "site"}))
		require.Equal(t, 1.0, metricstest.Sum(t, m.Registry, "wxcas_login_events_total", map[string]string{"service": "other"}))
	})
}

func TestStepsAreDistinct(t *testing.T) {
	seen := map[Step]bool{}
	for _, s := range Steps {
		require.False(t, seen[s], "%s listed twice", s)
		require.Regexp(t, `^[a-z][a-z_]*$`, string(s))
		seen[s] = true
	}
	require.Len(t, seen, 9)
	var f Funnel = NoFunnel{}
	f.Step(StepIssued, "qr_inline", "site") // counts nothing, and does not panic
}

type budgetFunc func(ctx context.Context) (otp.Budget, error)

func (f budgetFunc) Budget(ctx context.Context) (otp.Budget, error) { return f(ctx) }

func TestSMSBudget(t *testing.T) {
	ends := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		b    otp.Budget
		err  error
		want map[string]float64 // absent: not reported
	}{
		{"a window open", otp.Budget{Max: 5000, Used: 4200, WindowEndsAt: ends}, nil, map[string]float64{
			"wxcas_sms_budget_limit": 5000, "wxcas_sms_budget_used": 4200, "wxcas_sms_budget_window_end_timestamp_seconds": float64(ends.Unix()),
		}},
		{"no window open", otp.Budget{Max: 5000}, nil, map[string]float64{"wxcas_sms_budget_limit": 5000, "wxcas_sms_budget_used": 0}},
		{"the database does not answer: use unknown, not 0", otp.Budget{Max: 5000}, errors.New("down"), map[string]float64{"wxcas_sms_budget_limit": 5000}},
		{"budget off", otp.Budget{}, nil, map[string]float64{"wxcas_sms_budget_limit": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			m.WatchSMSBudget(budgetFunc(func(ctx context.Context) (otp.Budget, error) {
				_, bounded := ctx.Deadline()
				require.True(t, bounded, "a scrape never waits on the database for ever")
				return tc.b, tc.err
			}))
			got := map[string]float64{}
			for _, s := range metricstest.Gather(t, m.Registry) {
				if strings.HasPrefix(s.Name, "wxcas_sms_budget") {
					got[s.Name] = s.Value
				}
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestWeChatCalls(t *testing.T) {
	m := New()
	m.WeChatCall("sns/oauth2/access_token", nil)
	m.WeChatCall("sns/oauth2/access_token", &wechat.Error{Kind: wechat.ErrBusy})
	m.WeChatCall("sns/oauth2/access_token", &wechat.Error{Kind: wechat.ErrBusy})
	m.WeChatCall("cgi-bin/token", &wechat.Error{Kind: wechat.ErrTransport})
	for _, tc := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"op": "sns/oauth2/access_token", "result": "ok"}, 1},
		{map[string]string{"op": "sns/oauth2/access_token", "result": "busy"}, 2},
		{map[string]string{"op": "cgi-bin/token", "result": "transport"}, 1},
		{map[string]string{"result": "ok"}, 1},
	} {
		require.Equal(t, tc.want, metricstest.Sum(t, m.Registry, "wxcas_wechat_calls_total", tc.labels), "%v", tc.labels)
	}
}
