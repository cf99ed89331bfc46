// Command wxcas-loadtest measures a running wxcas in sandbox mode: it binds
// test people through the real browser flow (QR code, phone, SMS code),
// then runs the returning-login, SSO and validation loads, checks every
// answer, and prints rates, latencies, errors and HTTP requests per
// operation. With -floor it runs the bare-SQL floor (../shared/bench-floor)
// interleaved with wxcas and prints the ratio of medians the performance
// issue asks for. With -seed it first writes N people's live sessions,
// tickets, service records and journeys into wxcas's MySQL database, so the
// loads run among many other people's rows; -unseed removes them. See
// docs/loadtest.md.
//
// Exit codes: 0 no errors, 1 an operation (or the floor, or the seeding)
// failed, 2 bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if !errors.Is(err, errUsage) {
			for line := range strings.Lines(err.Error()) {
				fmt.Fprint(stderr, "wxcas-loadtest: ", line)
			}
			fmt.Fprintln(stderr)
		}
		return 2
	}
	if c.seed > 0 || c.unseed {
		if err := seedStep(ctx, c, stdout); err != nil {
			if ctx.Err() != nil {
				err = errors.New("interrupted")
			}
			fmt.Fprintln(stderr, "wxcas-loadtest:", err)
			return 1
		}
		if c.load == "none" {
			return 0
		}
	}
	t := newTarget(c.base, c.service, c.inbox, c.workers)
	t.emulator = c.emulator
	fmt.Fprintf(stdout, "wxcas-loadtest: base=%s service=%s load=%s workers=%d duration=%s warmup=%s pairs=%d people=%d GOMAXPROCS=%d NumCPU=%d %s\n",
		t.base, t.service, c.load, c.workers, c.duration, c.warmup, c.pairs, c.people, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())
	if err := ready(ctx, t); err != nil {
		fmt.Fprintln(stderr, "wxcas-loadtest:", err)
		return 1
	}
	start := time.Now()
	people, err := t.bindAll(ctx, makePeople(c.prefix, c.people, c.firstPhone), min(c.workers, 4))
	if err != nil {
		fmt.Fprintln(stderr, "wxcas-loadtest:", err)
		return 1
	}
	fmt.Fprintf(stdout, "bind: %d people, %d bound now, %d bound before, in %s\n",
		len(people), countNew(people), len(people)-countNew(people), time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, t.emulatorReport())

	l := &loadRun{t: t, people: people, workers: c.workers, warmup: c.warmup, duration: c.duration, fill: c.fill}
	var f *floorRunner
	if c.floor != "" {
		f = &floorRunner{bin: c.floor, dsn: c.floorDSN, workers: c.workers, warmup: c.warmup, duration: c.duration}
	}
	failed := false
	var summaries []summary
	for _, load := range c.loads() {
		s, bad := measure(ctx, stdout, l, f, load, c.pairs)
		failed = failed || bad
		summaries = append(summaries, s)
		if ctx.Err() != nil {
			break
		}
	}
	printSummaries(stdout, summaries, f != nil)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "wxcas-loadtest: interrupted")
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

// ready waits briefly for /readyz (and the emulator's /healthz), so that a
// run started right after wxcas does not count its start-up as errors.
func ready(ctx context.Context, t *target) error {
	deadline := time.Now().Add(10 * time.Second)
	checks := []string{t.base + "/readyz"}
	if t.emulator != "" {
		checks = append(checks, t.emulator+"/healthz")
	}
	for _, u := range checks {
		for {
			b := &browser{client: t.site}
			p, err := b.send(ctx, http.MethodGet, u, nil)
			if err == nil && p.status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				if err == nil {
					err = fmt.Errorf("status %d: %s", p.status, p.body)
				}
				return fmt.Errorf("%s: %w", u, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

func countNew(ps []person) int {
	n := 0
	for _, p := range ps {
		if p.isNew {
			n++
		}
	}
	return n
}

// measure runs one load pairs times, each run followed by the floor's run
// when there is a floor, and prints every run as it ends; bad reports an
// error anywhere.
func measure(ctx context.Context, w io.Writer, l *loadRun, f *floorRunner, load string, pairs int) (s summary, bad bool) {
	s.load = load
	for i := 1; i <= pairs && ctx.Err() == nil; i++ {
		r := l.run(ctx, load)
		printRun(w, i, pairs, &r)
		bad = bad || r.errors > 0
		// A run that could not start, or was interrupted, measured nothing;
		// one with errors still measured a rate (and fails the exit code).
		if r.window > 0 && ctx.Err() == nil {
			s.wxcas.add(r.rate(), r.steal)
		}
		if f == nil || ctx.Err() != nil {
			continue
		}
		fr, err := f.run(ctx, floorMode[load])
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(w, "%-9s %d/%d floor %s: failed: %v\n", load, i, pairs, floorMode[load], err)
				bad = true
			}
			continue
		}
		printFloor(w, load, i, pairs, fr, r.rate())
		bad = bad || fr.errors > 0
		s.floor.add(fr.rate, fr.steal)
	}
	return s, bad
}
