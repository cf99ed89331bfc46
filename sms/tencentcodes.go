package sms

import (
	"strings"
	"time"
)

// retryHint says how a RetryAfter is derived from an error code.
type retryHint int

const (
	hintNone     retryHint = iota
	hintSecond             // API-wide request rate: back off briefly
	hint30s                // the per-number 30-second window
	hintHour               // the per-number hourly window (an upper bound)
	hintMidnight           // daily limits reset at 00:00 Beijing time
)

// beijing is China Standard Time (UTC+8, no DST); daily limits count per
// natural day there.
var beijing = time.FixedZone("CST", 8*60*60)

func (h retryHint) after(now time.Time) time.Duration {
	switch h {
	case hintSecond:
		return time.Second
	case hint30s:
		return 30 * time.Second
	case hintHour:
		return time.Hour
	case hintMidnight:
		t := now.In(beijing)
		return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, beijing).Sub(now)
	}
	return 0
}

// class is how one provider code is reported.
type class struct {
	kind      error
	retryable bool
	hint      retryHint
}

var (
	rateLimited  = func(h retryHint) class { return class{ErrRateLimited, true, h} }
	invalidPhone = class{ErrInvalidPhone, false, hintNone}
	configured   = class{ErrConfig, false, hintNone}
	quotaSpent   = class{ErrQuota, false, hintNone}
	quotaDaily   = class{ErrQuota, true, hintMidnight}
	internal     = class{ErrProvider, true, hintNone}
	transport    = class{ErrTransport, true, hintNone}
	unknownCode  = class{ErrProvider, false, hintNone}
)

// tencentCodes maps the SendSms error codes (tencentcloud/sms/v20210111
// errors.go), the platform-wide codes and the SDK's own ClientError codes to
// kinds. The same codes may come back per number (SendStatus.Code) or for the
// whole request (Response.Error); both paths use this table.
var tencentCodes = map[string]class{
	// Per-number limits.
	"LimitExceeded.PhoneNumberThirtySecondLimit":     rateLimited(hint30s),
	"LimitExceeded.PhoneNumberOneHourLimit":          rateLimited(hintHour),
	"LimitExceeded.PhoneNumberDailyLimit":            rateLimited(hintMidnight),
	"LimitExceeded.PhoneNumberSameContentDailyLimit": rateLimited(hintMidnight), // a fresh code is different content
	"LimitExceeded.DeliveryFrequencyLimit":           rateLimited(hintNone),

	// The number cannot receive our messages.
	"InvalidParameterValue.IncorrectPhoneNumber":                      invalidPhone,
	"FailedOperation.PhoneNumberParseFail":                            invalidPhone,
	"FailedOperation.PhoneNumberInBlacklist":                          invalidPhone,
	"LimitExceeded.AppCountryOrRegionInBlacklist":                     invalidPhone,
	"MissingParameter.EmptyPhoneNumberSet":                            invalidPhone,
	"UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone":       invalidPhone,
	"UnsupportedOperation.GlobalTemplateToChineseMainlandPhone":       invalidPhone,
	"UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": invalidPhone,
	"UnsupportedOperation.ContainDomesticPhoneNumber":                 invalidPhone,
	"UnsupportedOperation.UnsupportedRegion":                          invalidPhone,

	// Operator problems: sign, template, app, permissions, request shape.
	"FailedOperation.SignatureIncorrectOrUnapproved":                 configured,
	"FailedOperation.TemplateIncorrectOrUnapproved":                  configured,
	"FailedOperation.TemplateParamSetNotMatchApprovedTemplate":       configured,
	"FailedOperation.TemplateUnapprovedOrNotExist":                   configured,
	"FailedOperation.MissingSignature":                               configured,
	"FailedOperation.SignIdNotExist":                                 configured,
	"FailedOperation.TemplateIdNotExist":                             configured,
	"FailedOperation.ContainSensitiveWord":                           configured,
	"FailedOperation.MarketingSendTimeConstraint":                    configured,
	"FailedOperation.FailResolvePacket":                              configured,
	"FailedOperation.JsonParseFail":                                  configured,
	"InvalidParameterValue.ContentLengthLimit":                       configured,
	"InvalidParameterValue.ProhibitedUseUrlInTemplateParameter":      configured,
	"InvalidParameterValue.SdkAppIdNotExist":                         configured,
	"InvalidParameterValue.TemplateParameterFormatError":             configured,
	"InvalidParameterValue.TemplateParameterLengthLimit":             configured,
	"InvalidParameterValue.TemplateWithDirtyWords":                   configured,
	"InvalidParameter.DirtyWordFound":                                configured,
	"LimitExceeded.PhoneNumberCountLimit":                            configured, // more than 200 numbers: we send one
	"UnauthorizedOperation.IndividualUserMarketingSmsPermissionDeny": configured,
	"UnauthorizedOperation.RequestIpNotInWhitelist":                  configured,
	"UnauthorizedOperation.RequestPermissionDeny":                    configured,
	"UnauthorizedOperation.SdkAppIdIsDisabled":                       configured,
	"UnauthorizedOperation.SmsSdkAppIdVerifyFail":                    configured,
	"UnsupportedOperation":                                           configured,
	"InternalError.RequestTimeException":                             configured, // our clock is off by more than 10 min
	// Platform-wide codes.
	"AuthFailure.InvalidAuthorization":  configured,
	"AuthFailure.InvalidSecretId":       configured,
	"AuthFailure.MFAFailure":            configured,
	"AuthFailure.SecretIdNotFound":      configured,
	"AuthFailure.SignatureExpire":       configured, // clock skew over 5 min
	"AuthFailure.SignatureFailure":      configured,
	"AuthFailure.TokenFailure":          configured,
	"AuthFailure.UnauthorizedOperation": configured,
	"ActionOffline":                     configured,
	"InvalidAction":                     configured,
	"NoSuchVersion":                     configured,
	"InvalidParameter":                  configured,
	"InvalidParameterValue":             configured,
	"MissingParameter":                  configured,
	"UnknownParameter":                  configured,
	"UnsupportedProtocol":               configured,
	"UnsupportedRegion":                 configured,
	"RequestSizeLimitExceeded":          configured,
	"ResourceNotFound":                  configured,
	// The SDK's own checks.
	"ClientError.CredentialError":  configured,
	"ClientError.InvalidParameter": configured,

	// Budget and app-level limits.
	"FailedOperation.InsufficientBalanceInSmsPackage":  quotaSpent,
	"UnauthorizedOperation.ServiceSuspendDueToArrears": quotaSpent,
	"LimitExceeded":                              quotaSpent,
	"LimitExceeded.AppDailyLimit":                quotaDaily,
	"LimitExceeded.AppGlobalDailyLimit":          quotaDaily,
	"LimitExceeded.AppMainlandChinaDailyLimit":   quotaDaily,
	"LimitExceeded.AppCountryOrRegionDailyLimit": quotaDaily,
	"LimitExceeded.DailyLimit":                   quotaDaily,
	"LimitExceeded.GlobalSmsSendingRateLimit":    {ErrQuota, true, hintSecond},

	// Provider failures worth retrying.
	"InternalError":                          internal,
	"InternalError.OtherError":               internal,
	"InternalError.UnknownError":             internal,
	"InternalError.SendAndRecvFail":          internal,
	"InternalError.Timeout":                  internal,
	"InternalError.RestApiInterfaceNotExist": internal,
	"InternalError.SigFieldMissing":          internal,
	"InternalError.SigVerificationFail":      internal,
	"InternalError.JsonParseFail":            internal,
	"InternalError.ParseBackendResponseFail": internal,
	"FailedOperation.OtherError":             internal,
	"RequestLimitExceeded":                   {ErrProvider, true, hintSecond},
	"ClientError.ParseJsonError":             internal,
	"ClientError.HttpStatusCodeError":        internal,
	"ClientError.CircuitBreakerError":        internal,
	"ClientError.TypeError":                  internal,

	// No usable answer.
	"ClientError.NetworkError": transport,
	"ClientError.IOError":      transport,
}

// classifyTencent reports how a Tencent code is handled. Codes missing from
// the table fall back on their family; anything else is an untrusted
// provider error that is not retried.
func classifyTencent(code string) class {
	if c, ok := tencentCodes[code]; ok {
		return c
	}
	family, _, _ := strings.Cut(code, ".")
	switch {
	case strings.HasPrefix(code, "LimitExceeded.PhoneNumber"):
		return rateLimited(hintNone)
	case strings.HasPrefix(code, "LimitExceeded.App"):
		return quotaSpent
	case family == "InternalError":
		return internal
	case family == "AuthFailure", family == "UnauthorizedOperation", family == "InvalidParameter",
		family == "InvalidParameterValue", family == "MissingParameter", family == "UnknownParameter",
		family == "UnsupportedOperation":
		return configured
	}
	return unknownCode
}
