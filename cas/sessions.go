package cas

import (
	"context"
	"errors"
	"time"

	"wxcas/store"
)

// This file is the SSO session as other protocols see it. wxcas's OpenID
// provider is built on the CAS session, as Apereo CAS builds its own: a
// browser authorization is a CAS login for an internal service, the app's
// session token is a TGT, and logging out of either ends both.

// Session is a live SSO session.
type Session struct {
	// Key is the SHA-256 of the TGT id: it names the session without being
	// a credential.
	Key             string
	Principal       Principal
	AuthenticatedAt time.Time
	// FromNewLogin: the ticket redeemed was issued right after primary
	// authentication, not from single sign-on.
	FromNewLogin bool
}

// inProcess marks a validation from Go code (RedeemTicket): the only way
// an internal service's ticket is validated.
type inProcess struct{}

// ErrNoSession: the ticket or TGT names no live session (unknown, used,
// expired, issued for another service). Any other error is a failure to
// find out.
var ErrNoSession = errors.New("cas: no live SSO session")

func sessionOf(tgt TGT) Session {
	return Session{Key: tgt.Key, Principal: Principal{ID: tgt.PrincipalID, Attributes: tgt.Attributes, AuthenticatedAt: tgt.AuthenticatedAt}, AuthenticatedAt: tgt.AuthenticatedAt}
}

// RedeemTicket validates a service ticket for serviceURL from Go code, by
// the rules of /p3/serviceValidate (the ticket is used up whatever the
// outcome), and returns the session it was issued in.
func (s *Server) RedeemTicket(ctx context.Context, serviceURL, ticket string) (Session, error) {
	v, verr := s.validateTicket(context.WithValue(ctx, inProcess{}, true), serviceURL, ticket, false, false)
	if verr != nil {
		if verr.Code == CodeInternalError {
			return Session{}, errors.New("cas: ticket validation failed: " + verr.Message)
		}
		return Session{}, ErrNoSession
	}
	out := sessionOf(v.tgt)
	out.FromNewLogin = v.ticket.FromNewLogin
	return out, nil
}

// SessionOf returns the live session a TGT id names (the JSON API's session
// token). An expired session is ended, as at /cas/login.
func (s *Server) SessionOf(ctx context.Context, tgtID string) (Session, error) {
	tgt, err := s.restSession(ctx, tgtID)
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, err
	}
	return sessionOf(tgt), nil
}

// SessionByKey returns the live session stored under key.
func (s *Server) SessionByKey(ctx context.Context, key string) (Session, error) {
	tgt, err := s.store.GetTGT(ctx, key)
	if errors.Is(err, store.ErrNotFound) || (err == nil && tgt.expired(s.now())) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, err
	}
	return sessionOf(tgt), nil
}

// Logout ends the session stored under key as /cas/logout does: single
// logout to its services, and OnLogout. A session already gone is not an
// error.
func (s *Server) Logout(ctx context.Context, key string) error { return s.logout(ctx, key) }

// EndSessionsOf ends every live session of the principal except the one
// stored under keep (empty: all of them), each as Logout does: single
// logout to its services and OnLogout (the OpenID grants of the session).
// It returns how many it ended; on an error the sessions before it are
// ended and the rest are not.
func (s *Server) EndSessionsOf(ctx context.Context, principalID, keep string) (int, error) {
	ended := 0
	for {
		keys, err := s.store.SessionsOf(ctx, principalID, s.now())
		if err != nil {
			return ended, err
		}
		n := 0
		for _, k := range keys {
			if k == keep {
				continue
			}
			if err := s.logout(ctx, k); err != nil {
				return ended, err
			}
			ended++
			n++
		}
		if len(keys) < maxSessionsOf || n == 0 {
			return ended, nil
		}
	}
}

// OnLogout sets what is told when a user's session is ended by a logout
// (/cas/logout, the REST DELETE, another user logging in on the browser,
// Logout), after the session is gone: the protocols built on the session
// end theirs. Sessions that merely expire are not reported. Set it before
// serving.
//
// before, when set, runs first with the session's key; when it fails, the
// session is not ended and the logout reports the error, so that it can be
// tried again.
func (s *Server) OnLogout(before func(ctx context.Context, key string) error, after func(ctx context.Context, e EndedSession)) {
	s.beforeLogout, s.onLogout = before, after
}
