package sms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTTLMinutes(t *testing.T) {
	for ttl, want := range map[time.Duration]int{0: 1, time.Second: 1, time.Minute: 1, 61 * time.Second: 2, 5 * time.Minute: 5, 10 * time.Minute: 10} {
		require.Equal(t, want, Message{TTL: ttl}.TTLMinutes(), ttl)
	}
}

// Every code of tencent-sms.md §7 (SendSms and platform-wide) has a kind.
func TestClassifyTencent(t *testing.T) {
	byKind := map[error][]string{
		ErrRateLimited: {
			"LimitExceeded.PhoneNumberThirtySecondLimit", "LimitExceeded.PhoneNumberOneHourLimit",
			"LimitExceeded.PhoneNumberDailyLimit", "LimitExceeded.PhoneNumberSameContentDailyLimit",
			"LimitExceeded.DeliveryFrequencyLimit", "LimitExceeded.PhoneNumberSomethingNew",
		},
		ErrInvalidPhone: {
			"InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist",
			"FailedOperation.PhoneNumberParseFail", "LimitExceeded.AppCountryOrRegionInBlacklist",
			"MissingParameter.EmptyPhoneNumberSet",
			"UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone", "UnsupportedOperation.GlobalTemplateToChineseMainlandPhone",
			"UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber", "UnsupportedOperation.UnsupportedRegion",
		},
		ErrConfig: {
			"FailedOperation.ContainSensitiveWord", "FailedOperation.FailResolvePacket", "FailedOperation.JsonParseFail",
			"FailedOperation.MarketingSendTimeConstraint", "FailedOperation.SignatureIncorrectOrUnapproved",
			"FailedOperation.TemplateIncorrectOrUnapproved", "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
			"FailedOperation.TemplateUnapprovedOrNotExist", "InternalError.RequestTimeException",
			"InvalidParameterValue.ContentLengthLimit", "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
			"InvalidParameterValue.SdkAppIdNotExist", "InvalidParameterValue.TemplateParameterFormatError",
			"InvalidParameterValue.TemplateParameterLengthLimit", "LimitExceeded.PhoneNumberCountLimit",
			"UnauthorizedOperation.IndividualUserMarketingSmsPermissionDeny", "UnauthorizedOperation.RequestIpNotInWhitelist",
			"UnauthorizedOperation.RequestPermissionDeny", "UnauthorizedOperation.SdkAppIdIsDisabled",
			"UnauthorizedOperation.SmsSdkAppIdVerifyFail", "UnsupportedOperation",
			"ActionOffline", "AuthFailure.InvalidAuthorization", "AuthFailure.InvalidSecretId", "AuthFailure.MFAFailure",
			"AuthFailure.SecretIdNotFound", "AuthFailure.SignatureExpire", "AuthFailure.SignatureFailure",
			"AuthFailure.TokenFailure", "AuthFailure.UnauthorizedOperation", "AuthFailure.SomethingNew", "NoSuchVersion",
			"InvalidAction", "InvalidParameter", "InvalidParameterValue", "MissingParameter", "UnknownParameter",
			"UnsupportedProtocol", "UnsupportedRegion", "RequestSizeLimitExceeded", "ResourceNotFound",
			"ClientError.CredentialError",
		},
		ErrQuota: {
			"FailedOperation.InsufficientBalanceInSmsPackage", "UnauthorizedOperation.ServiceSuspendDueToArrears",
			"LimitExceeded.AppCountryOrRegionDailyLimit", "LimitExceeded.AppDailyLimit", "LimitExceeded.AppGlobalDailyLimit",
			"LimitExceeded.AppMainlandChinaDailyLimit", "LimitExceeded.DailyLimit", "LimitExceeded.GlobalSmsSendingRateLimit",
			"LimitExceeded",
		},
		ErrProvider: {
			"InternalError", "InternalError.OtherError", "InternalError.UnknownError", "InternalError.SendAndRecvFail",
			"InternalError.Timeout", "InternalError.RestApiInterfaceNotExist", "InternalError.SigFieldMissing",
			"InternalError.SigVerificationFail", "InternalError.SomethingNew", "FailedOperation.OtherError",
			"RequestLimitExceeded", "ClientError.ParseJsonError", "ClientError.HttpStatusCodeError",
			"FailedOperation.SomethingNew", "Brand.New.Code", "(empty)",
		},
		ErrTransport: {"ClientError.NetworkError", "ClientError.IOError"},
	}
	for kind, codes := range byKind {
		for _, code := range codes {
			require.Equal(t, kind, classifyTencent(code).kind, code)
		}
	}

	// Retry semantics of the main cases.
	require.False(t, classifyTencent("AuthFailure.SignatureFailure").retryable)
	require.False(t, classifyTencent("FailedOperation.InsufficientBalanceInSmsPackage").retryable)
	require.False(t, classifyTencent("Brand.New.Code").retryable, "unknown codes are not retried")
	require.True(t, classifyTencent("InternalError.Timeout").retryable)
	require.True(t, classifyTencent("LimitExceeded.AppDailyLimit").retryable)
	require.True(t, classifyTencent("ClientError.NetworkError").retryable)
}

func TestRetryHints(t *testing.T) {
	cst := time.FixedZone("UTC+8", 8*3600)
	tests := []struct {
		hint retryHint
		now  time.Time
		want time.Duration
	}{
		{hintNone, time.Now(), 0},
		{hint30s, time.Now(), 30 * time.Second},
		{hintHour, time.Now(), time.Hour},
		{hintMidnight, time.Date(2026, 3, 1, 23, 59, 30, 0, cst), 30 * time.Second},
		{hintMidnight, time.Date(2026, 3, 1, 0, 0, 0, 0, cst), 24 * time.Hour},
		{hintMidnight, time.Date(2026, 3, 1, 15, 0, 0, 0, time.UTC), 1 * time.Hour}, // 23:00 in Beijing
		{hintMidnight, time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC), 24 * time.Hour},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.hint.after(tt.now), "%v at %s", tt.hint, tt.now)
	}
}

func TestRedact(t *testing.T) {
	got := redact("to +8613800000000, 8613800000000 and 13800000000: code 493817, key s3cr3tKEY", "+8613800000000", "493817", "s3cr3tKEY")
	require.Equal(t, "to +86138****0000, +86138****0000 and +86138****0000: code [redacted], key [redacted]", got)
	got = redact("number 12025550123 (+12025550123) refused", "+12025550123")
	require.Equal(t, "number +120****0123 (+120****0123) refused", got, "outside +86 both spellings are masked too")

	require.Equal(t, "[message withheld]", redact("code 12 rejected", "+8613800000000", "12"), "short secrets cannot be cut out")
	require.Equal(t, "1 and 2", redact("1 and 2", "+8613800000000", "99"))

	long := redact(strings.Repeat("错", 200), "", "")
	require.LessOrEqual(t, len(long), 300+len("…"))
	require.True(t, strings.HasSuffix(long, "…"))
	require.NotContains(t, long, "\uFFFD")
}

func TestErrorString(t *testing.T) {
	e := &Error{Kind: ErrRateLimited, Provider: "tencent", Code: "LimitExceeded.PhoneNumberThirtySecondLimit",
		Phone: "+86138****0000", RetryAfter: 30 * time.Second, Message: "too many", RequestID: "req-1", Retryable: true}
	require.Equal(t, "sms: rate limited: tencent: LimitExceeded.PhoneNumberThirtySecondLimit for +86138****0000 (retry in 30s): too many [RequestId req-1]", e.Error())

	wrapped := fmt.Errorf("issue otp: %w", &Error{Kind: ErrTransport, Provider: "tencent", Err: context.DeadlineExceeded})
	require.ErrorIs(t, wrapped, ErrTransport)
	require.ErrorIs(t, wrapped, context.DeadlineExceeded)
	require.False(t, errors.Is(wrapped, ErrProvider))
	require.Equal(t, "issue otp: sms: transport error: tencent: context deadline exceeded", wrapped.Error())
}
