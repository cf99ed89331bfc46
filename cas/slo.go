package cas

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// sloSender delivers back-channel single logout: for every service that got
// an ST in an ended session, a POST of logoutRequest=<urlencoded SAML
// LogoutRequest> (Apereo's wire format). Delivery is fire-and-forget: it runs
// in the background with a per-request timeout and a process-wide bound on
// concurrent requests; failures are logged, never retried.
type sloSender struct {
	client  *http.Client
	timeout time.Duration
	sem     chan struct{}
	log     *slog.Logger
	wg      sync.WaitGroup
}

func newSLOSender(base *http.Client, timeout time.Duration, concurrency int, log *slog.Logger) *sloSender {
	c := *base
	// A client's answer is not followed anywhere: mod_auth_cas, for one,
	// answers the POST with a redirect to the login page.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &sloSender{client: &c, timeout: timeout, sem: make(chan struct{}, concurrency), log: log}
}

// send queues the logout requests of an ended session and returns at once.
func (s *sloSender) send(e EndedSession, now time.Time) {
	for _, t := range e.Services {
		if t.LogoutURL == "" {
			continue
		}
		body := logoutBody(e, t, now)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.sem <- struct{}{}
			defer func() { <-s.sem }()
			s.post(t, body)
		}()
	}
}

// sendPaced is send for the janitor: it takes a delivery slot before each
// POST, so ending a large backlog of sessions waits for the POSTs instead of
// piling up a goroutine per logout. When ctx ends the rest is dropped (the
// sessions are already gone; single logout is best effort).
func (s *sloSender) sendPaced(ctx context.Context, e EndedSession, now time.Time) {
	for _, t := range e.Services {
		if t.LogoutURL == "" {
			continue
		}
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		body := logoutBody(e, t, now)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			s.post(t, body)
		}()
	}
}

func logoutBody(e EndedSession, t SLOTarget, now time.Time) string {
	return "logoutRequest=" + url.QueryEscape(logoutRequestXML(newTicketID(prefixLR, false), now, e.TGT.PrincipalID, t.TicketID))
}

func (s *sloSender) post(t SLOTarget, body string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.LogoutURL, strings.NewReader(body))
	if err != nil {
		s.log.Warn("cas: single logout not sent", "service", t.ServiceID, "ticket", shortID(t.TicketID), "err", err)
		return
	}
	// Exactly this value: gopkg.in/cas.v2 compares the header verbatim.
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = errors.New("timed out")
		}
		s.log.Warn("cas: single logout failed", "service", t.ServiceID, "host", hostOf(t.LogoutURL), "ticket", shortID(t.TicketID), "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	s.log.Info("cas: single logout delivered", "service", t.ServiceID, "host", hostOf(t.LogoutURL), "ticket", shortID(t.TicketID), "status", resp.StatusCode)
}

func (s *sloSender) wait() { s.wg.Wait() }

// logoutRequestXML is the SAML 2 LogoutRequest as Apereo sends it: samlp
// prefix, IssueInstant as yyyy-MM-ddTHH:mm:ssZ (no fractional seconds, which
// gopkg.in/cas.v2 cannot parse), NameID the principal, SessionIndex the ST.
func logoutRequestXML(id string, now time.Time, principal, st string) string {
	var b bytes.Buffer
	b.WriteString(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="`)
	_ = xml.EscapeText(&b, []byte(id))
	b.WriteString(`" Version="2.0" IssueInstant="` + now.UTC().Format("2006-01-02T15:04:05Z") + `">`)
	b.WriteString(`<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">`)
	_ = xml.EscapeText(&b, []byte(principal))
	b.WriteString(`</saml:NameID><samlp:SessionIndex>`)
	_ = xml.EscapeText(&b, []byte(st))
	b.WriteString(`</samlp:SessionIndex></samlp:LogoutRequest>`)
	return b.String()
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}
