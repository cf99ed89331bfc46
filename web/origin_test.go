package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"wxcas/templates"
)

func TestSameOriginRefusesCrossSitePosts(t *testing.T) {
	pages, err := NewPages(templates.FS, false)
	require.NoError(t, err)
	public, _ := url.Parse("https://login.example.edu/wxcas")
	e := echo.New()
	g := e.Group("/login", sameOrigin(public, pages))
	g.Any("/phone", func(c echo.Context) error { return c.String(http.StatusOK, "handled") })

	for _, tc := range []struct {
		name, method, site, origin string
		ok                         bool
	}{
		{"our own page (no-referrer: Origin null)", http.MethodPost, "same-origin", "null", true},
		{"our own page, older browser", http.MethodPost, "", "null", true},
		{"a script, no browser headers", http.MethodPost, "", "", true},
		{"older browser naming our origin", http.MethodPost, "", "https://login.example.edu", true},
		{"another site", http.MethodPost, "cross-site", "https://evil.example", false},
		{"a sibling subdomain", http.MethodPost, "same-site", "https://www.example.edu", false},
		{"a sibling subdomain, Origin null", http.MethodPost, "same-site", "null", false},
		{"older browser naming another site", http.MethodPost, "", "https://evil.example", false},
		{"older browser, our host over http", http.MethodPost, "", "http://login.example.edu", false},
		{"a link from another site (GET)", http.MethodGet, "cross-site", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/login/phone", nil)
			if tc.site != "" {
				req.Header.Set("Sec-Fetch-Site", tc.site)
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			w := httptest.NewRecorder()
			e.ServeHTTP(w, req)
			if tc.ok {
				require.Equal(t, "handled", w.Body.String())
			} else {
				require.Equal(t, http.StatusForbidden, w.Code)
				require.NotContains(t, w.Body.String(), "handled")
			}
		})
	}
}
