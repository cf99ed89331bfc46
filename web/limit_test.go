package web

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/journey"
	"wxcas/ratelimit"
	"wxcas/store/storetest"
)

// countedStarts counts the journeys the engine was asked to start: a start
// refused before it creates no journey row.
type countedStarts struct {
	journey.Journeys
	n *atomic.Int64
}

func (c countedStarts) Start(ctx context.Context, s journey.Start) (*journey.Journey, error) {
	c.n.Add(1)
	return c.Journeys.Start(ctx, s)
}

// limitedEnv is a browser login allowing max journey starts and WeChat
// callbacks a minute per client address (every test browser is 127.0.0.1).
func limitedEnv(t *testing.T, max int) (*env, *atomic.Int64) {
	starts := new(atomic.Int64)
	e := newEnv(t, func(o *LoginOptions) {
		o.Limiter = ratelimit.Limiter{DB: storetest.SQLite(t), Table: "login_rate_counters"}
		o.PerIP = ratelimit.Limit{Max: max, Window: time.Minute}
		o.Engine = countedStarts{Journeys: o.Engine, n: starts}
	})
	return e, starts
}

func requireTooMany(t *testing.T, p page, retryAfter string) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, p.Status, p.Body)
	require.Equal(t, retryAfter, p.Header.Get("Retry-After"))
	requireText(t, p, "error_too_many")
	require.Empty(t, p.Location)
}

func TestJourneyStartsAreLimitedPerAddress(t *testing.T) {
	e, starts := limitedEnv(t, 3)
	for range 3 {
		e.browser().start()
	}
	require.EqualValues(t, 3, starts.Load())

	e.clock.Advance(20 * time.Second)
	b := e.browser()
	p := b.get("/cas/login?service=" + url.QueryEscape(service))
	requireTooMany(t, p, "40")
	require.EqualValues(t, 3, starts.Load(), "no journey started")
	require.Empty(t, b.client.Jar.Cookies(mustURL(t, e.public+"/")), "and none held by the browser")
	requireTooMany(t, b.get("/cas/login?service="+url.QueryEscape(service)), "40")

	e.clock.Advance(40 * time.Second)
	id := b.start()
	_, state := b.qr(id)
	require.NotEmpty(t, state, "a new window: logins start as before")
	require.EqualValues(t, 4, starts.Load())
}

func TestWeChatCallbacksAreLimitedPerAddress(t *testing.T) {
	e, starts := limitedEnv(t, 2)
	b := e.browser()
	id := b.start()
	_, state := b.qr(id) // the journey's own pages do not count
	e.browser().start()
	require.EqualValues(t, 2, starts.Load())

	e.wx.issue(appWeb, "c1", person("alice"), nil)
	requireTooMany(t, b.scan(state, "c1"), "60")
	requireTooMany(t, b.scan(state, "bogus"), "60")
	require.Zero(t, e.wx.calls, "no call to WeChat over the limit")

	// The refused callback used nothing up: in the next window the same
	// callback logs the person in.
	e.clock.Advance(time.Minute)
	p := b.scan(state, "c1")
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, flowPath(id), p.Location)
	require.Equal(t, 1, e.wx.calls)
	p = b.get(p.Location)
	requireText(t, p, "bind_title")
}

func TestNoLimitWhenOff(t *testing.T) {
	e, starts := limitedEnv(t, 0)
	for range 10 {
		e.browser().start()
	}
	require.EqualValues(t, 10, starts.Load())
}

func TestLimitNeedsALimiter(t *testing.T) {
	e := newEnv(t)
	o := e.login.o
	o.PerIP = ratelimit.Limit{Max: 1, Window: time.Minute}
	_, err := NewLogin(o)
	require.ErrorContains(t, err, "Limiter")
}
