package main

import (
	"fmt"
	"io"
	"math"
)

// side is one side's runs of one load: every rate measured, and those
// clean enough for the median.
type side struct {
	runs  int
	clean []float64
}

func (s *side) add(rate, steal float64) {
	s.runs++
	if steal <= maxSteal { // unknown (-1) counts as clean: nothing says otherwise
		s.clean = append(s.clean, rate)
	}
}

func (s side) describe() string {
	if s.runs == 0 {
		return "no runs measured"
	}
	d := fmt.Sprintf("%.1f/s (median of %d runs", median(s.clean), len(s.clean))
	if left := s.runs - len(s.clean); left > 0 {
		d += fmt.Sprintf("; %d left out for steal > %.2f", left, maxSteal)
	}
	return d + ")"
}

// summary is one load's runs on both sides.
type summary struct {
	load         string
	wxcas, floor side
}

func stealText(s float64) string {
	if s < 0 {
		return "n/a"
	}
	t := fmt.Sprintf("%.2f", s)
	if s > maxSteal {
		t += "(not clean)"
	}
	return t
}

func printRun(w io.Writer, i, n int, r *result) {
	fmt.Fprintf(w, "%-9s %d/%d wxcas: ops/s=%.1f p50=%s p99=%s errors=%d ops=%d requests/op=%.2f steal=%s loadavg=%s->%s\n",
		r.load, i, n, r.rate(), ms(percentile(r.lat, 0.50)), ms(percentile(r.lat, 0.99)), r.errors, r.ops(), r.requestsPerOp(),
		stealText(r.steal), r.loadavg[0], r.loadavg[1])
	if r.firstErr != nil {
		fmt.Fprintf(w, "%-9s %d/%d wxcas: first error: %v\n", r.load, i, n, r.firstErr)
	}
}

func printFloor(w io.Writer, load string, i, n int, f floorResult, wxcasRate float64) {
	ratio := math.NaN()
	if f.rate > 0 {
		ratio = wxcasRate / f.rate
	}
	fmt.Fprintf(w, "%-9s %d/%d floor %s: ops/s=%.1f p50=%s p99=%s errors=%d steal=%s loadavg=%s->%s pair-ratio=%.3f\n",
		load, i, n, f.mode, f.rate, ms(f.p50), ms(f.p99), f.errors, stealText(f.steal), f.loadavg[0], f.loadavg[1], ratio)
	for _, m := range f.warnings {
		fmt.Fprintf(w, "%-9s %d/%d floor %s: warning: %s\n", load, i, n, f.mode, m)
	}
	if f.firstError != "" {
		fmt.Fprintf(w, "%-9s %d/%d floor %s: first error: %s\n", load, i, n, f.mode, f.firstError)
	}
}

// printSummaries prints each load's median and, with the floor, the ratio
// of medians (wxcas ÷ floor).
func printSummaries(w io.Writer, ss []summary, withFloor bool) {
	for _, s := range ss {
		if !withFloor {
			fmt.Fprintf(w, "summary %-9s wxcas %s\n", s.load, s.wxcas.describe())
			continue
		}
		fmt.Fprintf(w, "summary %-9s wxcas %s ÷ floor %s %s = ratio %.3f\n",
			s.load, s.wxcas.describe(), floorMode[s.load], s.floor.describe(), ratioOfMedians(s.wxcas.clean, s.floor.clean))
	}
}
