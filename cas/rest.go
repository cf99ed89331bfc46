package cas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"wxcas/store"
)

// The REST protocol (Apereo's cas-server-support-rest) for clients that are
// not browsers: mini programs and mobile apps log in through wxcas's JSON API,
// which hands them a TGT from CreateSession; with it they ask
// POST /cas/v1/tickets/{TGT} for service tickets, which services validate at
// the usual endpoints. GET reports whether the TGT is alive and DELETE ends
// it, with single logout. The TGT never becomes a cookie: a REST session
// gives no browser SSO.
//
// POST /cas/v1/tickets (a TGT for username and password) is answered 400
// with a plain explanation: wxcas has no passwords, people log in with
// WeChat. 400 rather than 401 (which invites trying another password and
// needs a WWW-Authenticate challenge) or 501 (a server-fault status, retried
// and alarmed on as an outage, and meant for unknown methods); Apereo's own
// REST module answers 400 for requests it cannot use.
const restTicketsPath = "/cas/v1/tickets"

// restNoPasswords is the body of every POST /cas/v1/tickets.
const restNoPasswords = "username/password login is not supported by this CAS server: " +
	"log in with WeChat (POST /api/v1/login/wechat) and use the TGT it returns at /cas/v1/tickets/{TGT}\n"

// CreateSession starts an SSO session for a principal authenticated outside
// a browser (the JSON API for mini programs and mobile apps) and returns the
// TGT id and the session's hard expiry; the session also ends after
// Config.TGTIdleTimeout without a ticket being issued. The session is the
// one CompleteLogin creates, without the cookie.
func (s *Server) CreateSession(ctx context.Context, p Principal) (string, time.Time, error) {
	tgtID, tgt, _, err := s.newSession(ctx, p, nil, "")
	if err != nil {
		return "", time.Time{}, err
	}
	s.log.InfoContext(ctx, "cas: SSO session started for an API client", "user", p.ID, "tgt", shortID(tgtID))
	return tgtID, tgt.ExpiresAt, nil
}

// handleRESTCreateTGT answers POST /cas/v1/tickets.
func (s *Server) handleRESTCreateTGT(w http.ResponseWriter, r *http.Request) {
	noCache(w)
	_, _ = io.Copy(io.Discard, r.Body) // never look at the credentials
	s.log.InfoContext(r.Context(), "cas: REST username/password login refused (not supported)")
	restText(w, http.StatusBadRequest, restNoPasswords)
}

// handleRESTTicket answers GET, POST and DELETE /cas/v1/tickets/{TGT}.
func (s *Server) handleRESTTicket(w http.ResponseWriter, r *http.Request, tgtID string) {
	noCache(w)
	switch r.Method {
	case http.MethodGet:
		if _, err := s.restSession(r.Context(), tgtID); err != nil {
			s.restSessionFailed(w, r, err)
			return
		}
		restText(w, http.StatusOK, tgtID)
	case http.MethodDelete:
		// Idempotent, as in Apereo: logging out of an ended session
		// succeeds. What cannot be a TGT is not "logged out": a client
		// must not believe it ended a session it never named.
		if !restWellFormedTGT(tgtID) {
			restText(w, http.StatusNotFound, "not a ticket-granting ticket\n")
			return
		}
		if err := s.logout(r.Context(), ticketKey(tgtID)); err != nil {
			// Not "logged out" while the session lives on: the client
			// would drop its TGT and never retry.
			s.restFailed(w, r, "cas: cannot end SSO session over REST", err)
			return
		}
		restText(w, http.StatusOK, tgtID)
	case http.MethodPost:
		s.restServiceTicket(w, r, tgtID)
	}
}

// restServiceTicket issues an ST for a registered service from a live TGT.
func (s *Server) restServiceTicket(w http.ResponseWriter, r *http.Request, tgtID string) {
	ctx := r.Context()
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		restText(w, http.StatusUnsupportedMediaType, "the body must be application/x-www-form-urlencoded with service=<url>\n")
		return
	}
	if err := r.ParseForm(); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			restText(w, http.StatusRequestEntityTooLarge, "request body too large\n")
			return
		}
		restText(w, http.StatusBadRequest, "malformed form body\n")
		return
	}
	service := r.Form.Get("service")
	if service == "" {
		restText(w, http.StatusBadRequest, "the service parameter is required\n")
		return
	}
	if flag(r, "renew") {
		restText(w, http.StatusBadRequest, "renew needs primary credentials, which this server does not take here: log in with WeChat again for a new TGT\n")
		return
	}
	svc, norm, reason := s.checkService(service)
	if svc != nil && svc.Internal {
		// wxcas's own continuation: only a browser login reaches it.
		svc, reason = nil, ReasonServiceUnknown
	}
	if svc == nil {
		s.log.WarnContext(ctx, "cas: REST service ticket for an unusable service refused", "reason", reason, "service", truncate(service, 200))
		msg := "service is not registered with this CAS server\n"
		if reason == ReasonServiceInvalid {
			msg = "service is not a valid absolute http(s) URL\n"
		}
		restText(w, http.StatusBadRequest, msg)
		return
	}
	tgt, err := s.restSession(ctx, tgtID)
	if err != nil {
		s.restSessionFailed(w, r, err)
		return
	}
	st, err := s.issueST(ctx, tgt, svc, norm, false)
	if err != nil {
		s.restFailed(w, r, "cas: cannot issue service ticket", err, "service", svc.ID)
		return
	}
	s.log.InfoContext(ctx, "cas: service ticket issued over REST", "user", tgt.PrincipalID, "service", svc.ID, "ticket", shortID(st))
	restText(w, http.StatusOK, st)
}

// restSession returns the live session a TGT id names, or store.ErrNotFound
// when it names none (malformed, unknown or expired), or the error that kept
// the session from being read. An expired session is ended (with single
// logout), as at /cas/login.
func (s *Server) restSession(ctx context.Context, tgtID string) (TGT, error) {
	if !restWellFormedTGT(tgtID) {
		return TGT{}, store.ErrNotFound
	}
	tgt, err := s.store.GetTGT(ctx, ticketKey(tgtID))
	if err != nil {
		return TGT{}, err
	}
	if tgt.expired(s.now()) {
		// Over either way: the janitor removes a row left behind.
		if err := s.endSession(ctx, tgt.Key); err != nil {
			s.log.ErrorContext(ctx, "cas: cannot end expired SSO session", "err", err)
		}
		return TGT{}, store.ErrNotFound
	}
	return tgt, nil
}

// restSessionFailed answers a request whose TGT restSession did not return:
// 404 only when the session is really gone. A client told 404 drops its TGT
// and logs the user in again, which must not happen to a live session
// because the database was out of reach for a moment.
func (s *Server) restSessionFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		restText(w, http.StatusNotFound, "ticket-granting ticket not found or expired\n")
		return
	}
	s.restFailed(w, r, "cas: cannot read SSO session", err)
}

// restFailed logs a failed REST request (msg, err and attrs) and answers at
// failureStatus, in plain text like every REST answer.
func (s *Server) restFailed(w http.ResponseWriter, r *http.Request, msg string, err error, attrs ...any) {
	s.log.ErrorContext(r.Context(), msg, append(attrs, "err", err)...)
	status := failureStatus(err)
	body := "internal error\n"
	if status == http.StatusServiceUnavailable {
		body = "temporarily unavailable, try again in a moment\n"
	}
	restText(w, status, body)
}

// restWellFormedTGT rejects what cannot be a TGT id without a database read.
func restWellFormedTGT(id string) bool {
	if !strings.HasPrefix(id, prefixTGT) || len(id) > 256 {
		return false
	}
	for _, c := range id {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func restText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = fmt.Fprint(w, body)
}
