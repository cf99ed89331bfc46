package sms

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	tcsms "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/sms/v20210111"

	"wxcas/logx"
)

// Template parameter names for TencentConfig.TemplateParams.
const (
	ParamCode       = "code"        // the one-time code
	ParamTTLMinutes = "ttl_minutes" // validity in whole minutes
)

// DefaultTencentTimeout bounds one SendSms call when TencentConfig.Timeout is 0.
const DefaultTencentTimeout = 10 * time.Second

// TencentConfig configures the Tencent Cloud SMS sender (SendSms, API
// 2021-01-11). SecretID and SecretKey belong in the environment, never in a
// config file.
type TencentConfig struct {
	SecretID  string
	SecretKey string
	Region    string // e.g. "ap-guangzhou"
	SdkAppID  string // SMS application id, e.g. "1400006666"
	SignName  string // the approved signature text (not its id), e.g. "腾讯云"
	// TemplateID is an approved verification-code template.
	TemplateID string
	// TemplateParams is the order of the template's variables {1}, {2}, ...:
	// each one of ParamCode or ParamTTLMinutes; ParamCode exactly once.
	TemplateParams []string

	// Endpoint overrides the API host as host[:port], never a URL (tests
	// only; empty means sms.tencentcloudapi.com).
	Endpoint string
	// Scheme is "HTTPS" (default) or "HTTP" (only together with Endpoint).
	Scheme string
	// Timeout bounds one SendSms call; 0 means DefaultTencentTimeout.
	Timeout time.Duration
	// HTTPTransport replaces the SDK's transport (e.g. a TLS fake's client
	// transport); nil keeps the SDK default.
	HTTPTransport http.RoundTripper
	// Now is the clock used for retry hints; nil means time.Now.
	Now func() time.Time
}

var (
	digitsRE = regexp.MustCompile(`^[0-9]+$`)
	regionRE = regexp.MustCompile(`^[a-z]+(-[a-z]+)+(-[0-9]+)?$`)
)

// Validate returns every problem with c, one line each, or nil. Secret values
// are never echoed.
func (c TencentConfig) Validate() []string {
	var p []string
	add := func(bad bool, format string, args ...any) {
		if bad {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}
	add(strings.TrimSpace(c.SecretID) == "", "SecretID: required (from the environment)")
	add(strings.TrimSpace(c.SecretKey) == "", "SecretKey: required (from the environment)")
	add(c.Region == "", "Region: required, e.g. ap-guangzhou")
	add(c.Region != "" && !regionRE.MatchString(c.Region), "Region: %q is not a region name such as ap-guangzhou", c.Region)
	add(!digitsRE.MatchString(c.SdkAppID), "SdkAppID: %q must be the numeric SMS application id, e.g. 1400006666", c.SdkAppID)
	add(strings.TrimSpace(c.SignName) == "", "SignName: required (the approved signature text)")
	add(c.SignName != strings.TrimSpace(c.SignName), "SignName: %q has leading or trailing spaces", c.SignName)
	add(!digitsRE.MatchString(c.TemplateID), "TemplateID: %q must be the numeric id of an approved template", c.TemplateID)

	codes := 0
	for i, name := range c.TemplateParams {
		switch name {
		case ParamCode:
			codes++
		case ParamTTLMinutes:
		default:
			p = append(p, fmt.Sprintf("TemplateParams[%d]: %q must be %q or %q", i, name, ParamCode, ParamTTLMinutes))
		}
	}
	add(codes != 1, "TemplateParams: must name %q exactly once (got %q)", ParamCode, c.TemplateParams)

	if c.Endpoint != "" {
		host, port, err := net.SplitHostPort(c.Endpoint)
		if err != nil { // no port
			host, port = c.Endpoint, ""
		}
		n, perr := strconv.Atoi(port)
		add(host == "" || strings.ContainsAny(c.Endpoint, "/ \t?#@") || (port != "" && (perr != nil || n < 1 || n > 65535)),
			"Endpoint: %q must be host[:port] without scheme or path", c.Endpoint)
	}
	scheme := strings.ToUpper(c.Scheme)
	add(scheme != "" && scheme != "HTTPS" && scheme != "HTTP", "Scheme: %q must be HTTPS or HTTP", c.Scheme)
	add(scheme == "HTTP" && c.Endpoint == "", "Scheme: HTTP needs an Endpoint (Tencent Cloud accepts HTTPS only)")
	add(c.Timeout < 0, "Timeout: must not be negative")
	return p
}

// Tencent sends codes through Tencent Cloud SMS with the official SDK.
type Tencent struct {
	client    *tcsms.Client
	cfg       TencentConfig
	timeout   time.Duration
	now       func() time.Time
	needTTL   bool
	secretKey string
}

// NewTencent validates cfg and builds the sender. A configuration problem is
// an error matching ErrConfig that lists every problem.
func NewTencent(cfg TencentConfig) (*Tencent, error) {
	if p := cfg.Validate(); len(p) > 0 {
		return nil, fmt.Errorf("%w: tencent: %s", ErrConfig, strings.Join(p, "; "))
	}
	t := &Tencent{
		cfg:       cfg,
		timeout:   cmp.Or(cfg.Timeout, DefaultTencentTimeout),
		now:       cfg.Now,
		needTTL:   slices.Contains(cfg.TemplateParams, ParamTTLMinutes),
		secretKey: cfg.SecretKey,
	}
	if t.now == nil {
		t.now = time.Now
	}
	cpf := profile.NewClientProfile()
	// The context deadline is the real bound; the SDK's whole-second client
	// timeout is only a backstop.
	cpf.HttpProfile.ReqTimeout = int(math.Ceil(t.timeout.Seconds())) + 1
	if cfg.Endpoint != "" {
		cpf.HttpProfile.Endpoint = cfg.Endpoint
	}
	if cfg.Scheme != "" {
		cpf.HttpProfile.Scheme = strings.ToUpper(cfg.Scheme)
	}
	client, err := tcsms.NewClient(common.NewCredential(cfg.SecretID, cfg.SecretKey), cfg.Region, cpf)
	if err != nil {
		return nil, fmt.Errorf("%w: tencent: %v", ErrConfig, err)
	}
	if cfg.HTTPTransport != nil {
		client.WithHttpTransport(cfg.HTTPTransport)
	}
	t.client = client
	return t, nil
}

const providerTencent = "tencent"

// Send sends m as one SendSms call for one number. It succeeds only when the
// response holds exactly one SendStatus, for m.Phone, with Code "Ok".
func (t *Tencent) Send(ctx context.Context, m Message) (Receipt, error) {
	if err := checkMessage(providerTencent, m, t.needTTL); err != nil {
		return Receipt{}, err
	}
	params := make([]string, len(t.cfg.TemplateParams))
	for i, name := range t.cfg.TemplateParams {
		if name == ParamCode {
			params[i] = m.Code
		} else {
			params[i] = strconv.Itoa(m.TTLMinutes())
		}
	}
	req := tcsms.NewSendSmsRequest()
	req.PhoneNumberSet = common.StringPtrs([]string{m.Phone})
	req.SmsSdkAppId = common.StringPtr(t.cfg.SdkAppID)
	req.TemplateId = common.StringPtr(t.cfg.TemplateID)
	req.SignName = common.StringPtr(t.cfg.SignName)
	req.TemplateParamSet = common.StringPtrs(params)

	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	resp, err := t.client.SendSmsWithContext(ctx, req)
	if err != nil {
		return Receipt{}, t.requestError(ctx, err, m)
	}

	var requestID string
	var statuses []*tcsms.SendStatus
	if resp != nil && resp.Response != nil {
		requestID = deref(resp.Response.RequestId)
		statuses = resp.Response.SendStatusSet
	}
	if len(statuses) != 1 || statuses[0] == nil {
		return Receipt{}, &Error{Kind: ErrProvider, Provider: providerTencent, Phone: logx.MaskPhone(m.Phone), RequestID: requestID,
			Message: fmt.Sprintf("response has %d SendStatus entries for 1 number; treated as not sent", len(statuses))}
	}
	st := statuses[0]
	if got := deref(st.PhoneNumber); !samePhone(got, m.Phone) {
		return Receipt{}, &Error{Kind: ErrProvider, Provider: providerTencent, Phone: logx.MaskPhone(m.Phone), RequestID: requestID,
			Message: fmt.Sprintf("SendStatus is for another number (%s); treated as not sent", logx.MaskPhone(got))}
	}
	if code := deref(st.Code); code != "Ok" {
		if code == "" {
			code = "(empty)"
		}
		return Receipt{}, t.codeError(code, deref(st.Message), requestID, m)
	}
	var fee uint64
	if st.Fee != nil {
		fee = *st.Fee
	}
	return Receipt{Provider: providerTencent, SerialNo: deref(st.SerialNo), RequestID: requestID, Fee: fee}, nil
}

// requestError turns an error from the SDK call into an *Error.
func (t *Tencent) requestError(ctx context.Context, err error, m Message) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The SDK flattens transport errors into text; report the context's
		// own error so callers can tell a deadline from a cancellation.
		return &Error{Kind: ErrTransport, Provider: providerTencent, Phone: logx.MaskPhone(m.Phone), Retryable: true, Err: ctxErr}
	}
	var sdkErr *tcerr.TencentCloudSDKError
	if !errors.As(err, &sdkErr) {
		return &Error{Kind: ErrTransport, Provider: providerTencent, Phone: logx.MaskPhone(m.Phone), Retryable: true,
			Message: redact(err.Error(), m.Phone, m.Code, t.secretKey)}
	}
	msg := sdkErr.Message
	if strings.HasPrefix(sdkErr.Code, "ClientError.") && sdkErr.Code != "ClientError.NetworkError" {
		msg = "" // the SDK's own messages may embed the whole response body
	}
	return t.codeError(sdkErr.Code, msg, sdkErr.RequestId, m)
}

// codeError builds the error for a provider code, from either path.
func (t *Tencent) codeError(code, msg, requestID string, m Message) error {
	c := classifyTencent(code)
	e := &Error{
		Kind:      c.kind,
		Provider:  providerTencent,
		Code:      code,
		Message:   redact(msg, m.Phone, m.Code, t.secretKey),
		Phone:     logx.MaskPhone(m.Phone),
		RequestID: requestID,
		Retryable: c.retryable,
	}
	if c.retryable {
		e.RetryAfter = c.hint.after(t.now())
	}
	return e
}

// samePhone compares two spellings of a number by their digits, so that
// "+8613800000000" matches "8613800000000".
func samePhone(a, b string) bool {
	return a != "" && strings.TrimPrefix(a, "+") == strings.TrimPrefix(b, "+")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
