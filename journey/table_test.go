package journey

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckTable(t *testing.T) {
	require.NoError(t, CheckTable())
}

// copyTable returns a deep copy of the table that a test may break without
// touching the real one.
func copyTable() map[State]map[EventKind]transition {
	out := make(map[State]map[EventKind]transition, len(table))
	for s, row := range table {
		r := make(map[EventKind]transition, len(row))
		for ev, tr := range row {
			tr.To = append([]State(nil), tr.To...)
			r[ev] = tr
		}
		out[s] = r
	}
	return out
}

// arrows lists a table's transitions as "from --event--> to" (guards are
// functions, which cannot be compared).
func arrows(tb map[State]map[EventKind]transition) []string {
	var out []string
	for s, row := range tb {
		for ev, tr := range row {
			for _, to := range tr.To {
				out = append(out, fmt.Sprintf("%s --%s--> %s (guarded: %t)", s, ev, to, tr.Guard != nil))
			}
		}
	}
	slices.Sort(out)
	return out
}

// Each way a table can be broken is caught, and named, by checkTable: the
// start-up check is only worth having if it refuses these.
func TestCheckTableRefusesBrokenTables(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(tb map[State]map[EventKind]transition)
		want   string
	}{
		{"unknown target state", func(tb map[State]map[EventKind]transition) {
			tb[CodeSent][EvCode] = transition{To: []State{"verified"}}
		}, `code_sent --code--> unknown state "verified"`},
		{"unknown source state", func(tb map[State]map[EventKind]transition) {
			tb["limbo"] = map[EventKind]transition{EvCancel: {To: []State{Failed}}}
		}, `unknown state "limbo"`},
		{"unknown event", func(tb map[State]map[EventKind]transition) {
			tb[CodeSent]["shout"] = transition{To: []State{CodeSent}}
		}, `code_sent: unknown event "shout"`},
		{"no target state", func(tb map[State]map[EventKind]transition) {
			tb[Bound][EvFinish] = transition{}
		}, "bound --finish-->: no target state"},
		{"unreachable state", func(tb map[State]map[EventKind]transition) {
			// Only the WeChat code leads to Identified.
			tr := tb[WeChatPending][EvWeChatCode]
			tr.To = []State{PhoneRequested, WeChatPending, Failed}
			tb[WeChatPending][EvWeChatCode] = tr
		}, "state identified cannot be reached from wechat_pending"},
		{"terminal state leading elsewhere", func(tb map[State]map[EventKind]transition) {
			tb[Failed][EvCancel] = transition{To: []State{WeChatPending}}
		}, "terminal state failed leads to wechat_pending on cancel"},
		{"finished journey restarted", func(tb map[State]map[EventKind]transition) {
			tb[Finished][EvCode] = transition{To: []State{Bound}, Guard: withinGrace}
		}, "terminal state finished leads to bound on code"},
		{"unused event", func(tb map[State]map[EventKind]transition) {
			delete(tb[CodeSent], EvResend)
		}, "event resend is taken in no state"},
		{"state without a row", func(tb map[State]map[EventKind]transition) {
			delete(tb, Failed)
		}, "state failed has no row"},
		{"dead end: a state that cannot finish", func(tb map[State]map[EventKind]transition) {
			// Bound without Finish can still fail, never finish.
			delete(tb[Bound], EvFinish)
		}, "state bound cannot reach finished"},
		{"dead end: a state that cannot fail", func(tb map[State]map[EventKind]transition) {
			delete(tb[Identified], EvCancel)
		}, "state identified cannot reach failed"},
	}
	before := arrows(table)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := copyTable()
			c.mutate(tb)
			err := checkTable(tb)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}

	t.Run("the copies did not touch the real table", func(t *testing.T) {
		require.NoError(t, CheckTable())
		require.Equal(t, before, arrows(table))
	})

	t.Run("every problem is reported, not just the first", func(t *testing.T) {
		tb := copyTable()
		delete(tb[CodeSent], EvResend)
		tb[Failed][EvCancel] = transition{To: []State{WeChatPending}}
		err := checkTable(tb)
		require.ErrorContains(t, err, "event resend is taken in no state")
		require.ErrorContains(t, err, "terminal state failed leads to wechat_pending on cancel")
	})
}

// The lists the table is checked against are complete and free of
// repeats: a state or event missing from them would be "unknown" to the
// check and to the walk in engine_test.go.
func TestStatesAndEventsListed(t *testing.T) {
	require.Len(t, States, 7)
	require.Len(t, EventKinds, 9)
	seenS := map[State]bool{}
	for _, s := range States {
		require.False(t, seenS[s], "state %s listed twice", s)
		seenS[s] = true
	}
	seenE := map[EventKind]bool{}
	for _, ev := range EventKinds {
		require.False(t, seenE[ev], "event %s listed twice", ev)
		seenE[ev] = true
	}
	for s, row := range table {
		require.True(t, seenS[s], "state %s in the table but not in States", s)
		for ev := range row {
			require.True(t, seenE[ev], "event %s in the table but not in EventKinds", ev)
		}
	}
}
