package web

import "net/http"

// ForgetOnLogout wraps the CAS handler: a browser that logs out also lets go
// of the login journeys it holds, so that nothing of a finished login can be
// replayed from it afterwards (journey.FinishGrace) — on a shared computer,
// the next person must not log back in as the last one.
func (h *Login) ForgetOnLogout(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cas/logout" {
			http.SetCookie(w, &http.Cookie{
				Name: journeyCookie, Path: h.base + "/", MaxAge: -1,
				HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
			})
		}
		next.ServeHTTP(w, r)
	})
}
