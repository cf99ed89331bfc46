package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/store/storetest"
)

// login.per_ip as wired: the journeys started (2 each: the start and its
// callback) and the stray WeChat callbacks of one address are counted
// together in login_rate_counters; over the limit the browser gets 429 and
// no journey row is written.
func TestLoginPerIPLimit(t *testing.T) {
	ln, base := listen(t)
	clock := storetest.NewClock()
	a := runApp(t, ln, "server: {listen: "+ln.Addr().String()+", public_url: '"+base+"'}\n"+
		"database: {sqlite_path: '"+filepath.Join(t.TempDir(), "wxcas.db")+"'}\nsandbox: {enabled: true}\n"+
		"wechat: {apps: [{appid: wxa1b2c3d4e5f60001, kind: website, secret: s1}]}\n"+
		"login: {website_appid: wxa1b2c3d4e5f60001, per_ip: {max: 4, window: 1m}}\n"+
		"cas: {services: [{id: demo, name: Demo, match: prefix, url: '"+base+"/sandbox/app/'}]}\n", clock.Now)
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := noRedirect.Get(base + path)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	count := func(table string) int {
		t.Helper()
		var n int
		require.NoError(t, a.db.Get(&n, `SELECT COUNT(*) FROM `+table))
		return n
	}
	start := "/cas/login?service=" + url.QueryEscape(base+"/sandbox/app/")

	for range 2 {
		require.Equal(t, http.StatusSeeOther, get(start).StatusCode)
	}
	clock.Advance(15 * time.Second)
	for _, path := range []string{start, "/wechat/callback?code=bogus&state=bogus"} {
		resp := get(path)
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, path)
		require.Equal(t, "45", resp.Header.Get("Retry-After"), path)
	}
	require.Equal(t, 2, count("login_journeys"), "no journey for a refused start")
	require.Equal(t, 1, count("login_rate_counters"), "one counter for the address")

	clock.Advance(45 * time.Second)
	require.Equal(t, http.StatusSeeOther, get(start).StatusCode, "a new window")
}
