package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"wxcas/challenge"
	"wxcas/i18n"
	"wxcas/journey"
	"wxcas/logx"
	"wxcas/store"
)

// Error codes: stable, machine-readable, one HTTP status each. Each is also
// the key of its message in package i18n, which the login pages share.
const (
	// The transport's own.
	CodeInvalidRequest       = "invalid_request"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeRequestTooLarge      = "request_too_large"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeNotFound             = "not_found"
	CodeInvalidBindToken     = "invalid_bind_token"
	CodeBindTokenExpired     = "bind_token_expired"
	CodeSessionRequired      = "session_required" // /account calls without a Bearer TGT
	CodeInvalidSession       = "invalid_session"  // a TGT that names no live CAS session
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal_error"

	// Login outcomes, as the journey names them.
	CodeUnknownApp         = string(journey.CodeUnknownApp)
	CodeUnsupportedAppKind = string(journey.CodeUnsupportedAppKind)
	CodeInvalidWeChatCode  = string(journey.CodeInvalidWeChatCode)
	CodeWeChatCodeUsed     = string(journey.CodeWeChatCodeUsed)
	CodeWeChatLoginBlocked = string(journey.CodeWeChatLoginBlocked)
	CodeWeChatUnavailable  = string(journey.CodeWeChatUnavailable)
	CodeInvalidPhone       = string(journey.CodeInvalidPhone)
	CodeRateLimited        = string(journey.CodeRateLimited)
	CodeSMSBudgetExhausted = string(journey.CodeSMSBudgetExhausted)
	CodeSMSFailed          = string(journey.CodeSMSFailed)
	CodeNoCode             = string(journey.CodeNoCode)
	CodeMalformedCode      = string(journey.CodeMalformedCode)
	CodeWrongCode          = string(journey.CodeWrongCode)
	CodeCodeExpired        = string(journey.CodeCodeExpired)
	CodeTooManyAttempts    = string(journey.CodeTooManyAttempts)
	CodeUnknownPhone       = string(journey.CodeUnknownPhone)
	CodeUserBoundElsewhere = string(journey.CodeUserBoundElsewhere)
	CodeAlreadyBound       = string(journey.CodeAlreadyBound)
	CodeSnapshotUser       = string(journey.CodeSnapshotUser)
)

// ownStatus is the status of the transport's own codes; a login outcome has
// the journey's (journey.Code.Status), the same on the pages.
var ownStatus = map[string]int{
	CodeInvalidRequest:       http.StatusBadRequest,
	CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	CodeRequestTooLarge:      http.StatusRequestEntityTooLarge,
	CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	CodeNotFound:             http.StatusNotFound,
	CodeInvalidBindToken:     http.StatusBadRequest,
	CodeBindTokenExpired:     http.StatusBadRequest,
	CodeSessionRequired:      http.StatusUnauthorized,
	CodeInvalidSession:       http.StatusUnauthorized,
	CodeUnavailable:          http.StatusServiceUnavailable,
	CodeInternal:             http.StatusInternalServerError,
}

func statusOf(code string) int {
	if s, ok := ownStatus[code]; ok {
		return s
	}
	return journey.Code(code).Status()
}

// apiCode is the API's code for a login outcome. The journey speaks of
// journeys; API clients know bind tokens, and these names are part of the
// API's contract.
func apiCode(c journey.Code) string {
	switch c {
	case journey.CodeInvalid, journey.CodeEnded:
		return CodeInvalidBindToken
	case journey.CodeExpired:
		return CodeBindTokenExpired
	case journey.CodeWrongStep:
		// A step the journey is past: only a token a concurrent request
		// used up can get here (every other token is for the current step).
		return CodeInvalidBindToken
	}
	return string(c)
}

// apiError is a failure with its code; cause (never shown to clients)
// goes to the log.
type apiError struct {
	code         string
	status       int    // set when another package decides it (account.OutcomeOf); else statusOf(code)
	detail       string // technical, English; only for invalid_request
	retryAfter   time.Duration
	attemptsLeft *int
	challenge    *challenge.Challenge // challenge_required, challenge_failed
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

// asAPIError is err as the client sees it: the API's own error, a login
// outcome, a database outage (unavailable) or anything else (internal).
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if je := journey.AsError(err); je != nil {
		return &apiError{code: apiCode(je.Code), retryAfter: je.RetryAfter, attemptsLeft: je.AttemptsLeft, challenge: je.Challenge, cause: err}
	}
	if store.IsUnavailable(err) {
		// The database is unreachable for a moment: the app can tell this
		// from a bug and retry.
		return fail(CodeUnavailable, err)
	}
	return fail(CodeInternal, err)
}

// apiWording are the codes whose text on the pages speaks of the page (a
// check below, worked out by the browser): the API's clients, apps and mini
// programs, show their people a text of their own.
var apiWording = map[string]string{
	string(journey.CodeChallengeRequired): "api_challenge_required",
	string(journey.CodeChallengeFailed):   "api_challenge_failed",
}

// messageKey is the catalogue key of code's message in the API.
func messageKey(code string) string {
	if key, ok := apiWording[code]; ok {
		return key
	}
	return code
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
	// Challenge is the proof-of-work challenge to solve (ALTCHA, SHA-256)
	// before sending again with its solution as "altcha".
	Challenge *challenge.Challenge `json:"challenge,omitempty"`
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	ae := asAPIError(err)
	status := ae.status
	if status == 0 {
		status = statusOf(ae.code)
	}
	left := ae.attemptsLeft
	if ae.code != string(journey.CodeWrongCode) {
		left = nil // "0 left" after "the code no longer works" only repeats it
	}
	info := errorInfo{
		Code: ae.code, Message: i18n.Refusal(i18n.Pick(r), messageKey(ae.code), ae.retryAfter, left), Detail: ae.detail,
		RequestID: logx.RequestID(ctx), AttemptsLeft: ae.attemptsLeft, Challenge: ae.challenge,
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(seconds(ae.retryAfter)))
		info.RetryAfterSeconds = seconds(ae.retryAfter)
	}
	attrs := []any{"path", r.URL.Path, "status", status, "code", ae.code}
	if ae.detail != "" {
		attrs = append(attrs, "detail", ae.detail)
	}
	if ae.cause != nil {
		attrs = append(attrs, "err", ae.cause)
	}
	if status >= 500 {
		h.log.ErrorContext(ctx, "api: request failed", attrs...)
	} else {
		h.log.InfoContext(ctx, "api: request refused", attrs...)
	}
	writeJSON(w, status, errorBody{Error: info})
}

// seconds rounds a wait up to whole seconds (at least 1).
func seconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
