package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"wxcas/login"
	"wxcas/otp"
	"wxcas/wechat"
	"wxcas/wechat/apptoken"
)

// Error codes: stable, machine-readable, one HTTP status each. Each is also
// the key of its message in package i18n, which the login pages share.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeRequestTooLarge      = "request_too_large"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeNotFound             = "not_found"
	CodeUnknownApp           = "unknown_app"
	CodeUnsupportedAppKind   = "unsupported_app_kind"
	CodeInvalidWeChatCode    = "invalid_wechat_code"
	CodeWeChatCodeUsed       = "wechat_code_used"
	CodeWeChatLoginBlocked   = "wechat_login_blocked"
	CodeWeChatUnavailable    = "wechat_unavailable"
	CodeInvalidBindToken     = "invalid_bind_token"
	CodeBindTokenExpired     = "bind_token_expired"
	CodeInvalidPhone         = "invalid_phone"
	CodeRateLimited          = "rate_limited"
	CodeSMSBudgetExhausted   = "sms_budget_exhausted"
	CodeSMSFailed            = "sms_failed"
	CodeNoCode               = "no_code"
	CodeMalformedCode        = "malformed_code"
	CodeWrongCode            = "wrong_code"
	CodeCodeExpired          = "code_expired"
	CodeTooManyAttempts      = "too_many_attempts"
	CodeUnknownPhone         = "unknown_phone"
	CodeUserBoundElsewhere   = "user_bound_elsewhere"
	CodeAlreadyBound         = "already_bound"
	CodeSnapshotUser         = "snapshot_user"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal_error"
)

var statusOf = map[string]int{
	CodeInvalidRequest:       http.StatusBadRequest,
	CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	CodeRequestTooLarge:      http.StatusRequestEntityTooLarge,
	CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	CodeNotFound:             http.StatusNotFound,
	CodeUnknownApp:           http.StatusBadRequest,
	CodeUnsupportedAppKind:   http.StatusBadRequest,
	CodeInvalidWeChatCode:    http.StatusBadRequest,
	CodeWeChatCodeUsed:       http.StatusBadRequest,
	CodeWeChatLoginBlocked:   http.StatusForbidden,
	CodeWeChatUnavailable:    http.StatusBadGateway,
	CodeInvalidBindToken:     http.StatusBadRequest,
	CodeBindTokenExpired:     http.StatusBadRequest,
	CodeInvalidPhone:         http.StatusBadRequest,
	CodeRateLimited:          http.StatusTooManyRequests,
	CodeSMSBudgetExhausted:   http.StatusServiceUnavailable,
	CodeSMSFailed:            http.StatusBadGateway,
	CodeNoCode:               http.StatusBadRequest,
	CodeMalformedCode:        http.StatusBadRequest,
	CodeWrongCode:            http.StatusBadRequest,
	CodeCodeExpired:          http.StatusBadRequest,
	CodeTooManyAttempts:      http.StatusBadRequest,
	CodeUnknownPhone:         http.StatusForbidden,
	CodeUserBoundElsewhere:   http.StatusConflict,
	CodeAlreadyBound:         http.StatusConflict,
	CodeSnapshotUser:         http.StatusForbidden,
	CodeUnavailable:          http.StatusServiceUnavailable,
	CodeInternal:             http.StatusInternalServerError,
}

// apiError is a failure with its code; cause (never shown to clients)
// goes to the log.
type apiError struct {
	code         string
	detail       string // technical, English; only for invalid_request
	retryAfter   time.Duration
	attemptsLeft *int
	cause        error
}

func (e *apiError) Error() string {
	s := e.code
	if e.detail != "" {
		s += ": " + e.detail
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

func (e *apiError) Unwrap() error { return e.cause }

func fail(code string, cause error) *apiError { return &apiError{code: code, cause: cause} }

func invalid(format string, args ...any) *apiError {
	return &apiError{code: CodeInvalidRequest, detail: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error errorInfo `json:"error"`
}

type errorInfo struct {
	Code              string `json:"code"`
	Message           string `json:"message"`
	Detail            string `json:"detail,omitempty"`
	RequestID         string `json:"request_id,omitempty"`
	AttemptsLeft      *int   `json:"attempts_left,omitempty"`
	RetryAfterSeconds int    `json:"retry_after_seconds,omitempty"`
}

// seconds rounds a wait up to whole seconds (at least 1).
func seconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func retryAfterHeader(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(seconds(d)))
}

// loginError maps the login service's and the OTP service's errors.
func loginError(err error) error {
	var le *otp.LimitError
	var me *otp.MismatchError
	switch {
	case errors.As(err, &le):
		code := CodeRateLimited
		if errors.Is(err, otp.ErrBudgetExhausted) {
			code = CodeSMSBudgetExhausted
		}
		return &apiError{code: code, retryAfter: le.RetryAfter, cause: err}
	case errors.As(err, &me):
		left := me.AttemptsLeft
		return &apiError{code: CodeWrongCode, attemptsLeft: &left, cause: err}
	case errors.Is(err, otp.ErrMalformedCode):
		return fail(CodeMalformedCode, err)
	case errors.Is(err, otp.ErrTooManyAttempts):
		return fail(CodeTooManyAttempts, err)
	case errors.Is(err, otp.ErrExpired):
		return fail(CodeCodeExpired, err)
	case errors.Is(err, otp.ErrNoCode):
		return fail(CodeNoCode, err)
	case errors.Is(err, otp.ErrInvalidPhone):
		return fail(CodeInvalidPhone, err)
	case errors.Is(err, otp.ErrSendFailed):
		return fail(CodeSMSFailed, err)
	case errors.Is(err, login.ErrUnknownPhone):
		return fail(CodeUnknownPhone, err)
	case errors.Is(err, login.ErrUserBound):
		return fail(CodeUserBoundElsewhere, err)
	case errors.Is(err, login.ErrPersonBound):
		return fail(CodeAlreadyBound, err)
	case errors.Is(err, login.ErrSnapshot):
		return fail(CodeSnapshotUser, err)
	}
	return err
}

// wechatError maps a WeChat client error. WeChat-side trouble the person
// cannot fix (configuration, outages) is wechat_unavailable; the log keeps
// the WeChat error.
func wechatError(err error) error {
	var we *wechat.Error
	var kind wechat.ErrorKind
	if !errors.As(err, &we) && !errors.As(err, &kind) &&
		!errors.Is(err, apptoken.ErrWaitTimeout) && !errors.Is(err, apptoken.ErrForceTooSoon) {
		return err // not WeChat's doing (e.g. the database): internal_error
	}
	switch {
	case errors.Is(err, wechat.ErrUnknownApp):
		return fail(CodeUnknownApp, err)
	case errors.Is(err, wechat.ErrWrongAppKind):
		return fail(CodeUnsupportedAppKind, err)
	case errors.Is(err, wechat.ErrCodeInvalid), errors.Is(err, wechat.ErrCodeExpired), errors.Is(err, wechat.ErrInvalidArgument):
		return fail(CodeInvalidWeChatCode, err)
	case errors.Is(err, wechat.ErrCodeUsed):
		return fail(CodeWeChatCodeUsed, err)
	case errors.Is(err, wechat.ErrCodeBlocked):
		return fail(CodeWeChatLoginBlocked, err)
	}
	return fail(CodeWeChatUnavailable, err)
}
