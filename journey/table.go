package journey

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// EventKind names an event.
type EventKind string

// The events.
const (
	// EvWeChatStart: a WeChat state was issued (a QR code shown, a redirect
	// to the Official Account); only that state can complete the journey.
	EvWeChatStart EventKind = "wechat_start"
	// EvWeChatCode: WeChat's callback, or an app's code.
	EvWeChatCode EventKind = "wechat_code"
	// EvPhone: the person submitted a phone number.
	EvPhone EventKind = "phone"
	// EvResend: the person asked for the code again.
	EvResend EventKind = "resend"
	// EvChangeNumber: the person wants to use another number.
	EvChangeNumber EventKind = "change_number"
	// EvCode: the person submitted the SMS code.
	EvCode EventKind = "code"
	// EvWeChatPhone: a mini program passed the phone number WeChat vouches for.
	EvWeChatPhone EventKind = "wechat_phone"
	// EvCancel: the person gave up.
	EvCancel EventKind = "cancel"
	// EvFinish: the transport is about to issue the result.
	EvFinish EventKind = "finish"
)

// EventKinds lists every event.
var EventKinds = []EventKind{EvWeChatStart, EvWeChatCode, EvPhone, EvResend, EvChangeNumber, EvCode, EvWeChatPhone, EvCancel, EvFinish}

// Guard decides whether an allowed transition may happen now; an error
// refuses the event.
type Guard func(j *Journey, now time.Time) error

// transition is one row of the table: from a state, an event may lead to
// one of To (which one is the event's effect to decide), if Guard allows.
type transition struct {
	To    []State
	Guard Guard
}

// FinishGrace is how long a finished journey keeps answering: a double
// click on the code form, a WeChat callback delivered twice, lands the
// person on the service instead of an error page. Such repeats come within
// seconds; the window is kept short because a repeat finishes the login
// again without a new proof (see Engine.replay).
const FinishGrace = 30 * time.Second

// table is the journey: every allowed (state, event) pair. A pair that is
// not here is refused (see refusal).
var table = map[State]map[EventKind]transition{
	WeChatPending: {
		EvWeChatStart: {To: []State{WeChatPending}},
		// A bound person is Identified, another asks for a phone; an
		// Official Account base login that needs the unionid stays to ask
		// again with userinfo; a snapshot-page user fails.
		EvWeChatCode: {To: []State{Identified, PhoneRequested, WeChatPending, Failed}},
		EvCancel:     {To: []State{Failed}},
	},
	Identified: {
		EvFinish: {To: []State{Finished}},
		EvCancel: {To: []State{Failed}},
	},
	PhoneRequested: {
		EvPhone:       {To: []State{CodeSent}},
		EvWeChatPhone: {To: []State{Bound}},
		EvCancel:      {To: []State{Failed}},
	},
	CodeSent: {
		// A new number replaces the one the code went to.
		EvPhone:        {To: []State{CodeSent}},
		EvResend:       {To: []State{CodeSent}},
		EvChangeNumber: {To: []State{PhoneRequested}},
		EvCode:         {To: []State{Bound}},
		EvWeChatPhone:  {To: []State{Bound}},
		EvCancel:       {To: []State{Failed}},
	},
	Bound: {
		EvFinish: {To: []State{Finished}},
		// The same code submitted twice: the second finishes too.
		EvCode:   {To: []State{Bound}},
		EvCancel: {To: []State{Failed}},
	},
	Finished: {
		// Repeats within the grace period finish again (see FinishGrace).
		EvFinish:     {To: []State{Finished}, Guard: withinGrace},
		EvCode:       {To: []State{Finished}, Guard: withinGrace},
		EvWeChatCode: {To: []State{Finished}, Guard: withinGrace},
	},
	Failed: {},
}

// refusal is the outcome of an event the state does not take.
func refusal(s State, ev EventKind) Code {
	switch {
	case s == Failed:
		return CodeEnded
	case s == Finished:
		return CodeExpired
	case ev == EvCode && s == PhoneRequested:
		return CodeNoCode
	case ev == EvWeChatCode:
		return CodeStateInvalid
	}
	return CodeWrongStep
}

func withinGrace(j *Journey, now time.Time) error {
	if now.Before(j.ExpiresAt) {
		return nil
	}
	return fail(CodeExpired, nil)
}

// terminal states take no event to another state.
var terminal = []State{Finished, Failed}

// allowed returns the transition for (s, ev) or the refusal.
func allowed(j *Journey, ev EventKind, now time.Time) (transition, error) {
	t, ok := table[j.State][ev]
	if !ok {
		return transition{}, fail(refusal(j.State, ev), fmt.Errorf("%s in state %s", ev, j.State))
	}
	if t.Guard != nil {
		if err := t.Guard(j, now); err != nil {
			return transition{}, err
		}
	}
	return t, nil
}

// CheckTable checks the transition table: every state is known and
// reachable from WeChatPending, every state but the terminal ones can still
// reach Finished and Failed, terminal states lead nowhere else, and every
// event is taken somewhere. It runs when the engine is built, so a broken
// table stops the program at start-up.
func CheckTable() error { return checkTable(table) }

func checkTable(t map[State]map[EventKind]transition) error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	used := map[EventKind]bool{}
	for from, row := range t {
		if !slices.Contains(States, from) {
			add("unknown state %q", from)
		}
		for ev, tr := range row {
			used[ev] = true
			if !slices.Contains(EventKinds, ev) {
				add("%s: unknown event %q", from, ev)
			}
			if len(tr.To) == 0 {
				add("%s --%s-->: no target state", from, ev)
			}
			for _, to := range tr.To {
				if !slices.Contains(States, to) {
					add("%s --%s--> unknown state %q", from, ev, to)
				}
				if slices.Contains(terminal, from) && to != from {
					add("terminal state %s leads to %s on %s", from, to, ev)
				}
			}
		}
	}
	for _, s := range States {
		if _, ok := t[s]; !ok {
			add("state %s has no row", s)
		}
	}
	for _, ev := range EventKinds {
		if !used[ev] {
			add("event %s is taken in no state", ev)
		}
	}
	reach := reachable(t, WeChatPending)
	for _, s := range States {
		if !reach[s] {
			add("state %s cannot be reached from %s", s, WeChatPending)
		}
		if slices.Contains(terminal, s) {
			continue
		}
		from := reachable(t, s)
		for _, end := range terminal {
			if !from[end] {
				add("state %s cannot reach %s", s, end)
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("journey: transition table: %s", strings.Join(problems, "; "))
	}
	return nil
}

func reachable(t map[State]map[EventKind]transition, from State) map[State]bool {
	seen := map[State]bool{from: true}
	queue := []State{from}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, tr := range t[s] {
			for _, to := range tr.To {
				if !seen[to] {
					seen[to] = true
					queue = append(queue, to)
				}
			}
		}
	}
	return seen
}
