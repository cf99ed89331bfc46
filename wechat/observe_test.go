package wechat_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/wechat"
	"wxcas/wechat/emulator"
)

// observed records what Config.Observe is told.
type observed struct {
	mu    sync.Mutex
	calls []string // "op result"
}

func (o *observed) observe(op string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, op+" "+wechat.Result(err))
}

func TestObserveSeesEveryAttempt(t *testing.T) {
	tests := []struct {
		name   string
		faults []emulator.Fault
		want   []string
	}{
		{"success", nil, []string{"cgi-bin/token ok"}},
		{"busy, then success: both attempts", []emulator.Fault{emulator.FaultBusy},
			[]string{"cgi-bin/token busy", "cgi-bin/token ok"}},
		{"a refused IP is not retried", []emulator.Fault{emulator.FaultIPBlocked},
			[]string{"cgi-bin/token ip_not_whitelisted"}},
		{"a proxy's error page, then busy, then success", []emulator.Fault{emulator.FaultHTMLBody, emulator.FaultBusy},
			[]string{"cgi-bin/token malformed_response", "cgi-bin/token busy", "cgi-bin/token ok"}},
		{"busy three times: the retries give up", []emulator.Fault{emulator.FaultBusy, emulator.FaultBusy, emulator.FaultBusy},
			[]string{"cgi-bin/token busy", "cgi-bin/token busy", "cgi-bin/token busy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o observed
			e := newEnv(t, func(c *wechat.Config) { c.Observe = o.observe })
			e.em.InjectFault(emulator.PathToken, tc.faults...)
			_, _ = e.c.AppAccessToken(e.ctx, oa)
			require.Equal(t, tc.want, o.calls)
		})
	}
	t.Run("a call refused before it is sent is not a call to WeChat", func(t *testing.T) {
		var o observed
		e := newEnv(t, func(c *wechat.Config) { c.Observe = o.observe })
		_, err := e.c.AppAccessToken(e.ctx, "wxunknown0000001")
		require.ErrorIs(t, err, wechat.ErrUnknownApp)
		require.Empty(t, o.calls)
	})
}

func TestResultNames(t *testing.T) {
	seen := map[string]wechat.ErrorKind{}
	// Every kind has a name of its own: a kind added without one would be
	// reported as "unexpected".
	for k := wechat.ErrUnexpected; k <= wechat.ErrTicketInvalid; k++ {
		name := wechat.Result(&wechat.Error{Kind: k})
		require.Regexp(t, `^[a-z][a-z_]*$`, name)
		if k != wechat.ErrUnexpected {
			require.NotEqual(t, "unexpected", name, "kind %v has no result name", k)
		}
		prev, dup := seen[name]
		require.False(t, dup, "%v and %v share the name %q", prev, k, name)
		seen[name] = k
	}
	require.Equal(t, "ok", wechat.Result(nil))
	require.Equal(t, "unexpected", wechat.Result(errors.New("not from the client")))
	require.True(t, wechat.ResultIsWeChats("busy"))
	require.False(t, wechat.ResultIsWeChats("code_used"), "a used code is the person's (or a replay's) doing")
	require.False(t, wechat.ResultIsWeChats("ok"))
}
