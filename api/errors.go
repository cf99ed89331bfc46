package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/text/language"

	"wxcas/login"
	"wxcas/otp"
	"wxcas/wechat"
	"wxcas/wechat/apptoken"
)

// Error codes: stable, machine-readable, one HTTP status each.
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

// Languages: Simplified Chinese unless the client prefers English.
const (
	langZH = "zh-CN"
	langEN = "en"
)

var langMatcher = language.NewMatcher([]language.Tag{language.SimplifiedChinese, language.English})

// messages is the API's catalogue of human messages, by error code.
var messages = map[string]map[string]string{
	langZH: {
		CodeInvalidRequest:       "请求无效。",
		CodeUnsupportedMediaType: "请求内容必须是 JSON（Content-Type: application/json）。",
		CodeRequestTooLarge:      "请求内容过大。",
		CodeMethodNotAllowed:     "不支持此请求方式。",
		CodeNotFound:             "接口不存在。",
		CodeUnknownApp:           "未登记的应用（appid）。",
		CodeUnsupportedAppKind:   "此类应用不能使用该接口。",
		CodeInvalidWeChatCode:    "微信授权码无效或已过期，请重新获取。",
		CodeWeChatCodeUsed:       "微信授权码已被使用，请重新获取。",
		CodeWeChatLoginBlocked:   "微信判定本次登录存在风险，已拦截。",
		CodeWeChatUnavailable:    "暂时无法连接微信，请稍后再试。",
		CodeInvalidBindToken:     "绑定凭证无效或已使用，请重新登录。",
		CodeBindTokenExpired:     "绑定凭证已过期，请重新登录。",
		CodeInvalidPhone:         "请输入有效的手机号码。",
		CodeRateLimited:          "操作过于频繁，请稍后再试。",
		CodeSMSBudgetExhausted:   "短信发送量已达上限，请稍后再试。",
		CodeSMSFailed:            "短信发送失败，请稍后再试。",
		CodeNoCode:               "没有待验证的验证码，请重新获取。",
		CodeMalformedCode:        "请完整输入短信中的数字验证码（只含数字）。本次输入不计入尝试次数。",
		CodeWrongCode:            "验证码错误。",
		CodeCodeExpired:          "验证码已过期，请重新获取。",
		CodeTooManyAttempts:      "验证码错误次数过多，请重新获取。",
		CodeUnknownPhone:         "该手机号码未登记，无法绑定。请联系管理员。",
		CodeUserBoundElsewhere:   "该手机号码对应的账号已绑定其他微信。",
		CodeAlreadyBound:         "此微信已绑定其他账号，请重新登录。",
		CodeSnapshotUser:         "请在微信中使用完整服务后重新登录。",
		CodeUnavailable:          "服务暂时不可用，请稍后再试。",
		CodeInternal:             "系统暂时出现问题，请稍后再试。如果问题持续存在，请联系管理员并提供请求编号。",
	},
	langEN: {
		CodeInvalidRequest:       "The request is not valid.",
		CodeUnsupportedMediaType: "The request body must be JSON (Content-Type: application/json).",
		CodeRequestTooLarge:      "The request body is too large.",
		CodeMethodNotAllowed:     "This method is not allowed here.",
		CodeNotFound:             "There is no such API endpoint.",
		CodeUnknownApp:           "This appid is not registered.",
		CodeUnsupportedAppKind:   "This kind of app cannot use this endpoint.",
		CodeInvalidWeChatCode:    "The WeChat code is invalid or has expired. Get a new one.",
		CodeWeChatCodeUsed:       "The WeChat code has already been used. Get a new one.",
		CodeWeChatLoginBlocked:   "WeChat blocked this login as risky.",
		CodeWeChatUnavailable:    "WeChat cannot be reached right now. Please try again later.",
		CodeInvalidBindToken:     "The bind token is invalid or was already used. Please log in again.",
		CodeBindTokenExpired:     "The bind token has expired. Please log in again.",
		CodeInvalidPhone:         "Enter a valid mobile phone number.",
		CodeRateLimited:          "Too many requests. Please try again later.",
		CodeSMSBudgetExhausted:   "No more SMS codes can be sent for now. Please try again later.",
		CodeSMSFailed:            "The SMS could not be sent. Please try again later.",
		CodeNoCode:               "There is no code waiting to be verified. Request a new one.",
		CodeMalformedCode:        "Enter the whole code from the text message, digits only. This try was not counted.",
		CodeWrongCode:            "The code is wrong.",
		CodeCodeExpired:          "The code has expired. Request a new one.",
		CodeTooManyAttempts:      "Too many wrong codes. Request a new one.",
		CodeUnknownPhone:         "This phone number is not registered and cannot be bound. Contact your administrator.",
		CodeUserBoundElsewhere:   "The account with this phone number is bound to another WeChat account.",
		CodeAlreadyBound:         "This WeChat account is already bound to another account. Please log in again.",
		CodeSnapshotUser:         "Open the full service in WeChat, then log in again.",
		CodeUnavailable:          "The service is briefly unavailable. Please try again in a moment.",
		CodeInternal:             "Something went wrong on our side. Please try again later. If it keeps happening, contact your administrator and quote the request ID.",
	},
}

// pickLang chooses zh-CN or en from Accept-Language (zh-CN by default).
func pickLang(r *http.Request) string {
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return langZH
	}
	if _, idx, conf := langMatcher.Match(tags...); conf != language.No && idx == 1 {
		return langEN
	}
	return langZH
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
