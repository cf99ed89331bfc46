package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxBodySize bounds a response body; WeChat's are a few hundred bytes.
const maxBodySize = 1 << 20

// API operations (paths without the leading slash).
const (
	opAccessToken  = "sns/oauth2/access_token"
	opRefreshToken = "sns/oauth2/refresh_token"
	opAuth         = "sns/auth"
	opUserInfo     = "sns/userinfo"
	opJSCode       = "sns/jscode2session"
	opToken        = "cgi-bin/token"
	opStableToken  = "cgi-bin/stable_token"
	opPhoneNumber  = "wxa/business/getuserphonenumber"
	// The third-party platform (component) variants.
	opComponentToken        = "cgi-bin/component/api_component_token"
	opComponentAccessToken  = "sns/oauth2/component/access_token"
	opComponentRefreshToken = "sns/oauth2/component/refresh_token"
	opQRConnect             = "connect/qrconnect"
	opOAuth2                = "connect/oauth2/authorize"
	opCallback              = "callback"
)

// call describes one API request.
type call struct {
	op    string
	query url.Values
	body  any // JSON request body; nil means GET
	// singleUse marks a request that consumes something single-use (a code)
	// or rate-limited (a forced token refresh): once it may have reached
	// WeChat it is never sent again, neither by this client nor by
	// net/http's own retry of requests on reused connections.
	singleUse bool
	// secrets are removed from every error message.
	secrets []string
}

// fetch runs cl with the retry policy and decodes the answer into a fresh
// T for every attempt (so nothing from a failed attempt leaks into the
// result). A request that is safe to repeat is retried after -1 busy, a
// transport error or a malformed body; a singleUse request only when the
// connection could not even be established.
func fetch[T any, P interface {
	*T
	result
}](ctx context.Context, c *Client, cl call) (*T, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		out := new(T)
		err := c.once(ctx, cl, P(out))
		c.observe(cl.op, err)
		if err == nil {
			return out, nil
		}
		var e *Error
		if !errors.As(err, &e) {
			return nil, err
		}
		// Redact everything before sanitize truncates, so no secret is
		// ever cut in half and left partly visible.
		e.scrub(slices.Concat(cl.secrets, c.secrets))
		if attempt >= c.maxRetries || !retryable(cl, e) || ctx.Err() != nil {
			return nil, e
		}
		t := time.NewTimer(c.backoff << attempt)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, e
		case <-t.C:
		}
	}
}

func retryable(cl call, e *Error) bool {
	if cl.singleUse {
		return e.Kind == ErrTransport && e.notSent
	}
	switch e.Kind {
	case ErrBusy, ErrTransport, ErrMalformedResponse:
		return e.Retryable
	}
	return false
}

func (c *Client) once(ctx context.Context, cl call, out result) error {
	u := c.apiBase + "/" + cl.op
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	method := http.MethodGet
	var body io.Reader
	if cl.body != nil {
		method = http.MethodPost
		b, err := json.Marshal(cl.body)
		if err != nil {
			return newError(cl.op, ErrInvalidArgument, "cannot encode request body")
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		// Never include err: it quotes the URL.
		return newError(cl.op, ErrInvalidArgument, "cannot build request")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wxcas-wechat/1")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.singleUse && cl.body == nil {
		// net/http's Transport silently re-sends a GET that failed on a
		// reused keep-alive connection, even after the request was written.
		// For a code exchange that would burn the code (40163). A request
		// with a body and no GetBody is not "replayable", so it is never
		// re-sent; the empty body is dropped before anything is written.
		// (A POST is never replayable, so the POST calls need nothing.)
		req.Body = io.NopCloser(strings.NewReader(""))
		req.GetBody = nil
		req.ContentLength = 0
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError(ctx, cl.op, err, false)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	if err != nil {
		return transportError(ctx, cl.op, err, true)
	}
	if len(b) > maxBodySize {
		return newError(cl.op, ErrMalformedResponse, "body too large")
	}
	if resp.StatusCode != http.StatusOK {
		// WeChat answers errors with HTTP 200; another status comes from a
		// proxy or an outage. Prefer an errcode if the body has one.
		err := decode(cl.op, b, out)
		var e *Error
		if errors.As(err, &e) && e.Code != 0 {
			return e
		}
		return newError(cl.op, ErrMalformedResponse, fmt.Sprintf("HTTP status %d", resp.StatusCode))
	}
	return decode(cl.op, b, out)
}
