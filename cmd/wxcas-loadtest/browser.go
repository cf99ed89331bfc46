package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// maxBody bounds what is read of one response: wxcas's pages are a few
// kilobytes, so anything near this is itself a sign that something is wrong.
const maxBody = 1 << 20

// maxHops bounds the redirects followed for one click; a login has at most
// three in a row, so more means a loop.
const maxHops = 10

// requestTimeout bounds one request; a request that takes longer is an error.
const requestTimeout = 30 * time.Second

// browser is one simulated web browser: its own cookie jar on the shared
// connection pool, and the number of HTTP requests it sent, which is what
// "requests per operation" counts. It is used by one goroutine at a time.
type browser struct {
	client   *http.Client
	requests int
}

// newBrowser returns a browser with an empty cookie jar: a person who opens
// a fresh browser window. The connections come from the shared transport,
// as a load balancer's would; only the cookies are new.
func newBrowser(tr http.RoundTripper) *browser {
	jar, _ := cookiejar.New(nil) // cannot fail without options
	return &browser{client: &http.Client{
		Transport: tr,
		Jar:       jar,
		Timeout:   requestTimeout,
		// Redirects are followed by follow, which counts each request and
		// stops at the service (the service itself is not part of wxcas).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is one response, read whole.
type page struct {
	url      string // the URL that answered
	status   int
	location string // the redirect target, absolute; empty if none
	body     string
}

func (p page) redirect() bool { return p.status >= 300 && p.status < 400 && p.location != "" }

// send makes one request (a GET, or a form POST when form is not nil).
func (b *browser) send(ctx context.Context, method, target string, form url.Values) (page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return page{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	// A desktop browser: a mobile or WeChat User-Agent would get the phone
	// page or the Official Account instead of the QR code.
	req.Header.Set("User-Agent", "wxcas-loadtest/1 (desktop)")
	b.requests++
	resp, err := b.client.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return page{}, fmt.Errorf("%s %s: reading the answer: %w", method, target, err)
	}
	// Drain what is left so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, resp.Body)
	p := page{url: target, status: resp.StatusCode, body: string(data)}
	if loc, err := resp.Location(); err == nil {
		p.location = loc.String()
	}
	return p, nil
}

// follow sends the request and follows redirects as a browser does, but
// stops at a redirect into stopAt (the service, which gets the ticket and
// is not what is measured).
func (b *browser) follow(ctx context.Context, method, target string, form url.Values, stopAt string) (page, error) {
	p, err := b.send(ctx, method, target, form)
	for hops := 0; err == nil && p.redirect() && !strings.HasPrefix(p.location, stopAt); hops++ {
		if hops == maxHops {
			return p, fmt.Errorf("more than %d redirects, last to %s", maxHops, p.location)
		}
		p, err = b.send(ctx, http.MethodGet, p.location, nil)
	}
	return p, err
}

// newTransport is the connection pool all browsers share. Go's default
// keeps 2 idle connections per host, so with more workers most requests
// would open a new connection and the machine would fill with TIME_WAIT
// sockets; keep one idle connection per worker and then some.
func newTransport(workers int) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 2*workers + 16
	tr.MaxIdleConnsPerHost = 2*workers + 16
	return tr
}
