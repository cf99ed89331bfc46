package journey

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"wxcas/audit"
	"wxcas/binding"
	"wxcas/challenge"
	"wxcas/login"
	"wxcas/otp"
	"wxcas/wechat"
	"wxcas/wechat/apptoken"
)

// Code names a login outcome other than success. It is the JSON error code,
// the key of the person's message in the i18n catalogue (zh-CN and en) and,
// through Audit, the audit outcome: every transport translates an outcome
// the same way.
type Code string

// The login outcomes.
const (
	// The journey.
	CodeInvalid   Code = "journey_invalid" // unknown, or not this holder's
	CodeExpired   Code = "journey_expired"
	CodeEnded     Code = "journey_ended" // cancelled or failed earlier
	CodeWrongStep Code = "wrong_step"    // the event does not fit the state (a stale form)
	// WeChat.
	CodeWeChatRefused      Code = "wechat_refused" // the person declined in WeChat
	CodeStateInvalid       Code = "state_invalid"  // a WeChat state unknown or already used
	CodeInvalidWeChatCode  Code = "invalid_wechat_code"
	CodeWeChatCodeUsed     Code = "wechat_code_used"
	CodeWeChatLoginBlocked Code = "wechat_login_blocked"
	CodeWeChatUnavailable  Code = "wechat_unavailable"
	CodeSnapshotUser       Code = "snapshot_user"
	CodeUnknownApp         Code = "unknown_app"
	CodeUnsupportedAppKind Code = "unsupported_app_kind"
	// An Official Account served through a third-party platform withdrew
	// its authorization of the platform: nobody can log in through it.
	CodeAccountUnauthorized Code = "account_unauthorized"
	// The phone and its code.
	CodeInvalidPhone       Code = "invalid_phone"
	CodePhoneRegion        Code = "phone_region_unsupported"
	CodeRateLimited        Code = "rate_limited"
	CodeSMSBudgetExhausted Code = "sms_budget_exhausted"
	CodeSMSFailed          Code = "sms_failed"
	CodeNoCode             Code = "no_code"
	CodeMalformedCode      Code = "malformed_code"
	CodeWrongCode          Code = "wrong_code"
	CodeCodeExpired        Code = "code_expired"
	CodeTooManyAttempts    Code = "too_many_attempts"
	// The adaptive challenge: solve it and send again (the error carries
	// it); challenge_failed: the solution given was refused.
	CodeChallengeRequired Code = "challenge_required"
	CodeChallengeFailed   Code = "challenge_failed"
	// The binding.
	CodeUnknownPhone       Code = "unknown_phone"
	CodeUserBoundElsewhere Code = "user_bound_elsewhere"
	CodeAlreadyBound       Code = "already_bound"
)

// outcome is how every transport reports a Code.
type outcome struct {
	status int
	// audit is the audit outcome of a refusal worth recording ("" for
	// none: not the person's doing, or nothing to learn from).
	audit string
}

var outcomes = map[Code]outcome{
	CodeInvalid:             {http.StatusBadRequest, ""},
	CodeExpired:             {http.StatusBadRequest, ""},
	CodeEnded:               {http.StatusBadRequest, ""},
	CodeWrongStep:           {http.StatusConflict, ""},
	CodeWeChatRefused:       {http.StatusOK, "wechat_refused"},
	CodeStateInvalid:        {http.StatusBadRequest, audit.StateInvalid},
	CodeInvalidWeChatCode:   {http.StatusBadRequest, audit.WeChatError},
	CodeWeChatCodeUsed:      {http.StatusBadRequest, audit.WeChatError},
	CodeWeChatLoginBlocked:  {http.StatusForbidden, "wechat_blocked"},
	CodeWeChatUnavailable:   {http.StatusBadGateway, audit.WeChatError},
	CodeSnapshotUser:        {http.StatusForbidden, audit.SnapshotUser},
	CodeUnknownApp:          {http.StatusBadRequest, ""},
	CodeUnsupportedAppKind:  {http.StatusBadRequest, ""},
	CodeAccountUnauthorized: {http.StatusForbidden, audit.WeChatError},
	CodeInvalidPhone:        {http.StatusBadRequest, "invalid_phone"},
	CodePhoneRegion:         {http.StatusBadRequest, "phone_region_unsupported"},
	CodeRateLimited:         {http.StatusTooManyRequests, audit.RateLimited},
	CodeSMSBudgetExhausted:  {http.StatusServiceUnavailable, "sms_budget_exhausted"},
	CodeSMSFailed:           {http.StatusBadGateway, "sms_failed"},
	CodeNoCode:              {http.StatusBadRequest, "no_code"},
	CodeMalformedCode:       {http.StatusBadRequest, ""},
	CodeWrongCode:           {http.StatusBadRequest, audit.WrongCode},
	CodeCodeExpired:         {http.StatusBadRequest, "code_expired"},
	CodeTooManyAttempts:     {http.StatusBadRequest, "too_many_attempts"},
	CodeChallengeRequired:   {http.StatusForbidden, ""},
	CodeChallengeFailed:     {http.StatusForbidden, "challenge_failed"},
	CodeUnknownPhone:        {http.StatusForbidden, audit.UnknownPhone},
	CodeUserBoundElsewhere:  {http.StatusConflict, audit.UserBound},
	CodeAlreadyBound:        {http.StatusConflict, "already_bound"},
}

// Codes lists every outcome code (for catalogue checks).
func Codes() []Code {
	out := make([]Code, 0, len(outcomes))
	for c := range outcomes {
		out = append(out, c)
	}
	return out
}

// Status is the HTTP status of the outcome.
func (c Code) Status() int {
	if o, ok := outcomes[c]; ok {
		return o.status
	}
	return http.StatusInternalServerError
}

// Audit is the audit outcome of a refusal with this code, "" when the
// refusal is not recorded.
func (c Code) Audit() string { return outcomes[c].audit }

// Error is a login outcome other than success.
type Error struct {
	Code Code
	// AttemptsLeft is set for CodeWrongCode.
	AttemptsLeft *int
	// RetryAfter is set for CodeRateLimited and CodeSMSBudgetExhausted.
	RetryAfter time.Duration
	// Challenge is set for CodeChallengeRequired and CodeChallengeFailed:
	// the one to solve before sending again.
	Challenge *challenge.Challenge
	// SentMeanwhile is set for CodeRateLimited when another request of the
	// same login sent a code to the same number a moment ago (a double
	// submission): a page can show the code step instead of a wait.
	SentMeanwhile bool
	// Cause is for the log only.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("journey: %s: %v", e.Code, e.Cause)
	}
	return "journey: " + string(e.Code)
}

func (e *Error) Unwrap() error { return e.Cause }

func fail(code Code, cause error) *Error { return &Error{Code: code, Cause: cause} }

// AsError returns err's login outcome, or nil when err is not one (an
// internal error: a database outage, a bug).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// outcomeOf turns what the login, OTP and WeChat layers return into a login
// outcome; other errors (the database, bugs) pass through unchanged.
func outcomeOf(err error) error {
	if err == nil || AsError(err) != nil {
		return err
	}
	var le *otp.LimitError
	var me *otp.MismatchError
	var ce *otp.ChallengeError
	switch {
	case errors.As(err, &ce):
		code := CodeChallengeRequired
		if ce.Failed {
			code = CodeChallengeFailed
		}
		return &Error{Code: code, Challenge: &ce.Challenge, Cause: err}
	case errors.As(err, &le):
		code := CodeRateLimited
		if errors.Is(err, otp.ErrBudgetExhausted) {
			code = CodeSMSBudgetExhausted
		}
		return &Error{Code: code, RetryAfter: le.RetryAfter, Cause: err}
	case errors.Is(err, otp.ErrTooManyAttempts):
		// Before the mismatch: the wrong guess that used the last attempt
		// is both, and the person must learn that the code is burned
		// (with 0 attempts left, for clients that count).
		e := fail(CodeTooManyAttempts, err)
		if errors.As(err, &me) {
			left := me.AttemptsLeft
			e.AttemptsLeft = &left
		}
		return e
	case errors.As(err, &me):
		left := me.AttemptsLeft
		return &Error{Code: CodeWrongCode, AttemptsLeft: &left, Cause: err}
	case errors.Is(err, otp.ErrMalformedCode):
		return fail(CodeMalformedCode, err)
	case errors.Is(err, otp.ErrExpired):
		return fail(CodeCodeExpired, err)
	case errors.Is(err, otp.ErrNoCode):
		return fail(CodeNoCode, err)
	case errors.Is(err, otp.ErrRegionNotAllowed):
		return fail(CodePhoneRegion, err)
	case errors.Is(err, otp.ErrInvalidPhone):
		return fail(CodeInvalidPhone, err)
	case errors.Is(err, otp.ErrSendFailed):
		return fail(CodeSMSFailed, err)
	case errors.Is(err, login.ErrUnknownPhone):
		return fail(CodeUnknownPhone, err)
	case errors.Is(err, binding.ErrUserBound):
		return fail(CodeUserBoundElsewhere, err)
	case errors.Is(err, binding.ErrPersonBound):
		return fail(CodeAlreadyBound, err)
	}
	return wechatOutcome(err)
}

// wechatOutcome maps a WeChat client error. WeChat-side trouble the person
// cannot fix (configuration, outages) is wechat_unavailable; the log keeps
// the WeChat error.
func wechatOutcome(err error) error {
	var we *wechat.Error
	var kind wechat.ErrorKind
	if !errors.As(err, &we) && !errors.As(err, &kind) &&
		!errors.Is(err, apptoken.ErrWaitTimeout) && !errors.Is(err, apptoken.ErrForceTooSoon) {
		return err // not WeChat's doing (e.g. the database): internal
	}
	switch {
	case errors.Is(err, wechat.ErrSnapshotUser):
		return fail(CodeSnapshotUser, err)
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
	case errors.Is(err, wechat.ErrNotAuthorized):
		return fail(CodeAccountUnauthorized, err)
	}
	return fail(CodeWeChatUnavailable, err)
}

// Outcome is outcomeOf for the other users of the login's phone codes (the
// account page, the JSON API's account calls): the same refusal reads the
// same everywhere. Nil when err is not an outcome (an internal error).
func Outcome(err error) *Error { return AsError(outcomeOf(err)) }
