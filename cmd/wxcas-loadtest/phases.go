package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// maxFillPerWorker bounds the tickets one worker issues in a fill phase, so
// that a fast machine does not hold thousands of tickets near their expiry.
const maxFillPerWorker = 500

// ticket is a service ticket waiting to be validated, with the user it
// must name.
type ticket struct{ st, user string }

// issueFunc issues one ticket on a worker's SSO session.
type issueFunc func(ctx context.Context, worker int) (ticket, error)

// checkFunc validates one ticket; it returns the HTTP requests it sent.
type checkFunc func(ctx context.Context, tk ticket) (requests int, err error)

// runPhased measures validation alone. Service tickets live seconds
// (cas.service_ticket_ttl, 10 s by default), so they cannot all be obtained
// before a run of 20 s; instead every worker issues tickets through its SSO
// session for up to fill (not timed), then all workers validate that pool
// (timed), and again. Only validation runs while the clock runs, so the
// server does nothing else then. The clock counts validation-phase time
// only: the first warmup of it is not counted, then duration of it is, and
// the rate is validations ÷ duration. Failed issues count as errors too.
func runPhased(ctx context.Context, workers int, warmup, duration, fill time.Duration, issue issueFunc, check checkFunc) result {
	res := result{window: duration, loadavg: [2]string{loadavg()}}
	s0 := markSteal()
	ts := make([]tally, workers)
	var clock time.Duration // validation-phase time so far
	end := warmup + duration
	for clock < end && ctx.Err() == nil {
		pool := fillPool(ctx, workers, fill, issue, ts)
		if len(pool) == 0 {
			if ctx.Err() == nil {
				ts[0].fail(errors.New("a fill phase issued no ticket: the validations cannot go on"))
			}
			break
		}
		clock = validatePool(ctx, workers, pool, clock, warmup, end, check, ts)
	}
	res.loadavg[1], res.steal = loadavg(), s0.cores(markSteal())
	merge(&res, ts)
	if ctx.Err() != nil && res.firstErr == nil {
		res.firstErr = errInterrupted
	}
	return res
}

// fillPool has every worker issue tickets for up to fill.
func fillPool(ctx context.Context, workers int, fill time.Duration, issue issueFunc, ts []tally) []ticket {
	deadline := time.Now().Add(fill)
	got := make([][]ticket, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(got[w]) < maxFillPerWorker && time.Now().Before(deadline) && ctx.Err() == nil {
				tk, err := issue(ctx, w)
				switch {
				case ctx.Err() != nil:
				case err != nil:
					ts[w].fail(fmt.Errorf("issuing a ticket to validate: %w", err))
					time.Sleep(errorPause) // as in runTimed
				default:
					got[w] = append(got[w], tk)
				}
			}
		}()
	}
	wg.Wait()
	var pool []ticket
	for _, g := range got {
		pool = append(pool, g...)
	}
	return pool
}

// validatePool validates the pool on every worker and returns the clock
// after this phase. A validation counts when the clock at its end is
// inside [warmup, end]; once past end, the phase stops.
func validatePool(ctx context.Context, workers int, pool []ticket, clock, warmup, end time.Duration, check checkFunc, ts []tally) time.Duration {
	start := time.Now()
	var next atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := &ts[w]
			for !stop.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(pool) {
					return
				}
				t0 := time.Now()
				n, err := check(ctx, pool[i])
				done := time.Now()
				at := clock + done.Sub(start)
				switch {
				case ctx.Err() != nil:
				case err != nil:
					t.fail(err)
				case at > end:
					stop.Store(true)
				case at >= warmup:
					t.lat = append(t.lat, done.Sub(t0))
					t.requests += n
				}
			}
		}()
	}
	wg.Wait()
	return clock + time.Since(start)
}
