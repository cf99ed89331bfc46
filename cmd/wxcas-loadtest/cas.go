package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
)

// target is the wxcas instance under test and the CAS service its logins
// are for.
type target struct {
	base    string // wxcas's public URL, no trailing slash
	service string // the registered CAS service the tickets are for
	inbox   string // the sandbox SMS inbox (GET ?phone=+86...)
	// emulator, when set, is the `wxcas emulator` every QR code must come
	// from: a wxcas still running its own would measure it too.
	emulator string
	tr       http.RoundTripper
	site     *http.Client // the service's own client, without cookies
	// qrOrigin is where the first QR code came from, for the report.
	qrOrigin atomic.Pointer[string]
}

func newTarget(base, service, inbox string, workers int) *target {
	tr := newTransport(workers)
	return &target{base: strings.TrimSuffix(base, "/"), service: service, inbox: inbox, tr: tr,
		site: &http.Client{Transport: tr, Timeout: requestTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (t *target) newBrowser() *browser { return newBrowser(t.tr) }

func (t *target) loginURL() string {
	return t.base + "/cas/login?service=" + url.QueryEscape(t.service)
}

// The QR box of the sandbox's login page: the emulator's QR page in an
// iframe (templates/login_qr.html).
var iframeSrc = regexp.MustCompile(`<iframe class="sandbox-qr" src="([^"]+)"`)

// qrLogin opens the service's login in b and has the emulator's person
// approve the QR code, as scanning it with WeChat does; it returns where
// wxcas sent the browser after the WeChat callback: the redirect to the
// service for a bound person, the phone page for a new one.
func (t *target) qrLogin(ctx context.Context, b *browser, person string) (page, error) {
	p, err := b.follow(ctx, http.MethodGet, t.loginURL(), nil, t.service)
	if err != nil {
		return p, fmt.Errorf("login page: %w", err)
	}
	m := iframeSrc.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		return p, fmt.Errorf("login page %s: status %d and no sandbox QR iframe%s", p.url, p.status, hint(p.status))
	}
	qr := html.UnescapeString(m[1])
	if t.emulator != "" && !strings.HasPrefix(qr, t.emulator+"/") {
		return p, fmt.Errorf("the QR code comes from %s, not from -emulator %s: start wxcas with sandbox.emulator_url: %s (WXCAS_EMULATOR_URL)",
			origin(qr), t.emulator, t.emulator)
	}
	if t.qrOrigin.Load() == nil {
		o := origin(qr)
		t.qrOrigin.CompareAndSwap(nil, &o)
	}
	// The emulator reads sandbox_user from the query, which ends where a
	// fragment (#wechat_redirect on authorize URLs) begins.
	qr, frag, hasFrag := strings.Cut(qr, "#")
	qr += "&sandbox_user=" + url.QueryEscape(person)
	if hasFrag {
		qr += "#" + frag
	}
	p, err = b.follow(ctx, http.MethodGet, qr, nil, t.service)
	if err != nil {
		return p, fmt.Errorf("QR approval and callback: %w", err)
	}
	return p, nil
}

// origin is the scheme://host[:port] of an absolute URL.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

// emulatorReport says where the emulator of the QR codes seen so far runs:
// inside wxcas, whose measured figures then include its work, or apart.
func (t *target) emulatorReport() string {
	o := t.qrOrigin.Load()
	switch {
	case o == nil:
		return "emulator: no QR code seen"
	case *o == origin(t.base):
		return "emulator: inside wxcas (" + *o + "): its work is measured as wxcas's; docs/loadtest.md runs it apart"
	}
	return "emulator: " + *o + ", apart from wxcas"
}

// hint explains the one refusal a load test is likely to meet.
func hint(status int) string {
	if status == http.StatusTooManyRequests {
		return " (429: raise login.per_ip in wxcas's config for a load test; see docs/loadtest.md)"
	}
	return ""
}

// ticketFrom checks that p is the end of a login: a redirect to the
// service itself, with only "ticket=ST-..." appended, as CAS specifies.
func ticketFrom(p page, service string) (string, error) {
	if !p.redirect() {
		return "", fmt.Errorf("%s answered %d, not a redirect to the service%s%s", p.url, p.status, hint(p.status), pageError(p.body))
	}
	rest, ok := strings.CutPrefix(p.location, service)
	sep := "?"
	if strings.Contains(service, "?") {
		sep = "&"
	}
	ticket, ok2 := strings.CutPrefix(rest, sep+"ticket=")
	if !ok || !ok2 || !strings.HasPrefix(ticket, "ST-") || strings.ContainsAny(ticket, "&#") {
		return "", fmt.Errorf("%s redirected to %s, want %s%sticket=ST-<ticket>", p.url, p.location, service, sep)
	}
	return ticket, nil
}

// The error paragraph of wxcas's pages (class="error").
var errorText = regexp.MustCompile(`class="error"[^>]*>([^<]*)<`)

// pageError quotes a page's error message, if it shows one.
func pageError(body string) string {
	if m := errorText.FindStringSubmatch(body); m != nil {
		return ": " + strings.TrimSpace(html.UnescapeString(m[1]))
	}
	return ""
}

// validate is the service's side: it validates ticket at
// /cas/p3/serviceValidate and checks the answer names user (when user is
// empty, any user; binding learns it so). It returns the user. The request
// carries no browser cookies, as a site's back-end call does not, but is
// counted among b's requests: it is part of the operation.
func (t *target) validate(ctx context.Context, b *browser, ticket, user string) (string, error) {
	site := &browser{client: t.site}
	u := t.base + "/cas/p3/serviceValidate?service=" + url.QueryEscape(t.service) + "&ticket=" + url.QueryEscape(ticket)
	p, err := site.send(ctx, http.MethodGet, u, nil)
	b.requests += site.requests
	if err != nil {
		return "", fmt.Errorf("validate: %w", err)
	}
	if p.status != http.StatusOK {
		return "", fmt.Errorf("validate: status %d%s", p.status, hint(p.status))
	}
	got, err := parseValidation([]byte(p.body))
	if err != nil {
		return "", fmt.Errorf("validate %s: %w", ticket, err)
	}
	if user != "" && got != user {
		return "", fmt.Errorf("validate %s: user %q, want %q", ticket, got, user)
	}
	return got, nil
}

// serviceResponse is the part of a CAS 3.0 validation answer that is
// checked. encoding/xml matches the cas: elements by local name.
type serviceResponse struct {
	XMLName xml.Name `xml:"serviceResponse"`
	Success *struct {
		User string `xml:"user"`
	} `xml:"authenticationSuccess"`
	Failure *struct {
		Code string `xml:"code,attr"`
		Text string `xml:",chardata"`
	} `xml:"authenticationFailure"`
}

// parseValidation returns the user of an authenticationSuccess answer; any
// other answer is an error that says what came instead.
func parseValidation(body []byte) (string, error) {
	var r serviceResponse
	if err := xml.Unmarshal(body, &r); err != nil {
		return "", fmt.Errorf("not a CAS answer: %w", err)
	}
	switch {
	case r.Failure != nil:
		return "", fmt.Errorf("authenticationFailure %s: %s", r.Failure.Code, strings.TrimSpace(r.Failure.Text))
	case r.Success == nil:
		return "", errors.New("no authenticationSuccess in the answer")
	case strings.TrimSpace(r.Success.User) == "":
		return "", errors.New("authenticationSuccess without a user")
	}
	return strings.TrimSpace(r.Success.User), nil
}
