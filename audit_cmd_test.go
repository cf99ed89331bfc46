package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/audit"
	"wxcas/store"
)

func TestAuditCmd(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	forEachOperatorDB(t, "", func(t *testing.T, cfg string, db *store.DB) {
		ctx := context.Background()
		log := audit.NewSQL(db)
		// RequestID names each event.
		for i, e := range []audit.Event{
			{At: now.Add(-48 * time.Hour), Kind: audit.KindLogin, Outcome: audit.OK, UserID: "alice", Channel: audit.ChannelQRInline, Service: "https://a.example.edu/"},
			{At: now.Add(-20 * time.Hour), Kind: audit.KindRefusal, Outcome: audit.WrongCode, Channel: audit.ChannelOA, Phone: "+8613800138000"},
			{At: now.Add(-10 * time.Hour), Kind: audit.KindBind, Outcome: audit.OK, UserID: "alice", Channel: audit.ChannelOA, Phone: "+8613800138000"},
			{At: now.Add(-5 * time.Hour), Kind: audit.KindLogin, Outcome: audit.OK, UserID: "bob", Channel: audit.ChannelAPI, Service: "https://b.example.edu/"},
			{At: now.Add(-time.Hour), Kind: audit.KindUnbind, Outcome: audit.OK, UserID: "alice", Actor: "admin:root", Detail: "lost\tphone \x1b[2J \u202Eexe.txt"},
			{At: now.Add(-30 * time.Minute), Kind: audit.KindAdmin, Outcome: audit.OK, Actor: "cli:ops", Detail: "export bindings"},
		} {
			e.RequestID = fmt.Sprintf("e%d", i)
			require.NoError(t, log.Record(ctx, e))
		}
		audit := func(args ...string) cmdResult {
			var out, errb bytes.Buffer
			code := runAudit(ctx, append([]string{"-config", cfg}, args...), &out, &errb, clock)
			return cmdResult{code, out.String(), errb.String()}
		}
		type listing struct {
			Events       []eventView
			NextBeforeID int64 `json:"next_before_id"`
		}
		list := func(t *testing.T, args ...string) listing {
			t.Helper()
			r := audit(append(args, "--json")...)
			require.Equal(t, exitOK, r.code, r.stderr)
			var l listing
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &l), r.stdout)
			return l
		}
		names := func(l listing) []string {
			out := []string{}
			for _, e := range l.Events {
				out = append(out, e.RequestID)
			}
			return out
		}

		for _, c := range []struct {
			args []string
			want []string
		}{
			{nil, []string{"e5", "e4", "e3", "e2", "e1", "e0"}},
			{[]string{"--since", "24h"}, []string{"e5", "e4", "e3", "e2", "e1"}},
			{[]string{"--since", "2026-11-21"}, []string{"e5", "e4", "e3", "e2"}},
			{[]string{"--until", "2026-11-21T15:00:00+08:00"}, []string{"e2", "e1", "e0"}},
			{[]string{"--since", "30h", "--until", "90m"}, []string{"e3", "e2", "e1"}},
			{[]string{"--user", "alice"}, []string{"e4", "e2", "e0"}},
			{[]string{"--phone", "138 0013 8000"}, []string{"e2", "e1"}},
			{[]string{"--phone", "+86138****8000"}, []string{"e2", "e1"}},
			{[]string{"--kind", "unbind"}, []string{"e4"}},
			{[]string{"--outcome", "wrong_code"}, []string{"e1"}},
			{[]string{"--channel", "oa", "--kind", "bind"}, []string{"e2"}},
			{[]string{"--service", "https://a.example.edu/"}, []string{"e0"}},
			{[]string{"--actor", "cli:ops"}, []string{"e5"}},
			{[]string{"--user", "carol"}, []string{}},
		} {
			require.Equal(t, c.want, names(list(t, c.args...)), "%v", c.args)
		}

		// Paging: each page names the next one's cursor, the last none.
		var pages [][]string
		l := list(t, "--limit", "4")
		pages = append(pages, names(l))
		for l.NextBeforeID != 0 {
			l = list(t, "--limit", "4", "--before-id", fmt.Sprint(l.NextBeforeID))
			pages = append(pages, names(l))
		}
		require.Equal(t, [][]string{{"e5", "e4", "e3", "e2"}, {"e1", "e0"}}, pages)
		l = list(t, "--limit", "3", "--since", "24h")
		require.Equal(t, []string{"e5", "e4", "e3"}, names(l))
		l = list(t, "--limit", "3", "--since", "24h", "--before-id", fmt.Sprint(l.NextBeforeID))
		require.Equal(t, []string{"e2", "e1"}, names(l))
		require.Zero(t, l.NextBeforeID, "exactly the rest: no next page")

		r := audit("--limit", "2")
		require.Equal(t, exitOK, r.code, r.stderr)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.Len(t, lines, 4, r.stdout)
		require.Regexp(t, `^ID +TIME +KIND +OUTCOME +USER +PHONE +CHANNEL +CLIENT IP +SERVICE +ACTOR +DETAIL$`, lines[0])
		require.Regexp(t, `^\d+ +2026-11-21T11:00:00Z +unbind +ok +alice +- +- +- +- +admin:root +lost\x{FFFD}phone \x{FFFD}\[2J \x{FFFD}exe\.txt$`, lines[2])
		require.Regexp(t, `^more: add --before-id \d+$`, lines[3])
		r = audit("--phone", "13800138000")
		require.Contains(t, r.stdout, "+86138****8000")
		require.NotContains(t, r.stdout, "13800138000")
		r = audit("--user", "carol")
		require.Equal(t, exitOK, r.code)
		require.Equal(t, "no matching events\n", r.stdout)

		for _, c := range []struct {
			args []string
			err  string
		}{
			{[]string{"--since", "yesterday"}, `--since: "yesterday" is not an RFC 3339 time`},
			{[]string{"--until", "-5h"}, "--until"},
			{[]string{"--since", "1h", "--until", "2h"}, "--since must be before --until"},
			{[]string{"--limit", "0"}, "--limit must be between 1 and 1000"},
			{[]string{"--limit", "1001"}, "--limit must be between 1 and 1000"},
			{[]string{"--before-id", "-1"}, "--before-id must be positive"},
			{[]string{"--kind", "logout"}, `--kind "logout": want one of login, bind`},
			{[]string{"--phone", "12345"}, "--phone: invalid phone number"},
			{[]string{"stray"}, `unexpected argument "stray"`},
		} {
			r := audit(c.args...)
			require.Equal(t, exitBadInput, r.code, "%v: %s", c.args, r.stdout)
			require.Contains(t, r.stderr, c.err, c.args)
		}
	})
}
