// Package metricstest reads a Prometheus registry in tests: the value of a
// series, the sum over series matching some labels, every label value.
package metricstest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Series is one series of a gathered registry.
type Series struct {
	Name   string
	Labels map[string]string
	Value  float64 // a counter's or gauge's value; a histogram's count
}

// Gather returns every series of g.
func Gather(t testing.TB, g prometheus.Gatherer) []Series {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []Series
	for _, f := range families {
		for _, m := range f.GetMetric() {
			s := Series{Name: f.GetName(), Labels: map[string]string{}, Value: value(m)}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Summary != nil:
		return float64(m.Summary.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// Sum adds up the series named name whose labels include every pair of
// match (nil matches all of them).
func Sum(t testing.TB, g prometheus.Gatherer, name string, match map[string]string) float64 {
	t.Helper()
	var total float64
	for _, s := range Gather(t, g) {
		if s.Name == name && includes(s.Labels, match) {
			total += s.Value
		}
	}
	return total
}

// Names lists the metric names g has at least one series of.
func Names(t testing.TB, g prometheus.Gatherer) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, s := range Gather(t, g) {
		names[s.Name] = true
	}
	return names
}

func includes(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}
