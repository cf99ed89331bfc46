package doctor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	tcsms "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/sms/v20210111"

	"wxcas/config"
)

// SMSAPI is the read-only part of Tencent Cloud's SMS API the SMS checks
// call (*tcsms.Client).
type SMSAPI interface {
	DescribeSmsTemplateListWithContext(ctx context.Context, req *tcsms.DescribeSmsTemplateListRequest) (*tcsms.DescribeSmsTemplateListResponse, error)
	DescribeSmsSignListWithContext(ctx context.Context, req *tcsms.DescribeSmsSignListRequest) (*tcsms.DescribeSmsSignListResponse, error)
}

// NewSMSClient is the SDK client for the configured API key and region, as
// wxcas's sender builds it. scheme ("HTTP" for a plain-http fake with an
// endpoint) and transport are for tests; empty and nil keep the SDK's.
func NewSMSClient(t config.TencentSMS, scheme string, transport http.RoundTripper) (*tcsms.Client, error) {
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.ReqTimeout = int(math.Ceil(t.Timeout.Seconds())) + 1
	if t.Endpoint != "" {
		cpf.HttpProfile.Endpoint = t.Endpoint
	}
	if scheme != "" {
		cpf.HttpProfile.Scheme = scheme
	}
	client, err := tcsms.NewClient(common.NewCredential(t.SecretID, t.SecretKey), t.Region, cpf)
	if err != nil {
		return nil, err
	}
	if transport != nil {
		client.WithHttpTransport(transport)
	}
	return client, nil
}

// mainland asks for mainland China (国内) signatures and templates: the
// ones SendSms needs a SignName for.
var mainland = common.Uint64Ptr(0)

// SMSTemplate checks that sms.tencent.template_id is an approved mainland
// template of the API key's account whose variables are the ones
// template_params fills (DescribeSmsTemplateList, read-only). A refused
// API key fails here too.
type SMSTemplate struct {
	API        SMSAPI
	TemplateID string
	Params     []string
}

// Name implements Check.
func (SMSTemplate) Name() string { return "sms_template" }

var placeholder = regexp.MustCompile(`\{([0-9]+)\}`)

// Run implements Check.
func (s SMSTemplate) Run(ctx context.Context) Result {
	id, err := strconv.ParseUint(s.TemplateID, 10, 64)
	if err != nil {
		return Fail(fmt.Sprintf("sms.tencent.template_id %q is not a template id (a number)", s.TemplateID), fixTemplateID)
	}
	req := tcsms.NewDescribeSmsTemplateListRequest()
	req.International = mainland
	req.TemplateIdSet = []*uint64{&id}
	resp, err := s.API.DescribeSmsTemplateListWithContext(ctx, req)
	if err != nil {
		return smsCallFailure(ctx, "DescribeSmsTemplateList", err)
	}
	var tpl *tcsms.DescribeTemplateListStatus
	if resp.Response != nil {
		for _, t := range resp.Response.DescribeTemplateStatusSet {
			if t != nil && t.TemplateId != nil && *t.TemplateId == id {
				tpl = t
			}
		}
	}
	if tpl == nil {
		return Fail(fmt.Sprintf("no mainland SMS template %d in the API key's account", id), fixTemplateID)
	}
	what := fmt.Sprintf("template %d %q", id, deref(tpl.TemplateName))
	if code := derefInt(tpl.StatusCode); code != 0 {
		return Fail(what+" "+reviewText(code, deref(tpl.ReviewReply)),
			"wait for Tencent's review to approve it (console: 国内短信 → 正文模板管理), or set sms.tencent.template_id to an approved template")
	}
	if tpl.International != nil && *tpl.International == 1 {
		return Fail(what+" is for international SMS only; wxcas sends to mainland numbers", fixTemplateID)
	}
	vars := 0
	for _, m := range placeholder.FindAllStringSubmatch(deref(tpl.TemplateContent), -1) {
		n, _ := strconv.Atoi(m[1])
		vars = max(vars, n)
	}
	if vars != len(s.Params) {
		return Fail(fmt.Sprintf("%s takes %d variable(s) but sms.tencent.template_params names %d (%s)", what, vars, len(s.Params), strings.Join(s.Params, ", ")),
			fmt.Sprintf("set sms.tencent.template_params to the template's {1}…{%d} in order, each code or ttl_minutes", vars))
	}
	return Pass(fmt.Sprintf("%s is approved; its %d variable(s) are template_params %s", what, vars, strings.Join(s.Params, ", ")))
}

const fixTemplateID = "set sms.tencent.template_id to the id of an approved mainland verification-code template (console: 国内短信 → 正文模板管理)"

// SMSSign checks that sms.sign_name is an approved mainland signature of
// the API key's account (DescribeSmsSignList, read-only, page by page:
// the API finds signatures by id, the configuration names them by text).
type SMSSign struct {
	API      SMSAPI
	SignName string
}

// Name implements Check.
func (SMSSign) Name() string { return "sms_signature" }

// signPage is DescribeSmsSignList's largest page; maxSignPages bounds the
// search.
const (
	signPage     = 100
	maxSignPages = 20
)

// Run implements Check.
func (s SMSSign) Run(ctx context.Context) Result {
	for page := uint64(0); page < maxSignPages; page++ {
		req := tcsms.NewDescribeSmsSignListRequest()
		req.International = mainland
		req.Limit = common.Uint64Ptr(signPage)
		req.Offset = common.Uint64Ptr(page * signPage)
		resp, err := s.API.DescribeSmsSignListWithContext(ctx, req)
		if err != nil {
			return smsCallFailure(ctx, "DescribeSmsSignList", err)
		}
		var set []*tcsms.DescribeSignListStatus
		if resp.Response != nil {
			set = resp.Response.DescribeSignListStatusSet
		}
		for _, sign := range set {
			if sign == nil || deref(sign.SignName) != s.SignName {
				continue
			}
			what := fmt.Sprintf("signature 【%s】", s.SignName)
			if code := derefInt(sign.StatusCode); code != 0 {
				return Fail(what+" "+reviewText(code, deref(sign.ReviewReply)),
					"wait for Tencent's review to approve it (console: 国内短信 → 签名管理), or set sms.sign_name to an approved signature")
			}
			return Pass(what + " is approved")
		}
		if len(set) < signPage {
			break
		}
	}
	return Fail(fmt.Sprintf("no mainland SMS signature 【%s】 in the API key's account", s.SignName),
		"set sms.sign_name to the exact text of an approved signature, without 【】 (console: 国内短信 → 签名管理)")
}

// reviewText describes a signature's or template's StatusCode.
func reviewText(code int64, reply string) string {
	var s string
	switch code {
	case 1:
		s = "is still under review (status 1)"
	case 2:
		s = "is approved but not in effect yet (status 2)"
	case -1:
		s = "was rejected (status -1)"
	case noStatus:
		s = "has no review status"
	default:
		s = fmt.Sprintf("is not usable (status %d)", code)
	}
	if reply != "" {
		s += ": " + reply
	}
	return s
}

// smsCallFailure turns a failed read-only call into a result. Tencent's
// messages carry no secret; the SDK's own ClientError messages may quote
// a whole response body, so only their code is kept.
func smsCallFailure(ctx context.Context, action string, err error) Result {
	if ctx.Err() != nil {
		return Fail(action+": no answer from Tencent Cloud in time", fixReachTencent)
	}
	var sdkErr *tcerr.TencentCloudSDKError
	if !errors.As(err, &sdkErr) {
		return Fail(action+": "+err.Error(), fixReachTencent)
	}
	detail := action + ": " + sdkErr.Code
	if msg := sdkErr.Message; msg != "" && !strings.HasPrefix(sdkErr.Code, "ClientError.") {
		detail += ": " + msg
	}
	if sdkErr.RequestId != "" {
		detail += " (RequestId " + sdkErr.RequestId + ")"
	}
	code := sdkErr.Code
	switch {
	case code == "FailedOperation.NotEnterpriseCertification":
		return Skip(detail + ": an individually certified account cannot query signatures and templates through the API; check them in the console (国内短信)")
	case code == "AuthFailure.SignatureExpire" || code == "InternalError.RequestTimeException":
		return Fail(detail, "synchronise this machine's clock with NTP (timedatectl set-ntp true): Tencent Cloud refuses requests signed more than 5 minutes off")
	case code == "AuthFailure.UnauthorizedOperation" || code == "UnauthorizedOperation.RequestPermissionDeny":
		return Fail(detail, "grant the API key's CAM user sms:DescribeSmsSignList and sms:DescribeSmsTemplateList (e.g. the QcloudSMSReadOnlyAccess policy) besides sms:SendSms")
	case code == "UnauthorizedOperation.RequestIpNotInWhitelist":
		return Fail(detail, "add this server's public IP address to the API key's IP whitelist in the Tencent Cloud console")
	case code == "UnauthorizedOperation.ServiceSuspendDueToArrears":
		return Fail(detail, "settle the Tencent Cloud account's arrears; SMS is suspended until then")
	case strings.HasPrefix(code, "AuthFailure."):
		return Fail(detail, "set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY to an enabled API key of the account that owns the SMS app (console: 访问管理 → API密钥管理)")
	case code == "ClientError.NetworkError":
		return Fail(detail, fixReachTencent)
	}
	return Fail(detail, "check sms.tencent (region, endpoint) and the account's SMS service in the Tencent Cloud console")
}

const fixReachTencent = "check that this machine reaches Tencent Cloud's API over https (firewall, proxy, DNS) and that sms.tencent.endpoint is empty"

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// noStatus stands for a StatusCode the answer left out.
const noStatus = math.MinInt64

func derefInt(p *int64) int64 {
	if p == nil {
		return noStatus
	}
	return *p
}
