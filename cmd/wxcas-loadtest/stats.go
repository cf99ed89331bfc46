package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// percentile returns the nearest-rank p-quantile (0 < p ≤ 1) of sorted
// latencies: the smallest value with at least p of all values at or below
// it. Nearest rank reports a latency that was measured, never one
// interpolated between two.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// median is the middle of xs (the mean of the two middle values for an
// even count); NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratioOfMedians is median(wxcas) ÷ median(floor): the figure. The
// machine's speed swings between runs, so each side is summarised by its
// median over interleaved runs before dividing, rather than averaging
// per-pair ratios. NaN when either side has no runs or the floor's median
// is not positive.
func ratioOfMedians(wxcas, floor []float64) float64 {
	m, f := median(wxcas), median(floor)
	if math.IsNaN(m) || math.IsNaN(f) || f <= 0 {
		return math.NaN()
	}
	return m / f
}

// ms formats a latency in milliseconds with two decimals, as the floor does.
func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// loadavg reads the 1, 5 and 15-minute load averages from /proc/loadavg as
// written there ("0.52,0.40,0.33"), or "n/a" where there is none.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], ",")
}

// userHZ is the unit of /proc/stat's CPU times on Linux.
const userHZ = 100

// maxSteal is the floor's own threshold (bench-floor main.go): a run in
// which the hypervisor took more CPU than this, in cores, is not clean and
// is left out of the medians, on both sides alike.
const maxSteal = 0.05

// stealMark is the machine's steal time at one moment, to measure how much
// CPU the hypervisor took from this VM during a run, as the floor reports.
type stealMark struct {
	at    time.Time
	steal float64 // seconds since boot; negative when unknown
}

func markSteal() stealMark {
	m := stealMark{at: time.Now(), steal: -1}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) > 8 && f[0] == "cpu" {
		var ticks float64
		if _, err := fmt.Sscan(f[8], &ticks); err == nil {
			m.steal = ticks / userHZ
		}
	}
	return m
}

// cores is the steal between m and a later mark, in cores; -1 when unknown.
func (m stealMark) cores(later stealMark) float64 {
	secs := later.at.Sub(m.at).Seconds()
	if m.steal < 0 || later.steal < 0 || secs <= 0 {
		return -1
	}
	return (later.steal - m.steal) / secs
}
