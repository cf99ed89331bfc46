package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// floorMode is the floor's -mode that each load is compared with, as the
// issue pairs them: a returning login with the floor's login (statements
// 1-7), SSO and validation alone with its validate (issue + validate).
var floorMode = map[string]string{"returning": "login", "sso": "validate", "validate": "validate"}

// floorResult is one run of the bare-SQL floor (../shared/bench-floor),
// read from its output.
type floorResult struct {
	mode       string
	rate       float64 // logins/s or validations/s
	p50, p99   time.Duration
	sequences  int
	errors     int
	steal      float64 // cores the hypervisor took; -1 when not printed
	warnings   []string
	firstError string
	loadavg    [2]string
}

// floorRunner runs the floor binary with wxcas's workers and timing.
type floorRunner struct {
	bin, dsn         string
	workers          int
	warmup, duration time.Duration
}

// run runs the floor once in mode. Its database (in -dsn) is dropped and
// recreated by the floor at every run, as its README says.
func (f *floorRunner) run(ctx context.Context, mode string) (floorResult, error) {
	cmd := exec.CommandContext(ctx, f.bin, "-dsn", f.dsn, "-mode", mode, "-workers", strconv.Itoa(f.workers),
		"-duration", f.duration.String(), "-warmup", f.warmup.String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := loadavg()
	err := cmd.Run()
	end := loadavg()
	if err != nil {
		return floorResult{mode: mode}, fmt.Errorf("floor -mode %s: %w: %s", mode, err, strings.TrimSpace(stderr.String()+"\n"+lastLines(stdout.String(), 3)))
	}
	r, err := parseFloor(stdout.String())
	if err != nil {
		return r, fmt.Errorf("floor -mode %s: %w", mode, err)
	}
	r.mode, r.loadavg = mode, [2]string{start, end}
	return r, nil
}

// parseFloor reads the floor's output (main.go of bench-floor), of which it
// needs these lines:
//
//	result: logins/s=1987.0 p50=7.54ms p90=11.10ms p99=18.09ms max=40.00ms statements/s=13910 round-trips/s=13910 sequences=39740 errors=0
//	cpu: floor=0.35 cores mariadbd(pid 123)=1.50 cores machine=1.90 of 2 cores busy, steal=0.00 cores
//	warning: the hypervisor took 0.09 cores (steal > 0.05): this run is not a clean floor; repeat it
//	first error: ...
func parseFloor(out string) (floorResult, error) {
	r := floorResult{steal: -1}
	found := false
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "result:"):
			if err := r.parseResult(strings.TrimPrefix(line, "result:")); err != nil {
				return r, fmt.Errorf("%w in %q", err, line)
			}
			found = true
		case strings.HasPrefix(line, "cpu:"):
			if _, after, ok := strings.Cut(line, "steal="); ok {
				v, _, _ := strings.Cut(after, " ")
				if s, err := strconv.ParseFloat(v, 64); err == nil {
					r.steal = s
				}
			}
		case strings.HasPrefix(line, "warning:"):
			r.warnings = append(r.warnings, strings.TrimSpace(strings.TrimPrefix(line, "warning:")))
		case strings.HasPrefix(line, "first error:"):
			r.firstError = strings.TrimSpace(strings.TrimPrefix(line, "first error:"))
		}
	}
	if !found {
		return r, fmt.Errorf("no result: line in its output: %q", lastLines(out, 3))
	}
	return r, nil
}

// parseResult reads the key=value fields of the result: line.
func (r *floorResult) parseResult(fields string) error {
	seen := map[string]bool{}
	for _, f := range strings.Fields(fields) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "logins/s", "validations/s":
			r.rate, err = strconv.ParseFloat(v, 64)
			k = "rate"
		case "p50":
			r.p50, err = floorDuration(v)
		case "p99":
			r.p99, err = floorDuration(v)
		case "sequences":
			r.sequences, err = strconv.Atoi(v)
		case "errors":
			r.errors, err = strconv.Atoi(v)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("field %s: %w", k, err)
		}
		seen[k] = true
	}
	for _, k := range []string{"rate", "p50", "p99", "errors"} {
		if !seen[k] {
			return fmt.Errorf("no %s field", k)
		}
	}
	return nil
}

// floorDuration reads "7.54ms", or "n/a" (no sequence finished) as 0.
func floorDuration(v string) (time.Duration, error) {
	if v == "n/a" {
		return 0, nil
	}
	return time.ParseDuration(v)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
