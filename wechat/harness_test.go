package wechat_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/wechat"
	"wxcas/wechat/emulator"
)

// Test apps. web, oa, mini and mobile share the open-platform account
// "op-main"; oaLone is an Official Account bound to no account; web2 is a
// website app of another account.
const (
	web    = "wxweb00000000001"
	web2   = "wxweb00000000002"
	oa     = "wxoa000000000001"
	oaLone = "wxoa000000000002"
	mini   = "wxmini0000000001"
	mobile = "wxapp00000000001"
	ghost  = "wxghost000000001" // configured in the client, unknown to WeChat

	webSecret = "S3cr3t-web-0123456789abcdef"
)

var emApps = []emulator.App{
	{AppID: web, Secret: webSecret, Kind: emulator.KindWebsite, OpenPlatformID: "op-main"},
	{AppID: web2, Secret: "S3cr3t-web2-0123456789", Kind: emulator.KindWebsite, OpenPlatformID: "op-other"},
	{AppID: oa, Secret: "S3cr3t-oa-0123456789", Kind: emulator.KindOfficialAccount, OpenPlatformID: "op-main"},
	{AppID: oaLone, Secret: "S3cr3t-oalone-0123456789", Kind: emulator.KindOfficialAccount},
	{AppID: mini, Secret: "S3cr3t-mini-0123456789", Kind: emulator.KindMiniProgram, OpenPlatformID: "op-main"},
	{AppID: mobile, Secret: "S3cr3t-mobile-0123456789", Kind: emulator.KindMobileApp, OpenPlatformID: "op-main"},
}

func clientApps() []wechat.App {
	out := make([]wechat.App, 0, len(emApps)+1)
	for _, a := range emApps {
		out = append(out, wechat.App{AppID: a.AppID, Secret: a.Secret, Kind: wechat.Kind(a.Kind)})
	}
	return append(out, wechat.App{AppID: ghost, Secret: "S3cr3t-ghost-0123456789", Kind: wechat.KindWebsite})
}

// clock is an injectable clock shared by the emulator and the client.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	t     *testing.T
	clock *clock
	em    *emulator.Emulator
	srv   *httptest.Server
	c     *wechat.Client
	ctx   context.Context
}

func newEnv(t *testing.T, tweak ...func(*wechat.Config)) *env {
	t.Helper()
	clk := &clock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	em, err := emulator.New(emulator.Options{
		Apps:    emApps,
		Persons: []emulator.Person{{Name: "alice"}, {Name: "bob"}, {Name: "snappy", Snapshot: true}, {Name: "risky", Blocked: true}},
		Now:     clk.Now,
		Seed:    "test",
	})
	require.NoError(t, err)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	cfg := wechat.Config{
		OpenBaseURL:  srv.URL,
		APIBaseURL:   srv.URL,
		Apps:         clientApps(),
		HTTPClient:   srv.Client(),
		Timeout:      5 * time.Second,
		RetryBackoff: time.Millisecond,
		Now:          clk.Now,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := wechat.New(cfg)
	require.NoError(t, err)
	return &env{t: t, clock: clk, em: em, srv: srv, c: c, ctx: context.Background()}
}

// browser follows nothing, like a test script reading the 302 itself.
var browser = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       5 * time.Second,
}

// scan opens an authorize URL with sandbox_user (inserted before the
// #wechat_redirect fragment) and returns the callback URL of the 302.
func (e *env) scan(authorizeURL, user string, extra ...string) *url.URL {
	e.t.Helper()
	base, frag, _ := strings.Cut(authorizeURL, "#")
	u := base + "&sandbox_user=" + url.QueryEscape(user)
	for _, x := range extra {
		u += "&" + x
	}
	if frag != "" {
		u += "#" + frag
	}
	resp, err := browser.Get(u)
	require.NoError(e.t, err)
	resp.Body.Close()
	require.Equal(e.t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(e.t, err)
	return loc
}

func (e *env) code(appID, user, scope string) string {
	e.t.Helper()
	c, err := e.em.IssueCode(appID, user, scope)
	require.NoError(e.t, err)
	return c
}

// requireKind asserts err is a *wechat.Error of kind (and errcode, if non-zero).
func requireKind(t *testing.T, err error, kind wechat.ErrorKind, code int) *wechat.Error {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, kind)
	var we *wechat.Error
	require.ErrorAs(t, err, &we)
	require.Equal(t, kind, we.Kind, "kind; error: %v", err)
	if code != 0 {
		require.Equal(t, code, we.Code, "errcode; error: %v", err)
	}
	return we
}
