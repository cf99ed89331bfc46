package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/config"
)

func TestAdminServices(t *testing.T) {
	for _, tc := range []struct {
		name       string
		principals []string
		want       int
	}{
		{"no principals: the console is off", nil, 0},
		{"one principal", []string{"ops"}, 1},
		{"two principals: still one service", []string{"ops", "sec"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{}
			cfg.Server.PublicURL = "https://login.example.edu/wxcas/"
			cfg.Admin.Principals = tc.principals
			got := adminServices(cfg)
			require.Len(t, got, tc.want)
			if tc.want > 0 {
				require.Equal(t, adminServiceID, got[0].ID)
				require.Equal(t, "https://login.example.edu/wxcas/admin/", got[0].URL)
				require.True(t, got[0].Internal, "its tickets are redeemed in-process only")
			}
		})
	}
}

// The console is served only when admin.principals lists someone; then a
// browser without a session goes to wxcas's own CAS login for it.
func TestAdminConsoleOnlyWhenConfigured(t *testing.T) {
	off := startFlowEnv(t, "")
	b := off.browser("")
	for _, path := range []string{"/admin", "/admin/", "/admin/audit"} {
		require.Equal(t, http.StatusNotFound, b.get(off.base+path).status, path)
	}

	on := startFlowEnv(t, "admin: {principals: [ops]}\n")
	resp, err := noRedirect.Get(on.base + "/admin/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/cas/login?service="+url.QueryEscape(on.base+"/admin/?n=")), resp.Header.Get("Location"))
	p := on.browser("").get(on.base + "/admin/")
	require.Equal(t, http.StatusOK, p.status)
	require.True(t, strings.HasPrefix(p.url, on.base+"/login?flow="), "CAS knows the console's service and starts its login: %s", p.url)
}
