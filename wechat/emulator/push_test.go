package emulator_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/wechat/emulator"
)

func TestTicketPushRoundTrip(t *testing.T) {
	f, rc := newPlatformFixture(t)
	require.Empty(t, f.em.Ticket(comp))
	require.NoError(t, f.em.PushTicket(context.Background(), comp))
	ticket := f.em.Ticket(comp)
	require.Regexp(t, `^ticket@@@[A-Za-z0-9_-]{20,}$`, ticket)

	p := rc.last()
	now := strconv.FormatInt(f.Now().Unix(), 10)
	require.Equal(t, "wechat", p.query.Get("from"), "the event URL's own query is kept")
	require.Equal(t, now, p.query.Get("timestamp"))
	require.Regexp(t, `^[0-9]{6,}$`, p.query.Get("nonce"))
	require.Equal(t, "aes", p.query.Get("encrypt_type"))
	require.Equal(t, comp, p.outer)
	require.Equal(t, comp, p.appID, "the appid after the message")
	require.Equal(t, map[string]string{
		"AppId": comp, "CreateTime": now, "InfoType": "component_verify_ticket", "ComponentVerifyTicket": ticket,
	}, p.fields)

	// The pushed ticket buys a component token.
	a := f.post(emulator.PathComponentToken, nil, "application/json", compTokenBody(comp, compSecret, ticket))
	require.NotEmpty(t, a.fields["component_access_token"], a.raw)

	// Each push is a fresh ticket, nonce and ciphertext.
	f.advance(10 * time.Minute)
	require.NoError(t, f.em.PushTicket(context.Background(), comp))
	all := rc.got()
	require.Len(t, all, 2)
	require.NotEqual(t, ticket, f.em.Ticket(comp))
	require.Equal(t, f.em.Ticket(comp), all[1].fields["ComponentVerifyTicket"])
	require.NotEqual(t, all[0].query.Get("nonce"), all[1].query.Get("nonce"))
	require.NotEqual(t, all[0].query.Get("msg_signature"), all[1].query.Get("msg_signature"))
	// The old ticket is still good (within 12 hours).
	require.NotContains(t, f.post(emulator.PathComponentToken, nil, "application/json", compTokenBody(comp, compSecret, ticket)).fields, "errcode")

	// A platform without an event URL: the ticket is made, nothing is sent.
	require.NoError(t, f.em.PushTicket(context.Background(), comp2))
	require.NotEmpty(t, f.em.Ticket(comp2))
	require.Len(t, rc.got(), 2)

	require.ErrorContains(t, f.em.PushTicket(context.Background(), "wxnope"), "unknown platform")
}

func TestTicketPushNeedsSuccess(t *testing.T) {
	f, rc := newPlatformFixture(t)
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"fail text", http.StatusOK, "fail"},
		{"empty", http.StatusOK, ""},
		{"success with a newline", http.StatusOK, "success\n"},
		{"JSON", http.StatusOK, `{"ok":true}`},
		{"HTTP 500", http.StatusInternalServerError, "success"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc.setAnswer(func(int) (int, string) { return tc.status, tc.body })
			before := f.em.Ticket(comp)
			err := f.em.PushTicket(context.Background(), comp)
			require.Error(t, err)
			ticket := f.em.Ticket(comp)
			require.NotEqual(t, before, ticket, "the ticket counts as pushed anyway")
			require.NotContains(t, err.Error(), ticket, "errors never hold the ticket")
			require.Equal(t, ticket, rc.last().fields["ComponentVerifyTicket"])
		})
	}
	// A receiver that is not there.
	rc.srv.Close()
	require.Error(t, f.em.PushTicket(context.Background(), comp))
	// An ended context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, f.em.PushTicket(ctx, comp), context.Canceled)
}

func TestUnauthorizeAndAuthorizePush(t *testing.T) {
	f, rc := newPlatformFixture(t)
	ctx := context.Background()
	tok := f.componentToken(comp, compSecret)
	code := f.issue(poa, "alice", "snsapi_userinfo")
	a := f.get(emulator.PathComponentAccessToken, compExchange(poa, f.issue(poa, "alice", "snsapi_userinfo"), tok))
	rt := a.fields["refresh_token"].(string)
	require.True(t, f.em.Authorized(poa))

	f.advance(time.Minute)
	require.NoError(t, f.em.Unauthorize(ctx, comp, poa))
	now := strconv.FormatInt(f.Now().Unix(), 10)
	p := rc.last()
	require.Equal(t, map[string]string{"AppId": comp, "CreateTime": now, "InfoType": "unauthorized", "AuthorizerAppid": poa}, p.fields)
	require.Equal(t, comp, p.appID)
	require.False(t, f.em.Authorized(poa))
	// Its effects: 61003 for the code from before and for refreshes, the
	// error page, no sandbox codes.
	requireErr(t, f.get(emulator.PathComponentAccessToken, compExchange(poa, code, tok)), 61003)
	requireErr(t, f.get(emulator.PathComponentRefreshToken, compRefresh(poa, rt, tok)), 61003)
	pg := f.browse(http.MethodGet, poaURL(f.srv.URL, "snsapi_base", url.Values{"sandbox_user": {"alice"}}), nil)
	require.Equal(t, http.StatusBadRequest, pg.status)
	require.Contains(t, pg.body, "该公众号未授权给此第三方平台")
	_, err := f.em.IssueCode(poa, "alice", "snsapi_base")
	require.Error(t, err)
	idx := f.browse(http.MethodGet, f.srv.URL+"/", nil)
	require.Regexp(t, regexp.MustCompile(`<code>`+poa+`</code></td><td>已取消授权 / withdrawn`), idx.body)

	f.advance(time.Minute)
	require.NoError(t, f.em.Authorize(ctx, comp, poa))
	p = rc.last()
	created := f.Now().Unix()
	require.Equal(t, "authorized", p.fields["InfoType"])
	require.Equal(t, poa, p.fields["AuthorizerAppid"])
	require.Equal(t, strconv.FormatInt(created, 10), p.fields["CreateTime"])
	require.True(t, strings.HasPrefix(p.fields["AuthorizationCode"], "queryauthcode@@@"), p.fields["AuthorizationCode"])
	require.Equal(t, strconv.FormatInt(created+3600, 10), p.fields["AuthorizationCodeExpiredTime"])
	require.NotEmpty(t, p.fields["PreAuthCode"])
	require.True(t, f.em.Authorized(poa))
	// The code is still within its 5 minutes and was never used.
	require.NotContains(t, f.get(emulator.PathComponentAccessToken, compExchange(poa, code, tok)).fields, "errcode")
	require.NotContains(t, f.get(emulator.PathComponentRefreshToken, compRefresh(poa, rt, tok)).fields, "errcode")
	require.Equal(t, http.StatusFound, f.browse(http.MethodGet, poaURL(f.srv.URL, "snsapi_base", url.Values{"sandbox_user": {"alice"}}), nil).status)

	// The state changes even when the push fails; the error tells.
	rc.setAnswer(func(int) (int, string) { return http.StatusOK, "" })
	require.Error(t, f.em.Unauthorize(ctx, comp, poa))
	require.False(t, f.em.Authorized(poa))
	require.Error(t, f.em.Authorize(ctx, comp, poa))
	require.True(t, f.em.Authorized(poa))

	// Only a served account of that platform.
	n := len(rc.got())
	require.ErrorContains(t, f.em.Unauthorize(ctx, comp, oa), "not served")
	require.ErrorContains(t, f.em.Authorize(ctx, comp2, poa), "not served")
	require.ErrorContains(t, f.em.Authorize(ctx, "wxnope", poa), "unknown platform")
	require.Len(t, rc.got(), n, "nothing pushed")
}

// syncBuffer is a log sink safe for the push goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStartTicketPush(t *testing.T) {
	var logs syncBuffer
	f, rc := newPlatformFixture(t, func(o *emulator.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	// The receiver is not ready for its first two pushes.
	rc.setAnswer(func(n int) (int, string) {
		if n < 2 {
			return http.StatusServiceUnavailable, "starting"
		}
		return http.StatusOK, "success"
	})
	ctx, cancel := context.WithCancel(context.Background())
	f.em.StartTicketPush(ctx, 200*time.Millisecond)
	require.Eventually(t, func() bool { return len(rc.got()) >= 3 }, 5*time.Second, 10*time.Millisecond,
		"failed first pushes are retried")
	require.NotEmpty(t, f.em.Ticket(comp2), "every platform gets a ticket at once")
	require.Eventually(t, func() bool { return len(rc.got()) >= 5 }, 5*time.Second, 10*time.Millisecond,
		"then one push per interval")
	cancel()
	time.Sleep(150 * time.Millisecond) // a push already under way may still land
	n := len(rc.got())
	time.Sleep(600 * time.Millisecond)
	require.Len(t, rc.got(), n, "no pushes after the context ends")

	out := logs.String()
	require.Contains(t, out, "component_verify_ticket push failed")
	require.Contains(t, out, "component_verify_ticket pushed")
	for _, p := range rc.got() {
		require.NotContains(t, out, p.fields["ComponentVerifyTicket"], "the log never holds a ticket")
	}
}

func TestSandboxPushAndIndex(t *testing.T) {
	f, rc := newPlatformFixture(t)
	a := f.post(emulator.PathSandboxPush, url.Values{"component_appid": {comp}}, "", "")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, map[string]any{"pushed": true}, a.fields)
	require.Len(t, rc.got(), 1)
	require.NotContains(t, a.raw, f.em.Ticket(comp))

	require.Equal(t, http.StatusNotFound, f.post(emulator.PathSandboxPush, url.Values{"component_appid": {"wxnope"}}, "", "").status)
	require.Equal(t, http.StatusMethodNotAllowed, f.get(emulator.PathSandboxPush, url.Values{"component_appid": {comp}}).status)
	rc.setAnswer(func(int) (int, string) { return http.StatusOK, "fail" })
	bad := f.post(emulator.PathSandboxPush, url.Values{"component_appid": {comp}}, "", "")
	require.Equal(t, http.StatusBadGateway, bad.status)
	require.Equal(t, false, bad.fields["pushed"])

	idx := f.browse(http.MethodGet, f.srv.URL+"/", nil)
	require.Equal(t, http.StatusOK, idx.status)
	for _, want := range []string{comp, comp2, poa, poa2, "已授权 / authorized", "已取消授权 / withdrawn", rc.srv.URL} {
		require.Contains(t, idx.body, want)
	}
	for _, secret := range []string{compSecret, compToken, compAESKey, "comp2secret", poaSecret, f.em.Ticket(comp)} {
		require.NotContains(t, idx.body, secret)
	}
}
