package audittest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/audit"
)

// requestIDs are the events' request ids, in their order.
func requestIDs(events []audit.Event) []string {
	out := []string{}
	for _, e := range events {
		out = append(out, e.RequestID)
	}
	return out
}

func runFilters(t *testing.T, newStore func(t *testing.T) audit.Store) {
	ctx := context.Background()
	s := newStore(t)
	// One event per line, a minute apart; RequestID names it.
	events := []audit.Event{
		{Kind: audit.KindLogin, Outcome: audit.OK, UserID: "alice", Channel: audit.ChannelQRInline, Service: "https://a.example.edu/"},
		{Kind: audit.KindRefusal, Outcome: audit.WrongCode, Channel: audit.ChannelOA, Phone: "+8613800138000", Service: "https://b.example.edu/"},
		{Kind: audit.KindBind, Outcome: audit.OK, UserID: "alice", Channel: audit.ChannelOA, Phone: "+8613800138000"},
		{Kind: audit.KindLogin, Outcome: audit.OK, UserID: "bob", Channel: audit.ChannelAPI, Service: "https://a.example.edu/"},
		{Kind: audit.KindUnbind, Outcome: audit.OK, UserID: "alice", Actor: "admin:root", Detail: "lost phone"},
		{Kind: audit.KindPhoneChange, Outcome: audit.OK, UserID: "bob", Phone: "+8613900139000"},
		{Kind: audit.KindAdmin, Outcome: audit.OK, Actor: "cli:ops", Detail: "export bindings"},
	}
	for i, e := range events {
		e.At, e.RequestID = t0.Add(time.Duration(i)*time.Minute), fmt.Sprintf("e%d", i)
		require.NoError(t, s.Record(ctx, e))
	}
	for _, c := range []struct {
		name string
		f    audit.Filter
		want []string // newest first
	}{
		{"everything", audit.Filter{}, []string{"e6", "e5", "e4", "e3", "e2", "e1", "e0"}},
		{"user", audit.Filter{UserID: "alice"}, []string{"e4", "e2", "e0"}},
		{"whole phone, matched masked", audit.Filter{Phone: "+8613800138000"}, []string{"e2", "e1"}},
		{"phone already masked", audit.Filter{Phone: "+86138****8000"}, []string{"e2", "e1"}},
		{"another number with the same masked form", audit.Filter{Phone: "+8613811118000"}, []string{"e2", "e1"}},
		{"an unknown phone", audit.Filter{Phone: "+8613700137000"}, []string{}},
		{"kind", audit.Filter{Kind: audit.KindLogin}, []string{"e3", "e0"}},
		{"new kinds", audit.Filter{Kind: audit.KindPhoneChange}, []string{"e5"}},
		{"outcome", audit.Filter{Outcome: audit.WrongCode}, []string{"e1"}},
		{"channel", audit.Filter{Channel: audit.ChannelOA}, []string{"e2", "e1"}},
		{"service", audit.Filter{Service: "https://a.example.edu/"}, []string{"e3", "e0"}},
		{"actor", audit.Filter{Actor: "admin:root"}, []string{"e4"}},
		{"since is inclusive", audit.Filter{Since: t0.Add(5 * time.Minute)}, []string{"e6", "e5"}},
		{"until is exclusive", audit.Filter{Until: t0.Add(2 * time.Minute)}, []string{"e1", "e0"}},
		{"a time window", audit.Filter{Since: t0.Add(time.Minute), Until: t0.Add(3*time.Minute + time.Second)}, []string{"e3", "e2", "e1"}},
		{"every filter at once", audit.Filter{
			UserID: "alice", Phone: "+8613800138000", Kind: audit.KindBind, Outcome: audit.OK, Channel: audit.ChannelOA,
			Since: t0, Until: t0.Add(time.Hour),
		}, []string{"e2"}},
		{"filters combine (and)", audit.Filter{UserID: "bob", Kind: audit.KindUnbind}, []string{}},
		{"limit", audit.Filter{UserID: "alice", Limit: 2}, []string{"e4", "e2"}},
	} {
		got, err := s.List(ctx, c.f)
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, requestIDs(got), c.name)
	}
	got, err := s.List(ctx, audit.Filter{Actor: "cli:ops"})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "export bindings", got[0].Detail)
}

func runPaging(t *testing.T, newStore func(t *testing.T) audit.Store) {
	ctx := context.Background()

	// pages lists every page of f, following BeforeID from each page's
	// last event.
	pages := func(t *testing.T, s audit.Store, f audit.Filter) [][]string {
		var out [][]string
		for range 100 {
			got, err := s.List(ctx, f)
			require.NoError(t, err)
			if len(got) == 0 {
				return out
			}
			out = append(out, requestIDs(got))
			f.BeforeID = got[len(got)-1].ID
		}
		t.Fatal("paging does not end")
		return nil
	}

	t.Run("every event once, newest first, across pages", func(t *testing.T) {
		s := newStore(t)
		for i := range 25 {
			user := []string{"alice", "bob"}[i%2]
			require.NoError(t, s.Record(ctx, audit.Event{
				At: t0.Add(time.Duration(i) * time.Second), Kind: audit.KindLogin, Outcome: audit.OK, UserID: user, RequestID: fmt.Sprintf("e%02d", i),
			}))
		}
		got := pages(t, s, audit.Filter{Limit: 10})
		require.Len(t, got, 3)
		require.Equal(t, []string{"e24", "e23", "e22", "e21", "e20", "e19", "e18", "e17", "e16", "e15"}, got[0])
		require.Equal(t, []string{"e04", "e03", "e02", "e01", "e00"}, got[2])

		got = pages(t, s, audit.Filter{UserID: "bob", Since: t0.Add(5 * time.Second), Limit: 3})
		require.Equal(t, [][]string{{"e23", "e21", "e19"}, {"e17", "e15", "e13"}, {"e11", "e09", "e07"}, {"e05"}}, got, "with filters")
	})

	t.Run("events of one instant and events recorded late are neither lost nor repeated", func(t *testing.T) {
		s := newStore(t)
		// Recording order is not time order: another instance's clock, or
		// an event recorded after a slow step.
		ats := []time.Duration{0, 0, 0, 5, 3, 3, 9, 1, 3, 7}
		for i, d := range ats {
			require.NoError(t, s.Record(ctx, audit.Event{
				At: t0.Add(d * time.Second), Kind: audit.KindLogin, Outcome: audit.OK, RequestID: fmt.Sprintf("e%d", i),
			}))
		}
		all, err := s.List(ctx, audit.Filter{})
		require.NoError(t, err)
		want := requestIDs(all)
		require.Equal(t, []string{"e6", "e9", "e3", "e8", "e5", "e4", "e7", "e2", "e1", "e0"}, want, "by time, then id")
		var paged []string
		for _, p := range pages(t, s, audit.Filter{Limit: 3}) {
			paged = append(paged, p...)
		}
		require.Equal(t, want, paged)
	})

	t.Run("a cursor no longer stored lists nothing", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Record(ctx, audit.Event{At: t0, Kind: audit.KindLogin, Outcome: audit.OK}))
		got, err := s.List(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Len(t, got, 1)
		got, err = s.List(ctx, audit.Filter{BeforeID: got[0].ID + 1000})
		require.NoError(t, err)
		require.Empty(t, got)
	})
}
