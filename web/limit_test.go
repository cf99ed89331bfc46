package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
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
	// A start counts 2: itself and the WeChat answer its first state leads
	// to.
	e, starts := limitedEnv(t, 6)
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

func TestWeChatStatesAndStrayCallbacksAreLimitedPerAddress(t *testing.T) {
	e, starts := limitedEnv(t, 5)
	b := e.browser()
	id := b.start() // 2
	_, first := b.qr(id)
	_, again := b.qr(id)
	require.Equal(t, first, again, "a reload shows the journey's first state again, counted with its start")
	e.browser().start() // 4
	require.EqualValues(t, 2, starts.Load())

	// A callback WeChat refuses spends the state; every further state
	// counts, since each can bring an exchange with WeChat.
	requireText(t, b.scan(first, "never-issued"), "wechat_failed")
	require.Equal(t, 1, e.wx.calls)
	_, state := b.qr(id) // 5
	require.NotEqual(t, first, state)
	requireTooMany(t, b.get(flowPath(id)), "60")
	// So does a callback with a state no journey of this browser issued,
	// refused over the limit before anything is looked up.
	requireTooMany(t, b.scan("bogus", "c1"), "60")
	require.Equal(t, 1, e.wx.calls, "no call to WeChat")

	// The callback with its journey's state was counted with the state:
	// it goes on, over the limit.
	e.wx.issue(appWeb, "c1", person("alice"), nil)
	p := b.scan(state, "c1")
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, flowPath(id), p.Location)
	require.Equal(t, 2, e.wx.calls)
	requireText(t, b.get(p.Location), "bind_title")

	// In the next window logins go on as before.
	e.clock.Advance(time.Minute)
	e.wx.issue(appWeb, "c2", person("bob"), nil)
	b2 := e.browser()
	id2 := b2.start()
	_, state2 := b2.qr(id2)
	require.Equal(t, http.StatusSeeOther, b2.scan(state2, "c2").Status)

	// Over the limit, a journey's state presented by another browser
	// still ends that journey (a link passed on must stay worthless).
	e.clock.Advance(time.Minute)
	e.wx.issue(appWeb, "c3", person("carol"), nil)
	b3 := e.browser()
	id3 := b3.start()
	_, state3 := b3.qr(id3)
	for range 3 {
		e.browser().scan("bogus", "x")
	}
	requireTooMany(t, e.browser().scan(state3, "c3"), "60")
	p = b3.scan(state3, "c3")
	require.NotEqual(t, http.StatusSeeOther, p.Status, "the journey was ended")
	requireText(t, b3.get(flowPath(id3)), "login_ended")
	require.Equal(t, 3, e.wx.calls)
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

// A state pays for one exchange with WeChat. Callbacks beyond it count on
// their own: those that lose the race to the journey's write (found by an
// outside probe: 50 at once made 12 exchanges for one count), and repeats
// with a code WeChat already exchanged (each asked WeChat and waited ~3 s
// for a first callback that never came, without bound).
func TestCallbacksBeyondTheStateCount(t *testing.T) {
	t.Run("concurrent callbacks with one state", func(t *testing.T) {
		e, _ := limitedEnv(t, 5)
		b := e.browser()
		id := b.start() // 2
		_, state := b.qr(id)
		const n = 8
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { b.scan(state, fmt.Sprint("bogus-", i)) })
		}
		wg.Wait()
		require.LessOrEqual(t, e.wx.calls, n)
		// One of them was the state's exchange; the other 7 counted:
		// 2 + 7 is over 5, where 2 alone would let a start (2) through.
		requireTooMany(t, e.browser().get("/cas/login?service="+url.QueryEscape(service)), "60")
	})
	t.Run("a code WeChat already exchanged", func(t *testing.T) {
		e, _ := limitedEnv(t, 4)
		b := e.browser()
		id := b.start() // 2
		_, state := b.qr(id)
		e.wx.issue(appWeb, "spent", person("mallory"), nil)
		_, err := e.wx.Identify(context.Background(), appWeb, "spent")
		require.NoError(t, err)
		p := b.scan(state, "spent") // waits for a first callback, in vain
		requireText(t, p, "state_invalid")
		// Counted: 3, and a start (2) is over 4; uncounted it would fit.
		requireTooMany(t, e.browser().get("/cas/login?service="+url.QueryEscape(service)), "60")
	})
}
