package cas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"wxcas/store"
)

// validationError is a failed validation: a protocol code and a message for
// the client.
type validationError struct {
	Code    string
	Message string
}

func (e *validationError) Error() string { return e.Code + ": " + e.Message }

func failf(code, format string, args ...any) *validationError {
	return &validationError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// validation is a successful check of a ticket.
type validation struct {
	ticket Ticket
	// tgt is the session the ticket was issued in, as far as validation
	// answers from it: Key, PrincipalID, Attributes and AuthenticatedAt.
	// Its other fields are left zero when the ticket carried the principal
	// and the TGT was not read.
	tgt TGT
	svc *registered
	// user is what the service receives as the user: the principal id or
	// its PrincipalAttribute.
	user string
}

// validateTicket is the common core of every validation endpoint. Order, as
// in Apereo's AbstractServiceValidateController:
//
//	missing service or ticket      → INVALID_REQUEST (nothing consumed)
//	then the ticket is consumed: whatever follows, it is gone
//	service not registered         → UNAUTHORIZED_SERVICE
//	unknown, used or expired       → INVALID_TICKET
//	PT where only STs are accepted → INVALID_TICKET
//	session ended                  → INVALID_TICKET
//	issued for another service     → INVALID_SERVICE
//	renew but ticket from SSO      → INVALID_TICKET
//	no value for principal_attribute → INVALID_TICKET
func (s *Server) validateTicket(ctx context.Context, service, ticket string, renew, acceptPT bool) (validation, *validationError) {
	if service == "" || ticket == "" {
		var missing []string
		if service == "" {
			missing = append(missing, "service")
		}
		if ticket == "" {
			missing = append(missing, "ticket")
		}
		return validation{}, failf(CodeInvalidRequest, "Required parameter(s) missing: %s", strings.Join(missing, ", "))
	}
	// Every attempt that names a ticket uses it up, success or not: a
	// guessed or stolen ticket cannot be tried twice.
	t, err := s.store.ConsumeTicket(ctx, ticket)
	var found bool
	switch {
	case err == nil:
		found = true
	case errors.Is(err, store.ErrNotFound):
	default:
		s.log.ErrorContext(ctx, "cas: cannot read ticket", "ticket", shortID(ticket), "err", err)
		return validation{}, failf(CodeInternalError, "Internal error while validating the ticket")
	}
	svc, presented, _ := s.reg.lookupPresented(service)
	if svc == nil {
		s.log.WarnContext(ctx, "cas: validation for an unregistered service", "service", truncate(service, 200), "ticket", shortID(ticket))
		return validation{}, failf(CodeUnauthorizedService, "Service %s is not registered", truncate(service, 200))
	}
	if svc.Internal && ctx.Value(inProcess{}) == nil {
		// The ticket is used up all the same: it was meant for wxcas.
		s.log.WarnContext(ctx, "cas: validation for an internal service refused", "service", svc.ID, "ticket", shortID(ticket))
		return validation{}, failf(CodeUnauthorizedService, "Service %s is not registered", truncate(service, 200))
	}
	if !found {
		return validation{}, failf(CodeInvalidTicket, "Ticket %s not recognized", shortID(ticket))
	}
	if t.IsProxy() && !acceptPT {
		return validation{}, failf(CodeInvalidTicket, "Ticket %s is a proxy ticket; use proxyValidate", shortID(ticket))
	}
	now := s.now()
	if !now.Before(t.ExpiresAt) {
		return validation{}, failf(CodeInvalidTicket, "Ticket %s has expired", shortID(ticket))
	}
	// A ticket that carries its principal proves by itself that its session
	// is alive: ending a session deletes its tickets in the same
	// transaction, a ticket issued for a session already gone is stored
	// expired, and a ticket never expires after its session's hard or idle
	// expiry (TicketStore.CreateTicket). So the TGT is not read. A ticket
	// stored without the principal (by the release before migration 00050,
	// during an upgrade) is checked against its TGT, as before.
	tgt := TGT{
		Key:             t.TGTKey,
		PrincipalID:     t.Principal.ID,
		Attributes:      t.Principal.Attributes,
		AuthenticatedAt: t.Principal.AuthenticatedAt,
	}
	if !t.carriesPrincipal() {
		tgt, err = s.store.GetTGT(ctx, t.TGTKey)
		if errors.Is(err, store.ErrNotFound) || (err == nil && tgt.expired(now)) {
			return validation{}, failf(CodeInvalidTicket, "Ticket %s belongs to an ended SSO session", shortID(ticket))
		}
		if err != nil {
			s.log.ErrorContext(ctx, "cas: cannot read SSO session", "err", err)
			return validation{}, failf(CodeInternalError, "Internal error while validating the ticket")
		}
	}
	if !sameService(t.Service, presented) {
		s.log.WarnContext(ctx, "cas: ticket presented for another service", "ticket", shortID(ticket), "issued_for", truncate(t.Service, 200), "presented", truncate(service, 200))
		return validation{}, failf(CodeInvalidService, "Ticket %s was not issued for this service", shortID(ticket))
	}
	if renew && !t.FromNewLogin {
		return validation{}, failf(CodeInvalidTicket, "Ticket %s was issued from single sign-on, not from a new login (renew)", shortID(ticket))
	}
	// The service asked for a user name from an attribute: a principal
	// without one is refused, never answered with the principal id.
	user, err := svc.User(Principal{ID: tgt.PrincipalID, Attributes: tgt.Attributes})
	if err != nil {
		s.log.WarnContext(ctx, "cas: principal lacks the service's principal attribute", "user", tgt.PrincipalID, "service", svc.ID, "attribute", svc.PrincipalAttribute)
		return validation{}, failf(CodeInvalidTicket, "Ticket %s cannot be validated for this service: the user has no %s attribute, which the service receives as the user name", shortID(ticket), svc.PrincipalAttribute)
	}
	return validation{ticket: t, tgt: tgt, svc: svc, user: user}, nil
}

// handleValidate is CAS 1.0 /validate: "yes\n<user>\n" or "no\n\n".
func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	v, verr := s.validateTicket(r.Context(), r.Form.Get("service"), r.Form.Get("ticket"), flag(r, "renew"), false)
	if verr != nil {
		s.log.InfoContext(r.Context(), "cas: validation failed", "endpoint", "validate", "code", verr.Code, "ticket", shortID(r.Form.Get("ticket")))
		_, _ = io.WriteString(w, "no\n\n")
		return
	}
	s.log.InfoContext(r.Context(), "cas: ticket validated", "endpoint", "validate", "user", v.tgt.PrincipalID, "service", v.svc.ID, "released_as", releasedAs(v))
	_, _ = io.WriteString(w, "yes\n"+v.user+"\n")
}

// validator serves /serviceValidate (proxy=false, p3=false), /proxyValidate,
// /p3/serviceValidate and /p3/proxyValidate.
func (s *Server) validator(acceptPT, p3 bool) http.HandlerFunc {
	endpoint := map[[2]bool]string{
		{false, false}: "serviceValidate", {true, false}: "proxyValidate",
		{false, true}: "p3/serviceValidate", {true, true}: "p3/proxyValidate",
	}[[2]bool{acceptPT, p3}]
	return func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f, ok := parseFormat(r.Form.Get("format"))
		if !ok {
			writeDoc(w, formatXML, failureXML("authenticationFailure", CodeInvalidRequest, "Unsupported format; use XML or JSON"))
			return
		}
		fail := func(e *validationError) {
			s.log.InfoContext(r.Context(), "cas: validation failed", "endpoint", endpoint, "code", e.Code, "ticket", shortID(r.Form.Get("ticket")))
			if f == formatJSON {
				writeDoc(w, f, failureJSON("authenticationFailure", e.Code, e.Message))
			} else {
				writeDoc(w, f, failureXML("authenticationFailure", e.Code, e.Message))
			}
		}
		ctx := r.Context()
		v, verr := s.validateTicket(ctx, r.Form.Get("service"), r.Form.Get("ticket"), flag(r, "renew"), acceptPT)
		if verr != nil {
			fail(verr)
			return
		}
		out := success{User: v.user}
		if acceptPT {
			out.Proxies = v.ticket.Proxies
		}
		if p3 || v.svc.AttributesOnServiceValidate {
			out.Attributes = s.releasedAttributes(v)
		}
		if pgtURL := r.Form.Get("pgtUrl"); pgtURL != "" {
			iou, perr := s.grantPGT(ctx, v, pgtURL)
			if perr != nil {
				fail(perr)
				return
			}
			out.PGTIOU = iou
		}
		s.log.InfoContext(r.Context(), "cas: ticket validated", "endpoint", endpoint, "user", v.tgt.PrincipalID, "service", v.svc.ID, "proxied", len(v.ticket.Proxies) > 0, "released_as", releasedAs(v))
		if f == formatJSON {
			writeDoc(w, f, out.json())
		} else {
			writeDoc(w, f, out.xml())
		}
	}
}

// releasedAs names the attribute the user was released as, for the log ("id"
// when it is the principal id).
func releasedAs(v validation) string {
	if v.svc.PrincipalAttribute != "" {
		return v.svc.PrincipalAttribute
	}
	return "id"
}

// releasedAttributes is the protocol's three attributes plus the principal's
// attributes the service may receive, in the service's order.
func (s *Server) releasedAttributes(v validation) *attributes {
	a := &attributes{
		AuthenticationDate: v.tgt.AuthenticatedAt,
		FromNewLogin:       v.ticket.FromNewLogin,
	}
	for _, name := range v.svc.Attributes {
		var vals []string
		for _, val := range v.tgt.Attributes[name] {
			if ValidText(val) {
				vals = append(vals, val)
			}
		}
		if len(vals) > 0 {
			a.Custom = append(a.Custom, attribute{Name: name, Values: vals})
		}
	}
	return a
}

// grantPGT handles pgtUrl (§2.5.4): the service must be allowed to proxy,
// the URL must be https (and match the service's callback pattern), and the
// callback must answer 200 to GET pgtUrl?pgtId=...&pgtIou=... without a
// redirect, on an address the service may reach (proxycallback.go). Only
// then is the PGT stored; the response carries the IOU, never the PGT. Every
// callback failure answers the same INVALID_PROXY_CALLBACK text; the reason
// is logged at WARN without the pgtId, the pgtIou or the callback's query.
func (s *Server) grantPGT(ctx context.Context, v validation, pgtURL string) (string, *validationError) {
	if !v.svc.AllowProxy {
		return "", failf(CodeUnauthorizedServiceProxy, "Service %s may not obtain proxy-granting tickets", v.svc.ID)
	}
	u, err := url.Parse(pgtURL)
	var host, path string
	if err == nil {
		host, path = u.Host, u.Path
	}
	refuse := func(reason string) (string, *validationError) {
		s.log.WarnContext(ctx, "cas: proxy callback failed", "service", v.svc.ID, "host", truncate(host, 200), "path", truncate(path, 200), "reason", reason)
		return "", &validationError{Code: CodeInvalidProxyCallback, Message: callbackRefused}
	}
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Host == "" || u.User != nil {
		return refuse("not an absolute https URL without user information")
	}
	client := s.callbacks.public
	if v.svc.proxyRE != nil {
		if !v.svc.proxyRE.MatchString(pgtURL) {
			return refuse("does not match the service's proxy_callback_pattern")
		}
		// The operator's pattern allowed this URL: private addresses too.
		client = s.callbacks.any
	}
	pgtID := newTicketID(prefixPGT, true)
	iou := newTicketID(prefixPGTIOU, true)
	q := u.Query()
	q.Set("pgtId", pgtID)
	q.Set("pgtIou", iou)
	cb := *u
	cb.RawQuery = q.Encode()
	if reason := s.callPGTURL(ctx, client, &cb); reason != "" {
		return refuse(scrub(reason, pgtID, iou, cb.RawQuery))
	}
	proxies := append([]string{pgtURL}, v.ticket.Proxies...)
	err = s.store.CreatePGT(ctx, PGT{Key: ticketKey(pgtID), TGTKey: v.tgt.Key, Proxies: proxies, CreatedAt: s.now()})
	if err != nil {
		s.log.ErrorContext(ctx, "cas: cannot store PGT", "err", err)
		return "", failf(CodeInternalError, "Internal error while granting the proxy-granting ticket")
	}
	s.log.InfoContext(ctx, "cas: proxy-granting ticket issued", "user", v.tgt.PrincipalID, "service", v.svc.ID, "host", truncate(host, 200))
	return iou, nil
}

// handleProxy is /proxy: a PT for targetService from a PGT.
func (s *Server) handleProxy(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f, ok := parseFormat(r.Form.Get("format"))
	if !ok {
		writeDoc(w, formatXML, failureXML("proxyFailure", CodeInvalidRequest, "Unsupported format; use XML or JSON"))
		return
	}
	fail := func(code, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		s.log.InfoContext(r.Context(), "cas: proxy ticket refused", "code", code)
		if f == formatJSON {
			writeDoc(w, f, failureJSON("proxyFailure", code, msg))
		} else {
			writeDoc(w, f, failureXML("proxyFailure", code, msg))
		}
	}
	pgtID, target := r.Form.Get("pgt"), r.Form.Get("targetService")
	if pgtID == "" || target == "" {
		fail(CodeInvalidRequest, "Required parameter(s) missing: pgt and targetService")
		return
	}
	ctx := r.Context()
	pgt, err := s.store.GetPGT(ctx, ticketKey(pgtID))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.ErrorContext(ctx, "cas: cannot read PGT", "err", err)
		fail(CodeInternalError, "Internal error")
		return
	}
	now := s.now()
	var tgt TGT
	if err == nil {
		tgt, err = s.store.GetTGT(ctx, pgt.TGTKey)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(ctx, "cas: cannot read SSO session", "err", err)
			fail(CodeInternalError, "Internal error")
			return
		}
	}
	if err != nil || tgt.expired(now) {
		fail(CodeInvalidTicket, "Proxy-granting ticket %s not recognized", shortID(pgtID))
		return
	}
	svc, norm, _ := s.reg.lookup(target)
	if svc == nil || svc.Internal {
		// wxcas's own pages take tickets only from their own sign-in
		// (Server.RedeemTicket), never through a proxy: as unknown.
		fail(CodeUnauthorizedService, "Target service %s is not registered", truncate(target, 200))
		return
	}
	pt := Ticket{
		ID:        newTicketID(prefixPT, false),
		TGTKey:    tgt.Key,
		Service:   norm,
		Proxies:   pgt.Proxies,
		CreatedAt: now,
		ExpiresAt: now.Add(s.cfg.ProxyTicketTTL),
		Principal: tgt.principal(),
	}
	if err := s.store.CreateTicket(ctx, pt, nil); err != nil {
		s.log.ErrorContext(ctx, "cas: cannot store proxy ticket", "err", err)
		fail(CodeInternalError, "Internal error")
		return
	}
	s.log.InfoContext(ctx, "cas: proxy ticket issued", "user", tgt.PrincipalID, "target", svc.ID, "ticket", shortID(pt.ID))
	if f == formatJSON {
		writeDoc(w, f, proxySuccessJSON(pt.ID))
	} else {
		writeDoc(w, f, proxySuccessXML(pt.ID))
	}
}
