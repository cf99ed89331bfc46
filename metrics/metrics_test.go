package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/audit"
	"wxcas/sms"
)

type nopLog struct{ n int }

func (l *nopLog) Record(context.Context, audit.Event) error { l.n++; return nil }

func TestCounters(t *testing.T) {
	m := New()
	inner := &nopLog{}
	log := m.Audit(inner)
	require.NoError(t, log.Record(context.Background(), audit.Event{Kind: "login", Outcome: "ok", Channel: "qr_inline"}))
	require.NoError(t, log.Record(context.Background(), audit.Event{Kind: "refusal", Outcome: "wrong_code", Channel: "qr_inline"}))
	require.Equal(t, 2, inner.n, "events still reach the audit log")

	fail := &sms.Error{Kind: sms.ErrRateLimited}
	calls := 0
	sender := m.Sender(sms.SenderFunc(func(context.Context, sms.Message) (sms.Receipt, error) {
		calls++
		if calls == 2 {
			return sms.Receipt{}, fail
		}
		return sms.Receipt{}, nil
	}))
	_, err := sender.Send(context.Background(), sms.Message{})
	require.NoError(t, err)
	_, err = sender.Send(context.Background(), sms.Message{})
	require.True(t, errors.Is(err, sms.ErrRateLimited))

	m.ObserveRequest("/cas/login", "GET", 303, 3*time.Millisecond)
	m.ObserveRequest("", "GET", 404, time.Millisecond)

	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	out := string(body)
	for _, want := range []string{
		`wxcas_login_events_total{channel="qr_inline",kind="login",outcome="ok",service="none"} 1`,
		`wxcas_login_events_total{channel="qr_inline",kind="refusal",outcome="wrong_code",service="none"} 1`,
		`wxcas_sms_sends_total{result="ok"} 1`,
		`wxcas_sms_sends_total{result="rate_limited"} 1`,
		`wxcas_http_requests_total{code="3xx",method="GET",route="/cas/login"} 1`,
		`wxcas_http_requests_total{code="4xx",method="GET",route="unmatched"} 1`,
	} {
		require.True(t, strings.Contains(out, want), "missing %s in\n%s", want, out)
	}
}
