package wechat

import "errors"

// results name each ErrorKind for metrics: short, stable, snake case. A
// kind without a name here is reported as "unexpected" (TestResultNames
// keeps the two lists in step).
var results = map[ErrorKind]string{
	ErrUnexpected:          "unexpected",
	ErrCodeInvalid:         "code_invalid",
	ErrCodeUsed:            "code_used",
	ErrCodeExpired:         "code_expired",
	ErrCodeBlocked:         "code_blocked",
	ErrBadCredentials:      "bad_credentials",
	ErrInvalidRequest:      "invalid_request",
	ErrInvalidToken:        "invalid_token",
	ErrTokenExpired:        "token_expired",
	ErrInvalidOpenID:       "invalid_openid",
	ErrRefreshTokenInvalid: "refresh_token_invalid",
	ErrScopeUnauthorized:   "scope_unauthorized",
	ErrRateLimited:         "rate_limited",
	ErrBusy:                "busy",
	ErrIPNotWhitelisted:    "ip_not_whitelisted",
	ErrSnapshotUser:        "snapshot_user",
	ErrAccessDenied:        "access_denied",
	ErrUnknownApp:          "unknown_app",
	ErrWrongAppKind:        "wrong_app_kind",
	ErrInvalidArgument:     "invalid_argument",
	ErrMalformedResponse:   "malformed_response",
	ErrTransport:           "transport",
	ErrNotAuthorized:       "not_authorized",
	ErrTicketInvalid:       "ticket_invalid",
}

// Result names how a call to WeChat ended, as Config.Observe reports it:
// "ok", or the kind of its error. The names form a small fixed set, so
// they can be a metric label.
func Result(err error) string {
	if err == nil {
		return "ok"
	}
	var e *Error
	if errors.As(err, &e) {
		if name, ok := results[e.Kind]; ok {
			return name
		}
	}
	return "unexpected"
}

// ResultIsWeChats reports whether a call's result (Result) speaks of
// WeChat's side or of this deployment's, rather than of the person: a
// code that was used or expired is the person's doing (or a replay), a
// busy answer, a lost connection or a refused secret is not. Alerts on
// WeChat's error rate count these.
func ResultIsWeChats(result string) bool {
	switch result {
	case "unexpected", "bad_credentials", "invalid_request", "invalid_token", "token_expired", "rate_limited",
		"busy", "ip_not_whitelisted", "malformed_response", "transport", "ticket_invalid":
		return true
	}
	return false
}

// observe tells the configured observer about one request to WeChat.
func (c *Client) observe(op string, err error) {
	if c.onCall != nil {
		c.onCall(op, err)
	}
}
