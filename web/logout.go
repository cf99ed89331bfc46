package web

import (
	"net/http"
	"time"

	"wxcas/journey"
)

// ForgetOnLogout wraps the CAS handler: a browser that logs out also ends
// the login journeys it holds, on the server (they expire at once) and in
// its cookie, so that nothing of a finished login can be repeated from it
// afterwards (journey.FinishGrace) — on a shared computer, the next person
// must not log back in as the last one, even with a copy of the old cookie.
func (h *Login) ForgetOnLogout(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cas/logout" {
			for _, e := range h.helds(r) {
				if e.Nonce == "" {
					continue // lapsed: nothing of it can be repeated
				}
				from := journey.From{SecretHash: h.hash(purposeNonce, e.Nonce), ClientIP: h.realIP(r)}
				if err := h.o.Engine.Forget(r.Context(), e.ID, from); err != nil {
					h.o.Logger.WarnContext(r.Context(), "login journey not ended at logout", "flow", short(e.ID), "err", err)
				}
			}
			// Expires as well as Max-Age: some clients (curl) honour only
			// one of them when a response deletes several cookies.
			http.SetCookie(w, &http.Cookie{
				Name: journeyCookie, Path: h.base + "/", MaxAge: -1, Expires: time.Unix(1, 0),
				HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
			})
		}
		next.ServeHTTP(w, r)
	})
}
