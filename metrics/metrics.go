// Package metrics exposes wxcas's Prometheus metrics: HTTP traffic by route,
// and the business counters operators watch (logins, bindings and refusals by
// outcome; SMS sends by result), on their own registry so tests stay isolated.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"wxcas/audit"
	"wxcas/sms"
)

// Metrics holds the registry and the collectors.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	events   *prometheus.CounterVec
	sms      *prometheus.CounterVec
}

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
			Name: "wxcas_login_events_total", Help: "Logins, bindings and refusals by kind, outcome and channel (the audit log, counted).",
		}, []string{"kind", "outcome", "channel"}),
		sms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxcas_sms_sends_total", Help: "SMS sends by result (ok, or the failure kind).",
		}, []string{"result"}),
	}
	m.Registry.MustRegister(m.requests, m.latency, m.events, m.sms,
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
	c.m.events.WithLabelValues(e.Kind, e.Outcome, e.Channel).Inc()
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
