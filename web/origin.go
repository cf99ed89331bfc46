package web

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// sameOrigin refuses a form post that a browser says came from another site.
// The CSRF token alone is a double-submit value: someone who can plant a
// cookie for wxcas's host (from a sibling subdomain, say) could post a
// matching token from their own page. Current browsers say where a request
// comes from in Sec-Fetch-Site, which pages cannot set; only "same-origin"
// is accepted for a post. Without it (an older browser) an Origin header, if
// it names a site, must be public_url's. Our pages send no referrer
// (Referrer-Policy: no-referrer), so their own posts carry "Origin: null",
// which is left to the CSRF token like a request without either header.
func sameOrigin(public *url.URL, pages *Pages) echo.MiddlewareFunc {
	want := public.Scheme + "://" + public.Host
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				return next(c)
			}
			site, origin := r.Header.Get("Sec-Fetch-Site"), r.Header.Get("Origin")
			refused := site != "" && site != "same-origin"
			if site == "" && origin != "" && origin != "null" && origin != want {
				refused = true
			}
			if refused {
				return pages.Error(c.Response(), r, http.StatusForbidden, "error_title", "error_forbidden", "")
			}
			return next(c)
		}
	}
}
