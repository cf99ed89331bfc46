// Package audittest is the conformance suite every audit.Store must pass.
package audittest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/audit"
	"wxcas/logx"
)

var t0 = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

// Run runs the suite; newStore must return an empty, independent store.
func Run(t *testing.T, newStore func(t *testing.T) audit.Store) {
	ctx := context.Background()
	login := func(user string, at time.Time) audit.Event {
		return audit.Event{
			At: at, Kind: audit.KindLogin, Outcome: audit.OK, UserID: user,
			AppID: "wxweb", OpenID: "o-" + user, UnionID: "u-" + user, Channel: audit.ChannelQRInline,
			ClientIP: "2001:db8::1", Service: "https://app.example.edu/", RequestID: "req-" + user,
		}
	}

	t.Run("events are listed newest first with every field", func(t *testing.T) {
		s := newStore(t)
		first := login("alice", t0.Add(123456*time.Microsecond))
		second := audit.Event{
			At: t0.Add(time.Minute), Kind: audit.KindRefusal, Outcome: audit.WrongCode,
			AppID: "wxoa", OpenID: "o-x", Channel: audit.ChannelOA, ClientIP: "198.51.100.7",
			Service: "https://app.example.edu/", RequestID: "req-2", Phone: "+86138****8000",
		}
		third := audit.Event{
			At: t0.Add(2 * time.Minute), Kind: audit.KindUnbind, Outcome: audit.OK, UserID: "alice",
			Actor: "admin:root", Detail: "asked by phone, ticket 42",
		}
		for _, e := range []audit.Event{first, second, third} {
			require.NoError(t, s.Record(ctx, e))
		}
		got, err := s.List(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Len(t, got, 3)
		require.NotZero(t, got[2].ID)
		require.Less(t, got[2].ID, got[1].ID, "ids grow")
		require.Less(t, got[1].ID, got[0].ID, "ids grow")
		first.ID, second.ID, third.ID = got[2].ID, got[1].ID, got[0].ID
		require.Equal(t, []audit.Event{third, second, first}, got)
	})

	t.Run("filter by user, time and limit", func(t *testing.T) {
		s := newStore(t)
		for i := range 6 {
			user := []string{"alice", "bob"}[i%2]
			require.NoError(t, s.Record(ctx, login(user, t0.Add(time.Duration(i)*time.Minute))))
		}
		got, err := s.List(ctx, audit.Filter{UserID: "alice"})
		require.NoError(t, err)
		require.Len(t, got, 3)
		for _, e := range got {
			require.Equal(t, "alice", e.UserID)
		}
		require.True(t, got[0].At.Equal(t0.Add(4*time.Minute)), "newest first")

		got, err = s.List(ctx, audit.Filter{Since: t0.Add(3 * time.Minute)})
		require.NoError(t, err)
		require.Len(t, got, 3, "since is inclusive")

		got, err = s.List(ctx, audit.Filter{UserID: "bob", Since: t0.Add(2 * time.Minute), Limit: 1})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.True(t, got[0].At.Equal(t0.Add(5*time.Minute)))
	})

	t.Run("filters", func(t *testing.T) { runFilters(t, newStore) })
	t.Run("paging", func(t *testing.T) { runPaging(t, newStore) })

	t.Run("a whole phone number never reaches the store or the log", func(t *testing.T) {
		s := newStore(t)
		var buf logx.Buffer
		log := audit.Best(s, slog.New(slog.NewJSONHandler(&buf, nil)))
		for _, phone := range []string{"+8613800138000", "13800138000", "+86 138-0013-8000", "008613800138000"} {
			e := login("alice", t0)
			e.Kind, e.Outcome, e.Phone = audit.KindBind, audit.OK, phone
			require.NoError(t, log.Record(ctx, e))
		}
		got, err := s.List(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Len(t, got, 4)
		for _, e := range got {
			require.Contains(t, e.Phone, "****")
			require.NotContains(t, fmt.Sprintf("%+v", e), "13800138000")
			require.NotContains(t, fmt.Sprintf("%+v", e), "0013")
		}
		require.Equal(t, "+86138****8000", got[3].Phone)
		require.Equal(t, 4, strings.Count(buf.String(), `"msg":"audit"`))
		require.Contains(t, buf.String(), `"phone":"+86138****8000"`)
		require.NotContains(t, buf.Untimed(), "13800138000")
		require.NotContains(t, buf.Untimed(), "0013", "no unmasked part of the phone (timestamps aside)")
	})

	t.Run("invalid events refused", func(t *testing.T) {
		s := newStore(t)
		for _, e := range []audit.Event{
			{At: t0, Kind: "logout", Outcome: audit.OK},
			{At: t0, Kind: audit.KindLogin},
			{At: t0, Kind: audit.KindLogin, Outcome: "Wrong Code"},
			{At: t0, Kind: audit.KindRefusal, Outcome: audit.OK},
			{At: t0, Kind: audit.KindLogin, Outcome: audit.OK, Channel: "QR!"},
		} {
			require.ErrorIs(t, s.Record(ctx, e), audit.ErrInvalidEvent, "%+v", e)
		}
		got, err := s.List(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Empty(t, got)
	})

	t.Run("long or malformed text is cut, not refused", func(t *testing.T) {
		s := newStore(t)
		e := login("alice", t0)
		e.Service = "https://app.example.edu/?q=" + strings.Repeat("长", 3000) + "\xff"
		e.ClientIP = strings.Repeat("1", 500)
		e.Actor = "cli:" + strings.Repeat("r", 500)
		e.Detail = "\xfe原因" + strings.Repeat("因", 400)
		require.NoError(t, s.Record(ctx, e))
		got, err := s.List(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, 1024, len([]rune(got[0].Service)))
		require.True(t, strings.HasPrefix(got[0].Service, "https://app.example.edu/?q=长长"))
		require.Len(t, got[0].ClientIP, 64)
		require.Len(t, got[0].Actor, 160)
		require.Equal(t, 256, len([]rune(got[0].Detail)))
		require.True(t, strings.HasPrefix(got[0].Detail, "\uFFFD原因因"), "made valid UTF-8: %q", got[0].Detail[:12])
	})

	t.Run("time and request id filled in", func(t *testing.T) {
		s := newStore(t)
		before := time.Now().Add(-time.Second)
		e := login("alice", time.Time{})
		e.RequestID = ""
		require.NoError(t, s.Record(logx.WithRequestID(ctx, "req-from-ctx"), e))
		got, err := s.List(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, "req-from-ctx", got[0].RequestID)
		require.True(t, got[0].At.After(before) && got[0].At.Before(time.Now().Add(time.Second)), "at %v", got[0].At)
	})

	t.Run("cleanup removes old events only", func(t *testing.T) {
		s := newStore(t)
		for i := range 5 {
			require.NoError(t, s.Record(ctx, login("alice", t0.Add(time.Duration(i)*24*time.Hour))))
		}
		n, err := s.Cleanup(ctx, t0.Add(2*24*time.Hour))
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		got, err := s.List(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Len(t, got, 3)
		require.True(t, got[2].At.Equal(t0.Add(2*24*time.Hour)))
		n, err = s.Cleanup(ctx, t0)
		require.NoError(t, err)
		require.Zero(t, n)
	})

	t.Run("concurrent records are all kept", func(t *testing.T) {
		s := newStore(t)
		const n = 20
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Record(ctx, login(fmt.Sprintf("user%d", i), t0))
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		got, err := s.List(ctx, audit.Filter{Limit: 1000})
		require.NoError(t, err)
		require.Len(t, got, n)
	})
}
