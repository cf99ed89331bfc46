package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// The loads, in the order -load all runs them.
var allLoads = []string{"returning", "sso", "validate"}

// loadRun is what every load needs: wxcas, the bound people and the timing.
type loadRun struct {
	t                      *target
	people                 []person
	workers                int
	warmup, duration, fill time.Duration
}

// run measures one load once.
func (l *loadRun) run(ctx context.Context, load string) result {
	var r result
	switch load {
	case "returning":
		r = l.returning(ctx)
	case "sso":
		r = l.sso(ctx)
	case "validate":
		r = l.validate(ctx)
	}
	r.load = load
	return r
}

// returning: each operation is a new browser (no cookies) doing a bound
// person's whole login through to the service's validation: /cas/login,
// /login?flow (the QR page), the emulator's QR approval, /wechat/callback
// (redirect with the ticket), /cas/p3/serviceValidate. The people take
// turns.
func (l *loadRun) returning(ctx context.Context) result {
	var next atomic.Int64
	return runTimed(ctx, l.workers, l.warmup, l.duration, func(ctx context.Context, _ int) (int, error) {
		p := l.people[int(next.Add(1)-1)%len(l.people)]
		b := l.t.newBrowser()
		err := l.t.login(ctx, b, p)
		return b.requests, err
	})
}

// login is one whole login of the bound person p in b, checked at every step.
func (t *target) login(ctx context.Context, b *browser, p person) error {
	pg, err := t.qrLogin(ctx, b, p.name)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	st, err := ticketFrom(pg, t.service)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	if _, err := t.validate(ctx, b, st, p.user); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	return nil
}

// session is a worker's browser with an SSO session (the TGC cookie) of
// person p.
type session struct {
	b *browser
	p person
}

// sessions logs one browser per worker in, before the clock starts; worker
// w is person w modulo the number of people.
func (l *loadRun) sessions(ctx context.Context) ([]session, error) {
	ss := make([]session, l.workers)
	for w := range ss {
		ss[w] = session{b: l.t.newBrowser(), p: l.people[w%len(l.people)]}
		if err := l.t.login(ctx, ss[w].b, ss[w].p); err != nil {
			return nil, fmt.Errorf("SSO session for worker %d: %w", w, err)
		}
	}
	return ss, nil
}

// ssoTicket asks for a ticket with the session's cookie: /cas/login
// answers straight with the redirect to the service.
func (t *target) ssoTicket(ctx context.Context, s session) (string, error) {
	pg, err := s.b.send(ctx, http.MethodGet, t.loginURL(), nil)
	if err != nil {
		return "", fmt.Errorf("%s: SSO login: %w", s.p.name, err)
	}
	st, err := ticketFrom(pg, t.service)
	if err != nil {
		return "", fmt.Errorf("%s: SSO login: %w", s.p.name, err)
	}
	return st, nil
}

// sso: each operation is one worker's logged-in browser asking /cas/login
// for a ticket with its TGC cookie, then the service validating it.
func (l *loadRun) sso(ctx context.Context) result {
	ss, err := l.sessions(ctx)
	if err != nil {
		return setupFailed(err)
	}
	return runTimed(ctx, l.workers, l.warmup, l.duration, func(ctx context.Context, w int) (int, error) {
		s := ss[w]
		before := s.b.requests
		st, err := l.t.ssoTicket(ctx, s)
		if err == nil {
			_, err = l.t.validate(ctx, s.b, st, s.p.user)
		}
		return s.b.requests - before, err
	})
}

// validate: each operation is one /cas/p3/serviceValidate of a ticket
// issued through SSO beforehand (see runPhased); only the validation is
// timed.
func (l *loadRun) validate(ctx context.Context) result {
	ss, err := l.sessions(ctx)
	if err != nil {
		return setupFailed(err)
	}
	issue := func(ctx context.Context, w int) (ticket, error) {
		st, err := l.t.ssoTicket(ctx, ss[w])
		return ticket{st: st, user: ss[w].p.user}, err
	}
	check := func(ctx context.Context, tk ticket) (int, error) {
		var counter browser // the validation's own requests only
		_, err := l.t.validate(ctx, &counter, tk.st, tk.user)
		return counter.requests, err
	}
	return runPhased(ctx, l.workers, l.warmup, l.duration, l.fill, issue, check)
}

// setupFailed is a run that could not start: one error, nothing measured.
func setupFailed(err error) result {
	return result{errors: 1, firstErr: err, loadavg: [2]string{loadavg(), loadavg()}, steal: -1}
}
