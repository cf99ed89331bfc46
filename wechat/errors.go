package wechat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrorKind classifies a failure. Every ErrorKind is an error, so
// errors.Is(err, wechat.ErrCodeUsed) matches any *Error of that kind.
type ErrorKind int

// Error kinds. The WeChat errcodes behind each kind are listed in
// kindForCode; a kind with no errcode is produced by the client itself.
const (
	// ErrUnexpected: an errcode this package does not classify (see Error.Code).
	ErrUnexpected ErrorKind = iota + 1
	// ErrCodeInvalid: 40029, the code is unknown, expired, or for another appid.
	ErrCodeInvalid
	// ErrCodeUsed: 40163, the code was already exchanged.
	ErrCodeUsed
	// ErrCodeExpired: 42003, the code expired (WeChat usually says 40029 instead).
	ErrCodeExpired
	// ErrCodeBlocked: 40226, a high-risk user's login was intercepted (mini program).
	ErrCodeBlocked
	// ErrBadCredentials: 40013/40125/41002/41004 (and 40001 from the app-token
	// calls): the appid or secret is wrong or missing. Check the configuration.
	ErrBadCredentials
	// ErrInvalidRequest: 40002/41001/41003/41008/41009/47001: the request was
	// malformed (a client bug rather than a user problem).
	ErrInvalidRequest
	// ErrInvalidToken: 40001/40014: the access token is invalid or superseded.
	ErrInvalidToken
	// ErrTokenExpired: 42001.
	ErrTokenExpired
	// ErrInvalidOpenID: 40003: the openid does not belong to this app or token.
	ErrInvalidOpenID
	// ErrRefreshTokenInvalid: 40030/42002: the user must authorize again.
	ErrRefreshTokenInvalid
	// ErrScopeUnauthorized: 48001, e.g. userinfo with an snsapi_base token.
	ErrScopeUnauthorized
	// ErrRateLimited: 45009/45011: retry in the next minute. Retryable.
	ErrRateLimited
	// ErrBusy: -1 system busy. Retryable.
	ErrBusy
	// ErrIPNotWhitelisted: 40164: this server's IP is not in the app's API whitelist.
	ErrIPNotWhitelisted
	// ErrSnapshotUser: an Official Account snsapi_userinfo exchange returned
	// is_snapshotuser=1. The openid is virtual and must never be bound; ask
	// the user to tap "使用完整服务" and authorize again.
	ErrSnapshotUser
	// ErrAccessDenied: the authorization callback carried no code (the user refused).
	ErrAccessDenied
	// ErrUnknownApp: the appid is not in Config.Apps. WeChat was not called.
	ErrUnknownApp
	// ErrWrongAppKind: the app's Kind does not support this call. WeChat was not called.
	ErrWrongAppKind
	// ErrInvalidArgument: an argument failed local validation. WeChat was not called.
	ErrInvalidArgument
	// ErrMalformedResponse: the body is empty, not JSON, or lacks the expected
	// fields, or the HTTP status is not 200 without an errcode. Retryable.
	ErrMalformedResponse
	// ErrTransport: the request failed before a complete response arrived
	// (connection refused or reset, timeout, cancelled context).
	ErrTransport
	// ErrNotAuthorized: 61003, the Official Account has not authorized (or
	// withdrew its authorization of) the third-party platform.
	ErrNotAuthorized
	// ErrTicketInvalid: 61005/61006, the component_verify_ticket is expired
	// or not one WeChat pushed: wait for the next push.
	ErrTicketInvalid
)

var kindNames = map[ErrorKind]string{
	ErrUnexpected:          "unexpected errcode",
	ErrCodeInvalid:         "code invalid",
	ErrCodeUsed:            "code already used",
	ErrCodeExpired:         "code expired",
	ErrCodeBlocked:         "code blocked",
	ErrBadCredentials:      "bad app credentials",
	ErrInvalidRequest:      "invalid request",
	ErrInvalidToken:        "invalid access token",
	ErrTokenExpired:        "access token expired",
	ErrInvalidOpenID:       "invalid openid",
	ErrRefreshTokenInvalid: "refresh token invalid or expired",
	ErrScopeUnauthorized:   "scope unauthorized",
	ErrRateLimited:         "rate limited",
	ErrBusy:                "system busy",
	ErrIPNotWhitelisted:    "IP not whitelisted",
	ErrSnapshotUser:        "snapshot (virtual) user",
	ErrAccessDenied:        "authorization refused",
	ErrUnknownApp:          "unknown app",
	ErrWrongAppKind:        "wrong app kind",
	ErrInvalidArgument:     "invalid argument",
	ErrMalformedResponse:   "malformed response",
	ErrTransport:           "transport error",
	ErrNotAuthorized:       "account has not authorized the platform",
	ErrTicketInvalid:       "component verify ticket invalid or expired",
}

// String returns a short description of the kind.
func (k ErrorKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error makes ErrorKind usable as a sentinel with errors.Is.
func (k ErrorKind) Error() string { return "wechat: " + k.String() }

// Error is the error returned by every Client call.
type Error struct {
	// Op is the API path or builder that failed, e.g. "sns/oauth2/access_token".
	Op string
	// Kind classifies the failure.
	Kind ErrorKind
	// Code is WeChat's errcode, or 0 when the failure did not come from WeChat.
	Code int
	// Message is WeChat's errmsg or a local detail, with every secret, code
	// and token of the request removed, control characters replaced and
	// the length bounded. Do not branch on it.
	Message string
	// RID is the request id WeChat appended to errmsg, if any.
	RID string
	// Retryable reports whether the failure is transient. A call that
	// consumed a single-use code needs a new code (a new login) to retry.
	Retryable bool

	cause   error
	notSent bool // the request certainly never reached the server
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("wechat ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Kind.String())
	if e.Code != 0 {
		fmt.Fprintf(&b, " (errcode %d)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the underlying cause of a transport error (e.g.
// context.DeadlineExceeded), never an error that embeds the request URL.
func (e *Error) Unwrap() error { return e.cause }

// Is matches the ErrorKind sentinels.
func (e *Error) Is(target error) bool {
	k, ok := target.(ErrorKind)
	return ok && k == e.Kind
}

// IsRetryable reports whether err is a *Error marked retryable.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

func newError(op string, kind ErrorKind, msg string) *Error {
	return &Error{Op: op, Kind: kind, Message: msg, Retryable: kindRetryable(kind)}
}

func kindRetryable(k ErrorKind) bool {
	switch k {
	case ErrBusy, ErrRateLimited, ErrMalformedResponse, ErrTransport:
		return true
	}
	return false
}

// kindForCode maps a WeChat errcode to a kind. op matters for 40001, which
// means "bad secret" on the app-token calls and "bad token" elsewhere.
func kindForCode(op string, code int) ErrorKind {
	switch code {
	case -1:
		return ErrBusy
	case 40029:
		return ErrCodeInvalid
	case 40163:
		return ErrCodeUsed
	case 42003:
		return ErrCodeExpired
	case 40226:
		return ErrCodeBlocked
	case 40013, 40125, 41002, 41004:
		return ErrBadCredentials
	case 40001:
		if op == opToken || op == opStableToken || op == opComponentToken {
			return ErrBadCredentials
		}
		return ErrInvalidToken
	case 40014:
		return ErrInvalidToken
	case 40002, 41001, 41003, 41008, 41009, 47001:
		return ErrInvalidRequest
	case 42001:
		return ErrTokenExpired
	case 40003:
		return ErrInvalidOpenID
	case 40030, 42002:
		return ErrRefreshTokenInvalid
	case 48001:
		return ErrScopeUnauthorized
	case 45009, 45011:
		return ErrRateLimited
	case 40164:
		return ErrIPNotWhitelisted
	case 61003:
		return ErrNotAuthorized
	case 61005, 61006:
		return ErrTicketInvalid
	}
	return ErrUnexpected
}

// apiError builds the error for a non-zero errcode.
func apiError(op string, code int, msg string) *Error {
	k := kindForCode(op, code)
	return &Error{Op: op, Kind: k, Code: code, Message: msg, RID: findRID(msg), Retryable: kindRetryable(k)}
}

// findRID extracts the request id from errmsg ("..., rid: 6744a7e0-66c5b5ef-3b54f1b1",
// "hints: [ req_id: XXXX ]").
func findRID(msg string) string {
	for _, marker := range []string{"rid: ", "req_id: "} {
		i := strings.LastIndex(msg, marker)
		if i < 0 {
			continue
		}
		rest := msg[i+len(marker):]
		end := strings.IndexFunc(rest, func(r rune) bool {
			return !(r == '-' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)))
		})
		if end < 0 {
			end = len(rest)
		}
		if end > 64 {
			end = 64
		}
		if end > 0 {
			return rest[:end]
		}
	}
	return ""
}

// transportError wraps an error from http.Client.Do or from reading the body.
// A *url.Error is unwrapped because its text contains the full request URL,
// whose query holds the secret and the code.
func transportError(ctx context.Context, op string, err error, sent bool) *Error {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(cause, ctxErr) {
		cause = fmt.Errorf("%w (%s)", ctxErr, cause.Error())
	}
	e := &Error{
		Op:        op,
		Kind:      ErrTransport,
		Message:   cause.Error(),
		Retryable: !errors.Is(cause, context.Canceled),
		cause:     cause,
	}
	if !sent {
		e.notSent = isDialError(cause)
	}
	return e
}

// isDialError reports whether the connection could not be established, so
// the request certainly never left this process.
func isDialError(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// scrub removes every secret (and its URL-encoded form) from e.Message and
// makes the message safe to log: printable, one line, bounded.
func (e *Error) scrub(secrets []string) *Error {
	e.Message = sanitize(redact(e.Message, secrets))
	e.RID = sanitize(redact(e.RID, secrets))
	return e
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) < 3 {
			continue
		}
		s = strings.ReplaceAll(s, sec, "[redacted]")
		if esc := url.QueryEscape(sec); esc != sec {
			s = strings.ReplaceAll(s, esc, "[redacted]")
		}
	}
	return s
}

const maxMessageRunes = 240

func sanitize(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxMessageRunes {
			b.WriteString("…")
			break
		}
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
