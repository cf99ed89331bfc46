package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is one measured run of one load against wxcas.
type result struct {
	load     string
	window   time.Duration   // the measured time the rate is over
	lat      []time.Duration // of the operations counted, sorted
	requests int             // HTTP requests of the operations counted
	errors   int             // failed operations, warm-up included
	firstErr error
	loadavg  [2]string // /proc/loadavg at the start and at the end
	steal    float64   // cores the hypervisor took during the run; -1 unknown
}

func (r *result) ops() int { return len(r.lat) }

func (r *result) rate() float64 {
	if r.window <= 0 {
		return 0
	}
	return float64(r.ops()) / r.window.Seconds()
}

func (r *result) requestsPerOp() float64 {
	if r.ops() == 0 {
		return 0
	}
	return float64(r.requests) / float64(r.ops())
}

// tally is one worker's part of a result, merged at the end so that the
// workers share nothing while they run.
type tally struct {
	lat      []time.Duration
	requests int
	errors   int
	firstErr error
}

func (t *tally) fail(err error) {
	t.errors++
	if t.firstErr == nil {
		t.firstErr = err
	}
}

func merge(r *result, ts []tally) {
	for _, t := range ts {
		r.lat = append(r.lat, t.lat...)
		r.requests += t.requests
		r.errors += t.errors
		if r.firstErr == nil {
			r.firstErr = t.firstErr
		}
	}
	slices.Sort(r.lat)
}

// errInterrupted ends a run that the user interrupted: it is reported, not
// counted as wxcas's failure.
var errInterrupted = errors.New("interrupted")

// errorPause is how long a worker waits after a failed operation.
const errorPause = 10 * time.Millisecond

// op is one operation by one worker: it returns the HTTP requests it sent.
type op func(ctx context.Context, worker int) (requests int, err error)

// runTimed runs op on every worker from the start. As the floor does, an
// operation counts when it finishes inside the window that opens after the
// warm-up and lasts duration, so the rate is counted ÷ duration and the two
// tools measure alike. Errors count whenever they happen. An operation
// still running at the end finishes, uncounted, rather than being cut off
// (a cut request would look like wxcas's failure).
func runTimed(ctx context.Context, workers int, warmup, duration time.Duration, do op) result {
	res := result{window: duration, loadavg: [2]string{loadavg()}}
	s0 := markSteal()
	start := time.Now()
	from, to := start.Add(warmup), start.Add(warmup+duration)
	var stop atomic.Bool
	ts := make([]tally, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := &ts[w]
			for !stop.Load() && ctx.Err() == nil {
				t0 := time.Now()
				n, err := do(ctx, w)
				end := time.Now()
				switch {
				case ctx.Err() != nil:
				case err != nil:
					t.fail(err)
					// A refusing wxcas answers at once: pause so the errors
					// are counted without flooding it.
					time.Sleep(errorPause)
				case !end.Before(from) && !end.After(to):
					t.lat = append(t.lat, end.Sub(t0))
					t.requests += n
				}
			}
		}()
	}
	select {
	case <-time.After(time.Until(to)):
	case <-ctx.Done():
	}
	stop.Store(true)
	wg.Wait()
	res.loadavg[1], res.steal = loadavg(), s0.cores(markSteal())
	merge(&res, ts)
	if ctx.Err() != nil && res.firstErr == nil {
		res.firstErr = errInterrupted
	}
	return res
}
