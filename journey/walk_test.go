package journey

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/store/storetest"
)

// walkTo is where each allowed (state, event) pair leads in the walk's
// setting: the person named by the WeChat code is not bound yet, the code
// entered is the one sent. The walk checks these against the table, so a
// change to either must be made to both.
var walkTo = map[State]map[EventKind]State{
	WeChatPending:  {EvWeChatStart: WeChatPending, EvWeChatCode: PhoneRequested, EvCancel: Failed},
	Identified:     {EvFinish: Finished, EvCancel: Failed},
	PhoneRequested: {EvPhone: CodeSent, EvWeChatPhone: Bound, EvCancel: Failed},
	CodeSent: {EvPhone: CodeSent, EvResend: CodeSent, EvChangeNumber: PhoneRequested, EvCode: Bound,
		EvWeChatPhone: Bound, EvCancel: Failed},
	Bound:    {EvFinish: Finished, EvCode: Bound, EvCancel: Failed},
	Finished: {EvFinish: Finished, EvCode: Finished, EvWeChatCode: Finished},
	Failed:   {},
}

// walkReplay: the pairs that repeat a step that succeeded: they answer
// with the journey's person again and change nothing.
var walkReplay = map[State][]EventKind{
	Bound:    {EvCode},
	Finished: {EvFinish, EvCode, EvWeChatCode},
}

// walkRefusal is the outcome of a pair the table does not take, as the
// person is told it.
func walkRefusal(s State, ev EventKind) Code {
	switch {
	case s == Failed:
		return CodeEnded // cancelled or failed: start again
	case s == Finished:
		return CodeExpired // over: only repeats are answered
	case s == PhoneRequested && ev == EvCode:
		return CodeNoCode // a code before any was sent
	case ev == EvWeChatCode:
		return CodeStateInvalid // a callback the journey no longer waits for
	}
	return CodeWrongStep // a stale form
}

// TestWalkEveryStateAndEvent sends every event to a journey in every state
// and checks the answer against the table: the allowed target state, or
// the refusal, with the stored journey unchanged.
func TestWalkEveryStateAndEvent(t *testing.T) {
	t.Run("the walk's expectations cover the table", func(t *testing.T) {
		for _, s := range States {
			for _, ev := range EventKinds {
				tr, inTable := table[s][ev]
				to, inWalk := walkTo[s][ev]
				require.Equal(t, inTable, inWalk, "%s --%s-->: the table and the walk disagree", s, ev)
				if inTable {
					require.Contains(t, tr.To, to, "%s --%s--> %s is not in the table", s, ev, to)
				}
			}
		}
	})

	for _, backend := range []string{"memstore", "sqlstore"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, storetest.SQLite(t), func(c *envConfig) { c.sqlJour = backend == "sqlstore" })
			pairs := 0
			for _, s := range States {
				for i, ev := range EventKinds {
					t.Run(fmt.Sprintf("%s/%s", s, ev), func(t *testing.T) {
						pairs++
						walkOne(t, e, s, i)
					})
				}
			}
			require.Equal(t, 7*9, pairs)
		})
	}
}

// walkOne puts a journey in state s, as it would stand there, and sends it
// the i-th event.
func walkOne(t *testing.T, e *env, s State, i int) {
	ctx := context.Background()
	n, m := e.next(), e.next()
	acct := person(appWeb, n)
	e.wx.issue(fmt.Sprintf("wx-%d", n), acct)
	e.wx.issuePhone(fmt.Sprintf("phone-%d", n), phone(n))

	j := &Journey{State: s, Channel: ChannelQRInline}
	if s != WeChatPending {
		j.setAccount(acct)
	}
	code := "123456"
	switch s {
	case Identified, Bound, Finished:
		j.UserID = e.bindNew(t, acct, phone(n)).ID
	}
	switch s {
	case CodeSent, Bound, Finished:
		j.Phone = string(phone(n))
	}
	if s == Finished {
		j.ExpiresAt = e.clock.Now().Add(FinishGrace)
	}
	from := e.put(t, j)
	if s == CodeSent {
		code = e.sendCode(t, j, from)
	}
	before := e.get(t, j.ID)
	calls := e.wx.callCount()

	ev := allEvents(n, m, code)[i]
	kind := ev.Kind()
	require.Equal(t, EventKinds[i], kind)
	a, err := e.eng.Handle(ctx, j.ID, ev, from)
	after := e.get(t, j.ID)

	to, allowed := walkTo[s][kind]
	if !allowed {
		requireCode(t, err, walkRefusal(s, kind))
		require.Equal(t, before, after, "a refusal changes nothing")
		require.Equal(t, calls, e.wx.callCount(), "a refused event asks WeChat nothing")
		return
	}
	require.NoError(t, err)
	require.NotNil(t, a.Journey)
	require.Equal(t, to, a.Journey.State, "answer")
	require.Equal(t, to, after.State, "stored")
	replay := slices.Contains(walkReplay[s], kind)
	require.Equal(t, replay, a.Replay)
	if replay {
		require.Equal(t, before.Version, after.Version, "a replay changes nothing")
		require.Equal(t, calls, e.wx.callCount(), "a replay asks WeChat nothing")
	} else {
		require.Equal(t, before.Version+1, after.Version, "one step, one update")
	}
	switch to {
	case Identified, Bound, Finished:
		require.NotNil(t, a.Person, "a journey with a person answers with them")
		require.Equal(t, after.UserID, a.Person.User.ID)
		require.Equal(t, after.UserID, e.boundUserOf(t, acct), "and the person is bound to them")
	default:
		require.Nil(t, a.Person)
	}
	require.Equal(t, kind == EvPhone || kind == EvResend, a.Sent != nil, "Sent is set when a code was sent")
	switch kind {
	case EvPhone:
		require.Equal(t, string(phone(m)), after.Phone)
	case EvChangeNumber:
		require.Empty(t, after.Phone)
	case EvWeChatCode:
		if s == WeChatPending {
			require.Equal(t, acct.OpenID, after.OpenID)
		}
	case EvCancel:
		require.Equal(t, before.UserID, after.UserID)
	}
}
