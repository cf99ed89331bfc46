package cas

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"wxcas/store"
)

// flag reports whether a boolean protocol parameter (renew, gateway) is set:
// present with any value other than "false".
func flag(r *http.Request, name string) bool {
	v, ok := r.Form[name]
	if !ok {
		return false
	}
	return len(v) == 0 || !strings.EqualFold(v[0], "false")
}

func noCache(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request, auth Authenticator) {
	noCache(w)
	if err := r.ParseForm(); err != nil {
		s.pages.Error(w, r, http.StatusBadRequest, ReasonServiceInvalid)
		return
	}
	req := LoginRequest{
		ServiceURL: r.Form.Get("service"),
		Renew:      flag(r, "renew"),
		Gateway:    flag(r, "gateway"),
		Method:     http.MethodGet,
	}
	if req.Renew {
		req.Gateway = false // the spec: renew wins over gateway
	}
	switch m := r.Form.Get("method"); {
	case m == "" || strings.EqualFold(m, "GET"):
	case strings.EqualFold(m, "POST"):
		req.Method = http.MethodPost
	default:
		s.pages.Error(w, r, http.StatusBadRequest, ReasonMethodUnsupported)
		return
	}
	var svc *registered
	if _, present := r.Form["service"]; present {
		var norm, reason string
		svc, norm, reason = s.checkService(req.ServiceURL)
		if svc == nil {
			s.log.WarnContext(r.Context(), "cas: login for an unusable service refused", "reason", reason, "service", truncate(req.ServiceURL, 200))
			s.pages.Error(w, r, http.StatusBadRequest, reason)
			return
		}
		// From here on only the normalised URL is used: it is what matched,
		// so it is where the ticket may go.
		req.ServiceURL, req.ServiceID, req.ServiceName = norm, svc.ID, svc.Name
	}

	_, tgt, ok, err := s.sso(w, r)
	if err != nil {
		// Neither SSO nor a new login: whether the browser has a session
		// is unknown until the database answers, and a new login would
		// replace a session that may be alive.
		s.failPage(w, r, "cas: cannot read SSO session", err)
		return
	}
	if ok && req.Renew {
		req.SessionKey = tgt.Key
	}
	if ok && !req.Renew {
		if svc == nil {
			s.pages.LoggedIn(w, r, tgt.PrincipalID)
			return
		}
		st, err := s.issueST(r.Context(), tgt, svc, req.ServiceURL, false)
		if err != nil {
			s.failPage(w, r, "cas: cannot issue service ticket", err, "service", svc.ID)
			return
		}
		s.log.InfoContext(r.Context(), "cas: service ticket issued from SSO", "user", tgt.PrincipalID, "service", svc.ID, "ticket", shortID(st))
		s.sendBack(w, r, req, st)
		return
	}
	if req.Gateway && svc != nil {
		s.sendBack(w, r, req, "")
		return
	}
	if auth == nil {
		s.pages.Error(w, r, http.StatusServiceUnavailable, ReasonLoginUnavailable)
		return
	}
	auth.Authenticate(w, r, req)
}

// checkService resolves a service parameter to its registered service and
// normalised URL; nil and an error reason when it is empty, malformed or not
// registered.
func (s *Server) checkService(serviceURL string) (*registered, string, string) {
	if serviceURL == "" {
		return nil, "", ReasonServiceMissing
	}
	svc, norm, err := s.reg.lookup(serviceURL)
	switch {
	case err != nil:
		return nil, "", ReasonServiceInvalid
	case svc == nil:
		return nil, "", ReasonServiceUnknown
	}
	return svc, norm, ""
}

// CompleteLogin finishes a login the Authenticator started: it creates the
// SSO session and cookie, then sends the browser back to the service with a
// fresh ST (or shows the "logged in" page when there is no service). It
// always writes the response; a returned error is for the caller's log.
func (s *Server) CompleteLogin(w http.ResponseWriter, r *http.Request, req LoginRequest, p Principal) error {
	noCache(w)
	if p.ID == "" || len(p.ID) > 255 || !ValidText(p.ID) {
		s.pages.Error(w, r, http.StatusInternalServerError, ReasonPrincipalInvalid)
		return errors.New("cas: principal id is empty, too long or not valid UTF-8 text")
	}
	var svc *registered
	if req.ServiceURL != "" {
		var norm, reason string
		if svc, norm, reason = s.checkService(req.ServiceURL); svc == nil {
			s.pages.Error(w, r, http.StatusBadRequest, reason)
			return fmt.Errorf("cas: service no longer usable: %s", reason)
		}
		req.ServiceURL = norm
	}
	if req.Method != http.MethodPost {
		req.Method = http.MethodGet
	}
	ctx := r.Context()
	now := s.now()

	// A live session of the same user is kept (a renew login must not log
	// the user out of everything); another user's session is ended first.
	// When the database cannot say which session the browser has, or
	// cannot end the other user's, the login fails rather than leave that
	// user logged in to its services behind the new one.
	tgtID, tgt, ok, err := s.sso(w, r)
	if err != nil {
		s.failPage(w, r, "cas: cannot read SSO session", err)
		return err
	}
	if !ok && req.SessionKey != "" {
		t, err := s.store.GetTGT(ctx, req.SessionKey)
		switch {
		case err == nil && !t.expired(now):
			tgtID, tgt, ok = "", t, true // the browser keeps its cookie
		case err != nil && !errors.Is(err, store.ErrNotFound):
			s.failPage(w, r, "cas: cannot read the session renewed", err)
			return err
		}
	}
	if ok && tgt.PrincipalID != p.ID {
		if err := s.logout(ctx, tgt.Key); err != nil {
			s.failPage(w, r, "cas: cannot end another user's SSO session", err)
			return err
		}
		ok = false
	}
	var first *Ticket // the login's ST, when the login starts the session
	if !ok {
		if tgtID, tgt, first, err = s.newSession(ctx, p, svc, req.ServiceURL); err != nil {
			s.failPage(w, r, "cas: cannot start SSO session", err)
			return err
		}
		s.log.InfoContext(ctx, "cas: SSO session started", "user", p.ID, "tgt", shortID(tgtID))
	}
	if tgtID != "" {
		s.setCookie(w, tgtID)
	}
	if svc == nil {
		s.pages.LoggedIn(w, r, p.ID)
		return nil
	}
	var st string
	if first != nil {
		// Its service was recorded for single logout with the session.
		st = first.ID
		err = s.store.CreateTicket(ctx, *first, nil)
	} else {
		st, err = s.issueST(ctx, tgt, svc, req.ServiceURL, true)
	}
	if err != nil {
		s.failPage(w, r, "cas: cannot issue service ticket", err, "service", svc.ID)
		return err
	}
	s.log.InfoContext(ctx, "cas: service ticket issued after login", "user", p.ID, "service", svc.ID, "ticket", shortID(st))
	s.sendBack(w, r, req, st)
	return nil
}

// newSession creates and stores a TGT for an authenticated principal: the
// browser login and the API clients start their sessions the same way.
// With a service (svc not nil: a browser login for serviceURL, the
// normalised URL from checkService) it also returns the login's ST, not yet
// stored: its service is recorded for single logout in the TGT's own row
// (TGT.FirstService), which spares the login a write, and the caller stores
// the ticket with CreateTicket and no slo. The ticket is made before the
// TGT is stored because the TGT row names it; it is stored after, because
// its expiry is capped by the stored session's.
func (s *Server) newSession(ctx context.Context, p Principal, svc *registered, serviceURL string) (string, TGT, *Ticket, error) {
	if p.ID == "" || len(p.ID) > 255 || !ValidText(p.ID) {
		return "", TGT{}, nil, errors.New("cas: principal id is empty, too long or not valid UTF-8 text")
	}
	now := s.now()
	authAt := p.AuthenticatedAt
	if authAt.IsZero() || authAt.After(now) {
		authAt = now
	}
	tgtID := newTicketID(prefixTGT, true)
	tgt := TGT{
		Key:             ticketKey(tgtID),
		PrincipalID:     p.ID,
		Attributes:      p.Attributes,
		AuthenticatedAt: store.Time(authAt),
		CreatedAt:       store.Time(now),
		LastUsedAt:      store.Time(now),
		ExpiresAt:       store.Time(now.Add(s.cfg.TGTMaxLifetime)),
		IdleExpiresAt:   store.Time(now.Add(s.cfg.TGTIdleTimeout)),
	}
	var first *Ticket
	if svc != nil {
		t, slo := s.newST(tgt, svc, serviceURL, true, now)
		first, tgt.FirstService = &t, slo
	}
	if err := s.store.CreateTGT(ctx, tgt); err != nil {
		return "", TGT{}, nil, err
	}
	return tgtID, tgt, first, nil
}

// issueST creates an ST for a live session and records the service for
// single logout; it also counts as use of the session (idle expiry).
// serviceURL is the normalised URL from checkService.
func (s *Server) issueST(ctx context.Context, tgt TGT, svc *registered, serviceURL string, fromNewLogin bool) (string, error) {
	now := s.now()
	// The use is recorded before the ticket is stored, because the store
	// caps the ticket's expiry at the session's idle expiry as it then
	// stands. After this the session has at least the idle timeout less
	// touchStep ahead of it (2 h less a minute by default), far longer than
	// an ST lives (10 s by default, 5 min at most), so the cap does not
	// bite; it only matters when the idle timeout is configured shorter than
	// a ticket's life, and then a ticket must not outlive its session either.
	idleExpires := now.Add(s.cfg.TGTIdleTimeout)
	if idleExpires.Sub(tgt.IdleExpiresAt) > touchStep(s.cfg.TGTIdleTimeout) {
		if err := s.store.TouchTGT(ctx, tgt.Key, now, idleExpires); err != nil {
			return "", err
		}
	}
	t, slo := s.newST(tgt, svc, serviceURL, fromNewLogin, now)
	if err := s.store.CreateTicket(ctx, t, slo); err != nil {
		return "", err
	}
	return t.ID, nil
}

// newST makes an ST of tgt for serviceURL issued at now, and the record
// single logout needs of it: nil for a service with logout_type none.
func (s *Server) newST(tgt TGT, svc *registered, serviceURL string, fromNewLogin bool, now time.Time) (Ticket, *SLOTarget) {
	t := Ticket{
		ID:           newTicketID(prefixST, false),
		TGTKey:       tgt.Key,
		Service:      serviceURL,
		FromNewLogin: fromNewLogin,
		CreatedAt:    now,
		ExpiresAt:    now.Add(s.cfg.ServiceTicketTTL),
		Principal:    tgt.principal(),
	}
	if svc.LogoutType == LogoutNone {
		return t, nil
	}
	logoutURL := svc.logoutURL
	if logoutURL == "" {
		logoutURL = stripFragment(serviceURL)
	}
	return t, &SLOTarget{TicketID: t.ID, ServiceID: svc.ID, ServiceURL: serviceURL, LogoutURL: logoutURL}
}

// touchStep is how far a session's idle expiry must move before issuing a
// ticket writes it: one minute, or 1 % of the idle timeout when that is
// shorter. A sliding idle expiry needs no microsecond accuracy: a session
// used without a write may end up to touchStep early (never late), which is
// at most a minute and at most 1 % of the timeout. In exchange the login
// that just created the session writes nothing more (its idle expiry is
// already now + timeout), and a session in use is written at most once per
// touchStep however many SSO logins it serves.
func touchStep(idleTimeout time.Duration) time.Duration {
	return min(time.Minute, idleTimeout/100)
}

// sendBack returns the browser to the service, with the ticket unless it is
// "" (gateway without SSO). req.ServiceURL is the normalised URL.
func (s *Server) sendBack(w http.ResponseWriter, r *http.Request, req LoginRequest, ticket string) {
	if req.Method == http.MethodPost {
		fields := map[string]string{}
		if ticket != "" {
			fields["ticket"] = ticket
		}
		s.pages.PostRedirect(w, r, req.ServiceURL, fields)
		return
	}
	target := req.ServiceURL
	if ticket != "" {
		target = withTicket(target, ticket)
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
}

// sso returns the live session named by the request's cookie; ok is false
// when there is none. A cookie that is forged, unknown or names an expired
// session is cleared (and an expired session ended). A failure to read the
// session is returned and the cookie kept: the session may well be alive,
// and clearing the cookie during a database outage would log out everyone
// who comes by. The caller must then answer with an error, not as if the
// browser had no session.
func (s *Server) sso(w http.ResponseWriter, r *http.Request) (tgtID string, tgt TGT, ok bool, err error) {
	c, err := r.Cookie(s.cfg.CookieName)
	if err != nil || c.Value == "" {
		return "", TGT{}, false, nil
	}
	ctx := r.Context()
	tgtID, ok = s.parseCookie(c.Value)
	if !ok {
		s.log.WarnContext(ctx, "cas: ticket-granting cookie with a bad signature ignored")
		s.clearCookie(w)
		return "", TGT{}, false, nil
	}
	tgt, err = s.store.GetTGT(ctx, ticketKey(tgtID))
	if errors.Is(err, store.ErrNotFound) {
		s.clearCookie(w)
		return "", TGT{}, false, nil
	}
	if err != nil {
		return "", TGT{}, false, err
	}
	if tgt.expired(s.now()) {
		// The session is over whether or not its row goes now: the
		// janitor removes a row left behind (with single logout).
		if err := s.endSession(ctx, tgt.Key); err != nil {
			s.log.ErrorContext(ctx, "cas: cannot end expired SSO session", "err", err)
		}
		s.clearCookie(w)
		return "", TGT{}, false, nil
	}
	return tgtID, tgt, true, nil
}

// endSession removes a session and sends single logout in the background.
// A session already gone is not an error; any other failure is returned,
// for the caller to decide whether the session must be known to be over.
func (s *Server) endSession(ctx context.Context, key string) error {
	return s.end(ctx, key, false)
}

// logout ends a session the user (or a client for the user) asked to end,
// as endSession, and also tells the protocols built on the session
// (OnLogout): logging out ends their sessions too.
func (s *Server) logout(ctx context.Context, key string) error {
	return s.end(ctx, key, true)
}

func (s *Server) end(ctx context.Context, key string, asked bool) error {
	if asked && s.beforeLogout != nil {
		// What the session granted elsewhere ends first: if it cannot,
		// the session stays, and the logout fails and can be tried again
		// (after the session is gone, a retry would find nothing to end).
		if err := s.beforeLogout(ctx, key); err != nil {
			return err
		}
	}
	ended, err := s.store.DeleteTGT(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "cas: SSO session ended", "user", ended.TGT.PrincipalID, "services", len(ended.Services))
	s.slo.send(ended, s.now())
	if asked && s.onLogout != nil {
		s.onLogout(ctx, ended)
	}
	return nil
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	noCache(w)
	_ = r.ParseForm()
	if c, err := r.Cookie(s.cfg.CookieName); err == nil {
		if tgtID, ok := s.parseCookie(c.Value); ok {
			if err := s.logout(r.Context(), ticketKey(tgtID)); err != nil {
				// Never "you have been logged out" while the session and
				// its services' sessions live on: the user would walk away
				// from a shared computer still logged in. The cookie stays
				// so that trying again can end the session.
				s.failPage(w, r, "cas: cannot end SSO session at logout", err)
				return
			}
		}
		s.clearCookie(w)
	}
	// CAS 3.0: follow service only when registered; the 2.0 url parameter
	// is ignored.
	var back *ServiceLink
	if service := r.Form.Get("service"); service != "" {
		if svc, norm, _ := s.checkService(service); svc != nil {
			if s.cfg.LogoutRedirect || svc.Internal {
				// wxcas's own pages (the OpenID logout's end) go on at once:
				// they say "logged out" themselves.
				w.Header().Set("Location", norm)
				w.WriteHeader(http.StatusSeeOther)
				return
			}
			back = &ServiceLink{URL: norm, Name: svc.Name}
		} else {
			s.log.InfoContext(r.Context(), "cas: logout redirect to an unregistered service ignored", "service", truncate(service, 200))
		}
	}
	s.pages.LoggedOut(w, r, back)
}

// The ticket-granting cookie is the TGT id, "-", and the hex HMAC-SHA256 of
// the id under CookieKey: all within [A-Za-z0-9-]. A cookie that was not made
// here is rejected without touching the database.
func (s *Server) cookieMAC(tgtID string) string {
	m := hmac.New(sha256.New, s.cookieKey)
	m.Write([]byte("wxcas TGC v1\x00" + tgtID))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) cookieValue(tgtID string) string { return tgtID + "-" + s.cookieMAC(tgtID) }

func (s *Server) parseCookie(v string) (string, bool) {
	i := strings.LastIndexByte(v, '-')
	if i < 0 || !strings.HasPrefix(v, prefixTGT) {
		return "", false
	}
	id, mac := v[:i], v[i+1:]
	if !hmac.Equal([]byte(mac), []byte(s.cookieMAC(id))) {
		return "", false
	}
	return id, true
}

func (s *Server) setCookie(w http.ResponseWriter, tgtID string) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cfg.CookieName,
		Value:    s.cookieValue(tgtID),
		Path:     s.cookiePath,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cfg.CookieName,
		Value:    "",
		Path:     s.cookiePath,
		MaxAge:   -1,
		Expires:  time.Unix(1, 0),
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
