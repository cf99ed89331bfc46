package web

import (
	"net/http"
	"strings"

	"wxcas/flow"
)

// A finished login's flow row is deleted at once: login_flows holds only
// logins in progress, so it stays small however many people log in. What a
// late request about a finished flow needs — a reload of /login?flow=…, a
// WeChat callback repeated or replayed from the history — is kept in the
// browser's own flow cookie (signed and encrypted): a done marker replaces
// the flow's nonce, holding the hash of the flow's WeChat state and the
// service URL. Such requests are sent to /cas/login?service=…, which issues a
// ticket from the SSO session the login just created (or starts a new login
// when there is none). This costs no row and no write; a tombstone row would
// cost both for every login.

const (
	donePrefix = "done\x00"
	// maxDoneService keeps the cookie under browsers' 4 KB with a few flows
	// in it; a longer service URL is not remembered (the late request then
	// goes to /cas/login without a service, see loginURL).
	maxDoneService = 1024
)

// markDone replaces the flow's entry in the browser's flow cookie with a done
// marker. It must run before the response is written.
func (h *Flows) markDone(w http.ResponseWriter, r *http.Request, f *flow.Flow) {
	sess, err := h.cookies.Get(r, flowCookie)
	if err != nil {
		return // a cookie that does not decode: nothing to remember it in
	}
	service := h.request(f).ServiceURL
	if len(service) > maxDoneService {
		service = ""
	}
	sess.Values[f.ID] = donePrefix + f.StateHash + "\x00" + service
	if err := sess.Save(r, w); err != nil {
		h.o.Logger.DebugContext(r.Context(), "finished flow not remembered in the cookie", "err", err)
	}
}

// finished returns the service of a flow this browser finished, by flow id
// or (with id "") by the hash of its WeChat state.
func (h *Flows) finished(r *http.Request, id, stateHash string) (service string, ok bool) {
	sess, err := h.cookies.Get(r, flowCookie)
	if err != nil {
		return "", false
	}
	for k, v := range sess.Values {
		key, _ := k.(string)
		marker, _ := v.(string)
		rest, isDone := strings.CutPrefix(marker, donePrefix)
		if !isDone || (id != "" && key != id) {
			continue
		}
		hash, service, _ := strings.Cut(rest, "\x00")
		if id != "" || (hash != "" && flow.HashEqual(hash, stateHash)) {
			return service, true
		}
	}
	return "", false
}
