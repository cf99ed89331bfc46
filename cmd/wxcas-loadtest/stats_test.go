package main

import (
	"math"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.50, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0.001, time.Millisecond}} {
		if got := percentile(lat, c.p); got != c.want {
			t.Errorf("p%v of 1..100 ms = %v, want %v", c.p, got, c.want)
		}
	}
	// Few samples: p99 is the largest, p50 the lower middle (rank ceil(0.5·4) = 2).
	few := []time.Duration{1, 2, 3, 4}
	if got := percentile(few, 0.99); got != 4 {
		t.Errorf("p99 of 4 samples = %v, want the largest", got)
	}
	if got := percentile(few, 0.5); got != 2 {
		t.Errorf("p50 of 4 samples = %v, want the 2nd", got)
	}
	if got := percentile([]time.Duration{7}, 0.5); got != 7 {
		t.Errorf("p50 of one sample = %v", got)
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("p50 of nothing = %v, want 0", got)
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median of 3,1,2 = %v", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of 4,1,3,2 = %v, want 2.5", got)
	}
	xs := []float64{3, 1, 2}
	median(xs)
	if xs[0] != 3 {
		t.Error("median sorted its argument in place")
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
}

func TestRatioOfMedians(t *testing.T) {
	// Three interleaved pairs: medians 200 and 2500 (mean of 2000 and 3000).
	got := ratioOfMedians([]float64{100, 300, 200}, []float64{1000, 2000, 4000, 3000})
	if math.Abs(got-0.08) > 1e-12 {
		t.Errorf("ratio = %v, want 200/2500 = 0.08", got)
	}
	// Not the mean of per-pair ratios: one slow floor run does not skew it.
	got = ratioOfMedians([]float64{100, 100, 100}, []float64{1000, 1000, 10})
	if got != 0.1 {
		t.Errorf("ratio with one outlier floor run = %v, want 0.1", got)
	}
	for _, c := range []struct{ w, f []float64 }{{nil, []float64{1}}, {[]float64{1}, nil}, {[]float64{1}, []float64{0}}} {
		if r := ratioOfMedians(c.w, c.f); !math.IsNaN(r) {
			t.Errorf("ratio of %v ÷ %v = %v, want NaN", c.w, c.f, r)
		}
	}
}

func TestSideLeavesOutStolenRuns(t *testing.T) {
	var s side
	s.add(100, 0.01)
	s.add(50, 0.2) // the hypervisor took 0.2 cores: not clean
	s.add(300, -1) // unknown: nothing says it is not clean
	if s.runs != 3 || len(s.clean) != 2 || median(s.clean) != 200 {
		t.Errorf("runs %d, clean %v; want 3 runs, 100 and 300 kept", s.runs, s.clean)
	}
	if d := s.describe(); d != "200.0/s (median of 2 runs; 1 left out for steal > 0.05)" {
		t.Errorf("describe = %q", d)
	}
}

func TestStealMark(t *testing.T) {
	a := stealMark{at: time.Unix(0, 0), steal: 10}
	b := stealMark{at: time.Unix(2, 0), steal: 11}
	if c := a.cores(b); c != 0.5 {
		t.Errorf("1 s stolen in 2 s = %v cores, want 0.5", c)
	}
	if c := a.cores(stealMark{at: time.Unix(2, 0), steal: -1}); c != -1 {
		t.Errorf("unknown steal = %v, want -1", c)
	}
}
