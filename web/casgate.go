package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/labstack/echo/v4"

	"wxcas/cas"
	"wxcas/finish"
)

// CASGate signs a browser in to one of wxcas's own pages (the account page,
// the admin console) the way any CAS client signs in, through wxcas's own
// CAS server: a browser without the page's cookie goes to /cas/login with
// the page as its service, comes back with a ticket, and the ticket is
// redeemed in-process (the service is internal: its tickets are never
// validated over HTTP). The page's cookie holds only the SSO session's key
// and a CSRF token, sealed; every request checks in the database that the
// session is still alive, so logging out of CAS (or an account change that
// ends the session) signs the page out too, on every instance.
type CASGate struct {
	// Path is where the page lives ("/account"); its service URL is
	// public_url + Path + "/".
	Path string
	// Cookie names the page's cookie.
	Cookie   string
	Sessions GateSessions
	Pages    *Pages
	// PublicURL is server.public_url.
	PublicURL *url.URL
	// Key seals the cookie (a derived key of the page's own purpose).
	HashKey, BlockKey []byte
	// MaxAge bounds the cookie; the SSO session bounds it too.
	MaxAge time.Duration
	Now    func() time.Time

	codec, pendingCodec *securecookie.SecureCookie
}

// GateSessions is what a gate needs of the CAS server.
type GateSessions interface {
	RedeemTicket(ctx context.Context, serviceURL, ticket string) (cas.Session, error)
	SessionByKey(ctx context.Context, key string) (cas.Session, error)
}

// GateSession is a browser signed in to a gated page.
type GateSession struct {
	cas.Session
	// UserID is the directory user (the principal's userId attribute).
	UserID string
	// CSRF is the token the page's forms carry.
	CSRF string
	// LoggedInAt is when the person last logged in with WeChat: the
	// session's authentication, or a later renew login that signed in here.
	LoggedInAt time.Time
}

// gateCookie is what the page's cookie seals.
type gateCookie struct {
	Key  string `json:"k"`
	CSRF string `json:"c"`
	// Fresh is when this browser last logged in with WeChat to sign in
	// here (a renew login keeps its SSO session, whose AuthenticatedAt
	// stays that of the session's first login); Unix seconds, 0 if never.
	Fresh int64 `json:"f,omitempty"`
}

// GateService is the CAS service entry of a gated page: internal, no
// single logout (the page checks the session on every request instead).
func GateService(id, name, publicURL, path string) cas.Service {
	// Prefix: each sign-in's service URL carries its own nonce (SignIn).
	return cas.Service{ID: id, Name: name, Match: "prefix", URL: strings.TrimSuffix(publicURL, "/") + path + "/",
		LogoutType: "none", Internal: true}
}

// Init prepares the cookie codec.
func (g *CASGate) Init() error {
	if len(g.HashKey) < 32 || len(g.BlockKey) != 32 || g.Sessions == nil || g.Pages == nil || g.PublicURL == nil {
		return errors.New("web: CASGate needs 32-byte keys, Sessions, Pages and PublicURL")
	}
	if g.Now == nil {
		g.Now = time.Now
	}
	if g.MaxAge <= 0 {
		g.MaxAge = 8 * time.Hour
	}
	g.codec = securecookie.New(g.HashKey, g.BlockKey).MaxAge(int(g.MaxAge.Seconds()))
	g.codec.SetSerializer(securecookie.JSONEncoder{})
	g.pendingCodec = securecookie.New(g.HashKey, g.BlockKey).MaxAge(int(pendingTTL.Seconds()))
	g.pendingCodec.SetSerializer(securecookie.JSONEncoder{})
	return nil
}

// ServiceURL is the page's CAS service URL.
func (g *CASGate) ServiceURL() string {
	return strings.TrimSuffix(g.PublicURL.String(), "/") + g.Path + "/"
}

func (g *CASGate) cookiePath() string { return basePath(g.PublicURL) + g.Path + "/" }

// Session returns the browser's session. When ok is false it has answered:
// sent the browser to log in, or shown an error.
func (g *CASGate) Session(c echo.Context) (s GateSession, ok bool) {
	r, w := c.Request(), c.Response()
	ctx := r.Context()
	if ticket := r.URL.Query().Get("ticket"); ticket != "" && r.Method == http.MethodGet {
		return g.redeem(c, ticket)
	}
	var gc gateCookie
	if ck, err := r.Cookie(g.Cookie); err == nil && g.codec.Decode(g.Cookie, ck.Value, &gc) == nil && gc.Key != "" {
		sess, err := g.Sessions.SessionByKey(ctx, gc.Key)
		switch {
		case err == nil:
			at := sess.AuthenticatedAt
			if fresh := time.Unix(gc.Fresh, 0); gc.Fresh != 0 && fresh.After(at) {
				at = fresh
			}
			return GateSession{Session: sess, UserID: finish.UserID(sess.Principal), CSRF: gc.CSRF, LoggedInAt: at}, true
		case !errors.Is(err, cas.ErrNoSession):
			_ = g.Pages.Error(w, r, http.StatusServiceUnavailable, "error_title", "error_unavailable", "")
			return GateSession{}, false
		}
		g.clear(w)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// A form posted after the session ended: nothing is done; the
		// page, loaded again, signs in anew.
		_ = g.Pages.Error(w, r, http.StatusForbidden, "error_title", "gate_signed_out", g.cookiePath())
		return GateSession{}, false
	}
	g.SignIn(c, false)
	return GateSession{}, false
}

// pendingTTL bounds a sign-in between the redirect to CAS and the ticket's
// return (a login journey's own lifetime is of the same order).
const pendingTTL = 15 * time.Minute

// pendingSignIn is one sign-in the browser asked for: the nonce its
// service URL carries, and where the browser was going.
type pendingSignIn struct {
	Nonce  string `json:"n"`
	Return string `json:"r"`
}

// pendingSignIns is what the pending cookie seals: the browser's sign-ins
// in progress, newest last (several tabs may sign in at once).
type pendingSignIns struct {
	List []pendingSignIn `json:"l"`
}

// maxPending bounds the sign-ins one browser has in progress.
const maxPending = 4

// signInURL is the service URL of the sign-in with nonce: a ticket issued
// for it is redeemed only with the same nonce, which only the browser that
// asked holds (in its pending cookie).
func (g *CASGate) signInURL(nonce string) string { return g.ServiceURL() + "?n=" + nonce }

// pending reads the browser's sign-ins in progress (none when unreadable).
func (g *CASGate) pending(r *http.Request) pendingSignIns {
	var p pendingSignIns
	if ck, err := r.Cookie(g.pendingCookie()); err == nil {
		_ = g.pendingCodec.Decode(g.pendingCookie(), ck.Value, &p)
	}
	return p
}

func (g *CASGate) setPending(w http.ResponseWriter, p pendingSignIns) error {
	if len(p.List) == 0 {
		http.SetCookie(w, &http.Cookie{Name: g.pendingCookie(), Value: "", Path: g.cookiePath(), MaxAge: -1, Expires: time.Unix(1, 0),
			HttpOnly: true, Secure: g.PublicURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
		return nil
	}
	v, err := g.pendingCodec.Encode(g.pendingCookie(), p)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: g.pendingCookie(), Value: v, Path: g.cookiePath(), MaxAge: int(pendingTTL.Seconds()),
		HttpOnly: true, Secure: g.PublicURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
	return nil
}

func (g *CASGate) pendingCookie() string { return g.Cookie + "_pending" }

// SignIn sends the browser to CAS to sign in to the page (with renew, to
// log in with WeChat again even within a session), remembering in a
// cookie of its own that this browser asked and the page it was on. The
// ticket CAS sends back is taken only by a browser holding that cookie: a
// ticket someone else obtained cannot sign this browser in as them
// (login CSRF).
func (g *CASGate) SignIn(c echo.Context, renew bool) {
	r, w := c.Request(), c.Response()
	back := g.cookiePath()
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, g.Path+"/") {
		q := r.URL.Query()
		q.Del("ticket")
		q.Del("lang")
		back = basePath(g.PublicURL) + r.URL.Path
		if len(q) > 0 {
			back += "?" + q.Encode()
		}
	}
	rememberLang(w, r, basePath(g.PublicURL))
	p := g.pending(r)
	nonce := rand.Text()
	p.List = append(p.List, pendingSignIn{Nonce: nonce, Return: back})
	if len(p.List) > maxPending {
		p.List = p.List[len(p.List)-maxPending:]
	}
	if err := g.setPending(w, p); err != nil {
		_ = g.Pages.Error(w, r, http.StatusInternalServerError, "error_title", "error_internal", "")
		return
	}
	q := url.Values{"service": {g.signInURL(nonce)}}
	if renew {
		q.Set("renew", "true")
	}
	_ = c.Redirect(http.StatusFound, basePath(g.PublicURL)+"/cas/login?"+q.Encode())
}

// redeem signs the browser in with the ticket CAS sent it back with, then
// sends it back where it was (never with the ticket in the address bar or
// in a later Referer). A browser that did not ask for a sign-in keeps what
// it has: the ticket is used up unseen.
func (g *CASGate) redeem(c echo.Context, ticket string) (GateSession, bool) {
	r, w := c.Request(), c.Response()
	// The ticket must be for one of this browser's own sign-ins: its
	// service URL carries the nonce only this browser's cookie holds.
	nonce := r.URL.Query().Get("n")
	p := g.pending(r)
	i := slices.IndexFunc(p.List, func(s pendingSignIn) bool { return nonce != "" && s.Nonce == nonce })
	if i < 0 {
		_, _ = g.Sessions.RedeemTicket(r.Context(), g.signInURL(nonce), ticket)
		_ = g.Pages.Error(w, r, http.StatusBadRequest, "error_title", "gate_not_asked", g.cookiePath())
		return GateSession{}, false
	}
	pending := p.List[i]
	p.List = slices.Delete(p.List, i, i+1)
	sess, err := g.Sessions.RedeemTicket(r.Context(), g.signInURL(pending.Nonce), ticket)
	if errors.Is(err, cas.ErrNoSession) {
		_ = g.Pages.Error(w, r, http.StatusBadRequest, "error_title", "gate_ticket_invalid", g.cookiePath())
		return GateSession{}, false
	}
	if err != nil {
		_ = g.Pages.Error(w, r, http.StatusServiceUnavailable, "error_title", "error_unavailable", "")
		return GateSession{}, false
	}
	gc := gateCookie{Key: sess.Key, CSRF: rand.Text()}
	if sess.FromNewLogin {
		// The ticket was issued right after the person logged in.
		gc.Fresh = g.Now().Unix()
	}
	v, err := g.codec.Encode(g.Cookie, gc)
	if err != nil {
		_ = g.Pages.Error(w, r, http.StatusInternalServerError, "error_title", "error_internal", "")
		return GateSession{}, false
	}
	http.SetCookie(w, &http.Cookie{Name: g.Cookie, Value: v, Path: g.cookiePath(), MaxAge: int(g.MaxAge.Seconds()),
		HttpOnly: true, Secure: g.PublicURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
	_ = g.setPending(w, p) // the others stay; a failure only leaves this one until it expires
	back := pending.Return
	if !strings.HasPrefix(back, g.cookiePath()) {
		back = g.cookiePath()
	}
	_ = c.Redirect(http.StatusSeeOther, back)
	return GateSession{}, false
}

// CheckCSRF reports whether a form post carries the session's token.
func (s GateSession) CheckCSRF(r *http.Request) bool {
	got := r.PostFormValue("_csrf")
	return s.CSRF != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

// SignOut forgets the page's cookie (the SSO session stays).
func (g *CASGate) SignOut(w http.ResponseWriter) { g.clear(w) }

func (g *CASGate) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: g.Cookie, Value: "", Path: g.cookiePath(), MaxAge: -1, Expires: time.Unix(1, 0),
		HttpOnly: true, Secure: g.PublicURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
}
