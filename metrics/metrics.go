// Package metrics exposes wxcas's Prometheus metrics: HTTP traffic by route,
// and the business counters operators watch (the login funnel by step,
// channel and service; logins, bindings and refusals by outcome; SMS sends
// by result and the SMS budget; calls to WeChat by result), on their own
// registry so tests stay isolated. docs/metrics.md describes each.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"wxcas/audit"
	"wxcas/challenge"
	"wxcas/otp"
	"wxcas/sms"
	"wxcas/wechat"
)

// Metrics holds the registry and the collectors.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	events   *prometheus.CounterVec
	sms      *prometheus.CounterVec
	funnel   *prometheus.CounterVec
	wechat   *prometheus.CounterVec
	chal     *prometheus.CounterVec
	services atomic.Pointer[map[string]bool]
}

var _ Funnel = (*Metrics)(nil)

// New registers every collector on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxcas_http_requests_total", Help: "HTTP requests by route, method and status class.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wxcas_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxcas_login_events_total", Help: "Logins, bindings and refusals by kind, outcome, channel and service (the audit log, counted).",
		}, []string{"kind", "outcome", "channel", "service"}),
		sms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxcas_sms_sends_total", Help: "SMS sends by result (ok, or the failure kind).",
		}, []string{"result"}),
		funnel: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxcas_login_funnel_steps_total", Help: "Login steps taken, by step, channel and service (docs/metrics.md).",
		}, []string{"step", "channel", "service"}),
		wechat: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxcas_wechat_calls_total", Help: "Requests to WeChat's API (each attempt) by operation and result (ok, or the error kind).",
		}, []string{"op", "result"}),
		chal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxcas_sms_challenges_total", Help: "Proof-of-work challenges before an SMS code: issued, and solutions by result (solved, invalid, expired, used, too_easy).",
		}, []string{"result"}),
	}
	m.Registry.MustRegister(m.requests, m.latency, m.events, m.sms, m.funnel, m.wechat, m.chal,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// ObserveRequest records one HTTP request; route is the matched pattern (not
// the raw path, which would carry ids and blow up the label space).
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status/100)+"xx").Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// Audit counts every audit event, then passes it on.
func (m *Metrics) Audit(next audit.Log) audit.Log { return countingLog{m: m, next: next} }

type countingLog struct {
	m    *Metrics
	next audit.Log
}

func (c countingLog) Record(ctx context.Context, e audit.Event) error {
	c.m.events.WithLabelValues(e.Kind, e.Outcome, channelLabel(e.Channel), c.m.serviceLabel(e.Service)).Inc()
	return c.next.Record(ctx, e)
}

// Sender counts every SMS send by result, then passes it on.
func (m *Metrics) Sender(next sms.Sender) sms.Sender {
	return sms.SenderFunc(func(ctx context.Context, msg sms.Message) (sms.Receipt, error) {
		r, err := next.Send(ctx, msg)
		m.sms.WithLabelValues(smsResult(err)).Inc()
		return r, err
	})
}

func smsResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, sms.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, sms.ErrInvalidPhone):
		return "invalid_phone"
	case errors.Is(err, sms.ErrConfig):
		return "config"
	case errors.Is(err, sms.ErrQuota):
		return "quota"
	case errors.Is(err, sms.ErrTransport):
		return "transport"
	}
	return "provider"
}

// Challenges counts the challenges next issues and the solutions it
// redeems, by result, then passes each call on.
func (m *Metrics) Challenges(next otp.Challenger) otp.Challenger {
	return countingChallenger{m: m, next: next}
}

type countingChallenger struct {
	m    *Metrics
	next otp.Challenger
}

func (c countingChallenger) Issue(ctx context.Context, holder string, difficulty int64, ttl time.Duration) (challenge.Challenge, error) {
	ch, err := c.next.Issue(ctx, holder, difficulty, ttl)
	if err == nil {
		c.m.chal.WithLabelValues("issued").Inc()
	}
	return ch, err
}

func (c countingChallenger) Redeem(ctx context.Context, holder, payload string, minDifficulty int64) error {
	err := c.next.Redeem(ctx, holder, payload, minDifficulty)
	result := ""
	switch {
	case err == nil:
		result = "solved"
	case errors.Is(err, challenge.ErrInvalid):
		result = "invalid"
	case errors.Is(err, challenge.ErrExpired):
		result = "expired"
	case errors.Is(err, challenge.ErrUsed):
		result = "used"
	case errors.Is(err, challenge.ErrTooEasy):
		result = "too_easy"
	}
	if result != "" {
		c.m.chal.WithLabelValues(result).Inc()
	}
	return err
}

// WeChatCall counts one request to WeChat (wechat.Config.Observe): op is
// the API path, a fixed set.
func (m *Metrics) WeChatCall(op string, err error) {
	m.wechat.WithLabelValues(op, wechat.Result(err)).Inc()
}
