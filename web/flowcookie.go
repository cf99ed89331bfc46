package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"wxcas/challenge"
	"wxcas/journey"
)

// Two cookies, both signed and encrypted (gorilla sessions):
//
//   - wxcas_flow binds journeys to the browser: journey id → the nonce whose
//     keyed hash the journey holds as its secret, and the service URL. The
//     cookie outlives its journeys by LoginOptions.Afterlife, so a late
//     request for a journey that expired (and maybe was cleaned up) still
//     offers "log in again" for the same service, at no cost in the
//     database. Only the service outlives the journey: its nonce is
//     dropped once the journey can no longer be live (nonceLife), so
//     nothing of it can be repeated from the cookie afterwards.
//   - wxcas_notice carries the outcome of a form post to the page the post
//     redirects to (POST → 303 → GET): read once, then cleared, so a reload
//     shows the page without it.
const (
	journeyCookie = "wxcas_flow"
	noticeCookie  = "wxcas_notice"
	// maxJourneys: logins in progress per browser (tabs); the oldest goes.
	maxJourneys = 4
	// maxCookieService keeps the cookie under browsers' 4 KB with a few
	// journeys in it; a longer service URL is not remembered (a restart then
	// goes to /cas/login without a service, see loginURL).
	maxCookieService = 1024
	noticeTTL        = time.Minute
	// maxNoticePhone bounds the number as typed that a notice carries back.
	maxNoticePhone = 40

	purposeNonce      = "browser"
	purposeState      = "state"
	purposeFirstState = "first-state"
)

// hash is the keyed hash under which nonces and WeChat states are stored,
// so that reading the database does not let anyone replay them.
func (h *Login) hash(purpose, value string) string {
	m := hmac.New(sha256.New, h.o.StateKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// firstState is the WeChat state a journey starts with (see
// Login.Authenticate): the journey's id and 130 bits of a keyed hash of it,
// in rand.Text's alphabet and length like every state's random part. The
// page derives it again instead of storing a new one, so showing the first
// QR code writes nothing. It is as unpredictable as a random one without
// the state key, and used once and only by the browser holding the journey
// like any other state.
func (h *Login) firstState(id string) string {
	m := hmac.New(sha256.New, h.o.StateKey)
	m.Write([]byte(purposeFirstState))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return id + base32.StdEncoding.EncodeToString(m.Sum(nil)[:17])[:26]
}

// stringCookies serializes a login cookie's values (string keys and string
// values: all these cookies hold) as a JSON object. gob, securecookie's
// default, compiles a decoder for every cookie it reads, which was a
// twentieth of a login's CPU. A cookie written as gob by an earlier release
// is still read: gob's first byte for these maps is always 0x0d (the length
// of the map type's definition), never JSON's '{'.
type stringCookies struct{ gob securecookie.GobEncoder }

var errCookieValue = errors.New("web: login cookie values must be strings")

func (c stringCookies) Serialize(src any) ([]byte, error) {
	values, ok := src.(map[any]any)
	if !ok {
		return nil, errCookieValue
	}
	out := make(map[string]string, len(values))
	for k, v := range values {
		key, kok := k.(string)
		value, vok := v.(string)
		if !kok || !vok {
			return nil, errCookieValue
		}
		out[key] = value
	}
	return json.Marshal(out)
}

func (c stringCookies) Deserialize(src []byte, dst any) error {
	if len(src) == 0 || src[0] != '{' {
		return c.gob.Deserialize(src, dst)
	}
	values, ok := dst.(*map[any]any)
	if !ok {
		return errCookieValue
	}
	var in map[string]string
	if err := json.Unmarshal(src, &in); err != nil {
		return err
	}
	if *values == nil {
		*values = make(map[any]any, len(in))
	}
	for k, v := range in {
		(*values)[k] = v
	}
	return nil
}

// held is one journey the browser holds.
type held struct {
	// Nonce is "" once the journey can no longer be live (lapsed).
	ID, Nonce, Service string
	Started            int64 // unix seconds, to let the oldest go first
}

// nonceLife is how long after its start a journey may still take an event
// from its browser: its TTL, then the repeats of a finished login
// (journey.FinishGrace), and the second Started is rounded down by.
func (h *Login) nonceLife() time.Duration { return h.o.FlowTTL + journey.FinishGrace + time.Second }

// lapse drops what of e must not outlive its journey, and reports whether
// anything is left to keep: the service, for the expiry page's restart,
// until the cookie's afterlife is over too.
func (h *Login) lapse(e *held, now time.Time) bool {
	age := now.Sub(time.Unix(e.Started, 0))
	if age > h.nonceLife() {
		e.Nonce = ""
	}
	return age <= h.o.FlowTTL+h.o.Afterlife
}

func (e held) value() string {
	return e.Nonce + "\x00" + strconv.FormatInt(e.Started, 10) + "\x00" + e.Service
}

func parseHeld(id, v string) (held, bool) {
	nonce, rest, ok1 := strings.Cut(v, "\x00")
	started, service, ok2 := strings.Cut(rest, "\x00")
	n, err := strconv.ParseInt(started, 10, 64)
	if !ok1 || !ok2 || err != nil {
		return held{}, false
	}
	return held{ID: id, Nonce: nonce, Service: service, Started: n}, true
}

// helds returns the journeys this browser holds, newest first, lapsed
// (see lapse). A cookie that does not decode (another key, tampering)
// holds none.
func (h *Login) helds(r *http.Request) []held {
	sess, err := h.journeys.Get(r, journeyCookie)
	if err != nil {
		return nil
	}
	now := h.o.Now()
	var out []held
	for k, v := range sess.Values {
		id, _ := k.(string)
		s, _ := v.(string)
		if e, ok := parseHeld(id, s); ok && id != "" && h.lapse(&e, now) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b held) int {
		if a.Started != b.Started {
			return int(b.Started - a.Started)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// holding returns the browser's entry for journey id.
func (h *Login) holding(r *http.Request, id string) (held, bool) {
	for _, e := range h.helds(r) {
		if e.ID == id {
			return e, true
		}
	}
	return held{}, false
}

// hold adds a journey to the browser's cookie, letting the oldest go beyond
// maxJourneys, or when the cookie would be too large to store.
func (h *Login) hold(w http.ResponseWriter, r *http.Request, e held) error {
	if len(e.Service) > maxCookieService {
		e.Service = ""
	}
	keep := append([]held{e}, h.helds(r)...)
	keep = keep[:min(len(keep), maxJourneys)]
	for {
		// A fresh session: the request's may not decode, and entries that
		// go must not linger in it.
		sess := sessions.NewSession(h.journeys, journeyCookie)
		opts := *h.journeys.Options
		sess.Options, sess.IsNew = &opts, true
		for _, k := range keep {
			sess.Values[k.ID] = k.value()
		}
		err := saveFitting(h.journeys, r, w, sess)
		if err == nil || len(keep) == 1 {
			return err
		}
		keep = keep[:len(keep)-1]
	}
}

// maxCookieBytes bounds a cookie's name and value together: browsers drop
// a cookie over 4096 bytes, attributes aside.
const maxCookieBytes = 4000

var errCookieTooLarge = errors.New("web: login cookie too large")

// saveFitting saves sess, unless its cookie would be too large for browsers
// to keep (gorilla's own bound, 4096 bytes for the value alone, is not).
func saveFitting(store *sessions.CookieStore, r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	rec := headerOnly{}
	if err := store.Save(r, rec, sess); err != nil {
		return err
	}
	for _, c := range rec["Set-Cookie"] {
		nameValue, _, _ := strings.Cut(c, ";")
		if len(nameValue)-1 > maxCookieBytes {
			return errCookieTooLarge
		}
	}
	for _, c := range rec["Set-Cookie"] {
		w.Header().Add("Set-Cookie", c)
	}
	return nil
}

// headerOnly is a ResponseWriter that keeps only the headers written to it.
type headerOnly http.Header

func (h headerOnly) Header() http.Header       { return http.Header(h) }
func (headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (headerOnly) WriteHeader(int)             {}

// from is who sends an event for journey id: the holder of its nonce, if
// this browser has one.
func (h *Login) from(c echo.Context, id string) journey.From {
	f := journey.From{ClientIP: c.RealIP()}
	if e, ok := h.holding(c.Request(), id); ok && e.Nonce != "" {
		f.SecretHash = h.hash(purposeNonce, e.Nonce)
	}
	return f
}

// The forms a notice comes from.
const (
	formPhone  = "phone"
	formResend = "resend"
	formCode   = "code"
	formCancel = "cancel"
)

// notice is what a form post tells the page it redirects to.
type notice struct {
	ID   string       `json:"id"`
	Form string       `json:"f,omitempty"`
	Code journey.Code `json:"c,omitempty"`
	// AttemptsLeft: wrong_code.
	AttemptsLeft *int `json:"l,omitempty"`
	// RetryAfter, in seconds: rate_limited, sms_budget_exhausted.
	RetryAfter int `json:"r,omitempty"`
	// Phone is the number as typed, for the person to fix.
	Phone string `json:"p,omitempty"`
	// ResendAfter, in seconds: a code was just sent.
	ResendAfter int `json:"s,omitempty"`
	// Challenge: challenge_required, challenge_failed — the one to solve.
	Challenge *challenge.Challenge `json:"ch,omitempty"`
}

// notify leaves n for the next page of its journey.
func (h *Login) notify(c echo.Context, n notice) {
	if r := []rune(n.Phone); len(r) > maxNoticePhone {
		n.Phone = string(r[:maxNoticePhone])
	}
	b, _ := json.Marshal(n) // strings and numbers: cannot fail
	sess := sessions.NewSession(h.notices, noticeCookie)
	opts := *h.notices.Options
	sess.Options, sess.IsNew = &opts, true
	sess.Values["n"] = string(b)
	if err := h.notices.Save(c.Request(), c.Response(), sess); err != nil {
		// The page then shows without the message: worse, not wrong.
		h.o.Logger.WarnContext(c.Request().Context(), "login notice not stored", "err", err)
	}
}

// takeNotice returns the notice left for journey id, and clears it: a
// reload of the page shows it without. A notice for another journey (another
// tab) stays for its own page.
func (h *Login) takeNotice(c echo.Context, id string) notice {
	r := c.Request()
	sess, err := h.notices.Get(r, noticeCookie)
	if err != nil || sess.IsNew {
		if ck, cerr := r.Cookie(noticeCookie); cerr == nil && ck.Value != "" {
			h.clearNotice(c) // expired or unreadable: gone for good
		}
		return notice{}
	}
	var n notice
	s, _ := sess.Values["n"].(string)
	if json.Unmarshal([]byte(s), &n) != nil || n.ID != id || id == "" {
		return notice{}
	}
	h.clearNotice(c)
	return n
}

func (h *Login) clearNotice(c echo.Context) {
	opts := *h.notices.Options
	opts.MaxAge = -1
	http.SetCookie(c.Response(), sessions.NewCookie(noticeCookie, "", &opts))
}
