package tencentfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	tcsms "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/sms/v20210111"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// serve starts s behind httptest and returns an SDK client signed with key.
func serve(t *testing.T, s *Server, secretID, secretKey string) *tcsms.Client {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	cpf.HttpProfile.Scheme = "HTTP"
	cpf.HttpProfile.ReqTimeout = 5
	c, err := tcsms.NewClient(common.NewCredential(secretID, secretKey), "ap-guangzhou", cpf)
	require.NoError(t, err)
	return c
}

// request is a valid SendSms request for the default setup.
func request(phones ...string) *tcsms.SendSmsRequest {
	req := tcsms.NewSendSmsRequest()
	req.PhoneNumberSet = common.StringPtrs(phones)
	req.SmsSdkAppId = common.StringPtr(DefaultSdkAppID)
	req.TemplateId = common.StringPtr(DefaultTemplateID)
	req.SignName = common.StringPtr(DefaultSignName)
	req.TemplateParamSet = common.StringPtrs([]string{"123456", "5"})
	return req
}

func status(st *tcsms.SendStatus) SendStatus {
	s := SendStatus{}
	for dst, src := range map[*string]*string{&s.SerialNo: st.SerialNo, &s.PhoneNumber: st.PhoneNumber,
		&s.SessionContext: st.SessionContext, &s.Code: st.Code, &s.Message: st.Message, &s.IsoCode: st.IsoCode} {
		if src != nil {
			*dst = *src
		}
	}
	if st.Fee != nil {
		s.Fee = *st.Fee
	}
	return s
}

func TestSendSuccess(t *testing.T) {
	s := New(Options{})
	c := serve(t, s, DefaultSecretID, DefaultSecretKey)
	req := request("+8613800000000", "13900000000")
	req.SessionContext = common.StringPtr("ctx-1")

	resp, err := c.SendSms(req)
	require.NoError(t, err)
	require.Regexp(t, uuidRE, *resp.Response.RequestId)
	require.Len(t, resp.Response.SendStatusSet, 2)
	serials := map[string]bool{}
	for i, want := range []string{"+8613800000000", "+8613900000000"} {
		st := status(resp.Response.SendStatusSet[i])
		require.NotEmpty(t, st.SerialNo)
		serials[st.SerialNo] = true
		st.SerialNo = ""
		require.Equal(t, SendStatus{PhoneNumber: want, Fee: 1, SessionContext: "ctx-1", Code: "Ok", Message: "send success", IsoCode: "CN"}, st)
	}
	require.Len(t, serials, 2, "serial numbers are unique")

	got := s.Delivered("13900000000") // any accepted spelling
	require.Len(t, got, 1)
	require.Equal(t, "+8613900000000", got[0].Phone)
	require.Equal(t, []string{"123456", "5"}, got[0].Params)
	require.Equal(t, "【wxcas】您的验证码是123456，5分钟内有效，如非本人操作，请忽略本短信。", got[0].Text)
	require.Equal(t, "ctx-1", got[0].SessionContext)
	require.Equal(t, 1, s.Requests())
}

func TestPerNumberNormalisation(t *testing.T) {
	s := New(Options{})
	c := serve(t, s, DefaultSecretID, DefaultSecretKey)
	tests := []struct {
		in, phone, code, iso string
	}{
		{"+8613800000001", "+8613800000001", "Ok", "CN"},
		{"008613800000002", "+8613800000002", "Ok", "CN"},
		{"8613800000003", "+8613800000003", "Ok", "CN"},
		{"13800000004", "+8613800000004", "Ok", "CN"},
		{"+861380000000", "+861380000000", "InvalidParameterValue.IncorrectPhoneNumber", "DEF"},
		{"+8612800000000", "+8612800000000", "InvalidParameterValue.IncorrectPhoneNumber", "DEF"},
		{"12345", "12345", "InvalidParameterValue.IncorrectPhoneNumber", "DEF"},
		{"+12025550123", "+12025550123", "UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone", "DEF"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			resp, err := c.SendSms(request(tt.in))
			require.NoError(t, err)
			require.Len(t, resp.Response.SendStatusSet, 1)
			st := status(resp.Response.SendStatusSet[0])
			require.Equal(t, tt.code, st.Code)
			require.Equal(t, tt.phone, st.PhoneNumber)
			require.Equal(t, tt.iso, st.IsoCode)
			if tt.code == "Ok" {
				require.Len(t, s.Delivered(tt.phone), 1)
				return
			}
			require.Zero(t, st.Fee)
			require.Empty(t, st.SerialNo)
			require.NotEmpty(t, st.Message)
			require.Empty(t, s.Delivered(tt.phone))
		})
	}
}

func TestRequestLevelErrors(t *testing.T) {
	tooMany := make([]string, 201)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("+86138%08d", i)
	}
	tests := []struct {
		name      string
		secretID  string
		secretKey string
		opts      Options
		mutate    func(*tcsms.SendSmsRequest)
		setup     func(*Server)
		want      string
	}{
		{name: "wrong secret key", secretKey: "not-the-key", want: "AuthFailure.SignatureFailure"},
		{name: "unknown secret id", secretID: "AKIDunknown", want: "AuthFailure.SecretIdNotFound"},
		{name: "clock skew", opts: Options{Now: func() time.Time { return time.Now().Add(6 * time.Minute) }}, want: "AuthFailure.SignatureExpire"},
		{name: "empty phone set", mutate: func(r *tcsms.SendSmsRequest) { r.PhoneNumberSet = nil }, want: "MissingParameter.EmptyPhoneNumberSet"},
		{name: "201 numbers", mutate: func(r *tcsms.SendSmsRequest) { r.PhoneNumberSet = common.StringPtrs(tooMany) }, want: "LimitExceeded.PhoneNumberCountLimit"},
		{name: "unknown app", mutate: func(r *tcsms.SendSmsRequest) { r.SmsSdkAppId = common.StringPtr("1400999999") }, want: "InvalidParameterValue.SdkAppIdNotExist"},
		{name: "unknown template", mutate: func(r *tcsms.SendSmsRequest) { r.TemplateId = common.StringPtr("999") }, want: "FailedOperation.TemplateIncorrectOrUnapproved"},
		{name: "unknown sign", mutate: func(r *tcsms.SendSmsRequest) { r.SignName = common.StringPtr("other") }, want: "FailedOperation.SignatureIncorrectOrUnapproved"},
		{name: "missing sign", mutate: func(r *tcsms.SendSmsRequest) { r.SignName = nil }, want: "FailedOperation.SignatureIncorrectOrUnapproved"},
		{name: "too few params", mutate: func(r *tcsms.SendSmsRequest) { r.TemplateParamSet = common.StringPtrs([]string{"123456"}) },
			want: "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"},
		{name: "non-digit code", mutate: func(r *tcsms.SendSmsRequest) { r.TemplateParamSet = common.StringPtrs([]string{"12ab56", "5"}) },
			want: "InvalidParameterValue.TemplateParameterFormatError"},
		{name: "seven-digit code", mutate: func(r *tcsms.SendSmsRequest) { r.TemplateParamSet = common.StringPtrs([]string{"1234567", "5"}) },
			want: "InvalidParameterValue.TemplateParameterFormatError"},
		{name: "forced", setup: func(s *Server) { s.FailRequest("InternalError.Timeout", "") }, want: "InternalError.Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.opts)
			if tt.setup != nil {
				tt.setup(s)
			}
			id, key := DefaultSecretID, DefaultSecretKey
			if tt.secretID != "" {
				id = tt.secretID
			}
			if tt.secretKey != "" {
				key = tt.secretKey
			}
			req := request("+8613800000000")
			if tt.mutate != nil {
				tt.mutate(req)
			}
			_, err := serve(t, s, id, key).SendSms(req)
			var sdkErr *tcerr.TencentCloudSDKError
			require.True(t, errors.As(err, &sdkErr), "%v", err)
			require.Equal(t, tt.want, sdkErr.Code)
			require.NotEmpty(t, sdkErr.Message)
			require.Regexp(t, uuidRE, sdkErr.RequestId)
			require.Empty(t, s.Delivered("+8613800000000"))
		})
	}
}

func TestFailRequestClears(t *testing.T) {
	s := New(Options{})
	c := serve(t, s, DefaultSecretID, DefaultSecretKey)
	s.FailRequest("FailedOperation.InsufficientBalanceInSmsPackage", "balance exhausted")
	_, err := c.SendSms(request("+8613800000000"))
	var sdkErr *tcerr.TencentCloudSDKError
	require.ErrorAs(t, err, &sdkErr)
	require.Equal(t, "balance exhausted", sdkErr.Message)
	s.FailRequest("", "")
	_, err = c.SendSms(request("+8613800000000"))
	require.NoError(t, err)
}

func TestLimits(t *testing.T) {
	// 2026-01-02 09:00 in Beijing; the SDK signs with the real clock, so the
	// skew window is opened wide.
	start := time.Date(2026, 1, 2, 9, 0, 0, 0, beijing)
	now := start
	s := New(Options{Limits: Limits{ThirtySecond: 1, OneHour: 3, Daily: 4}, Now: func() time.Time { return now }, MaxSkew: 100 * 365 * 24 * time.Hour})
	c := serve(t, s, DefaultSecretID, DefaultSecretKey)
	steps := []struct {
		at   time.Duration
		want string
	}{
		{0, "Ok"},
		{10 * time.Second, "LimitExceeded.PhoneNumberThirtySecondLimit"},
		{31 * time.Second, "Ok"},
		{62 * time.Second, "Ok"},
		{93 * time.Second, "LimitExceeded.PhoneNumberOneHourLimit"},
		{time.Hour, "Ok"}, // the first send has left the hour
		{2 * time.Hour, "LimitExceeded.PhoneNumberDailyLimit"},
		{15 * time.Hour, "Ok"}, // 00:00 next day in Beijing
	}
	for _, st := range steps {
		now = start.Add(st.at)
		resp, err := c.SendSms(request("+8613800000000"))
		require.NoError(t, err)
		got := status(resp.Response.SendStatusSet[0])
		require.Equal(t, st.want, got.Code, "at +%s", st.at)
		if st.want != "Ok" {
			require.Zero(t, got.Fee)
			require.Empty(t, got.SerialNo)
			require.Equal(t, "CN", got.IsoCode)
		}
	}
	require.Len(t, s.Delivered("+8613800000000"), 5)
	// Limits are per number.
	resp, err := c.SendSms(request("+8613900000000"))
	require.NoError(t, err)
	require.Equal(t, "Ok", *resp.Response.SendStatusSet[0].Code)
}

func TestSameContentLimit(t *testing.T) {
	s := New(Options{Limits: Limits{SameContentDaily: 1}})
	c := serve(t, s, DefaultSecretID, DefaultSecretKey)
	send := func(code string) string {
		req := request("+8613800000000")
		req.TemplateParamSet = common.StringPtrs([]string{code, "5"})
		resp, err := c.SendSms(req)
		require.NoError(t, err)
		return *resp.Response.SendStatusSet[0].Code
	}
	require.Equal(t, "Ok", send("111111"))
	require.Equal(t, "LimitExceeded.PhoneNumberSameContentDailyLimit", send("111111"))
	require.Equal(t, "Ok", send("222222"))
}

func TestFailNumberAndResponseHook(t *testing.T) {
	s := New(Options{})
	c := serve(t, s, DefaultSecretID, DefaultSecretKey)
	s.FailNumber("13800000000", "FailedOperation.PhoneNumberInBlacklist")

	resp, err := c.SendSms(request("+8613800000000", "+8613900000000"))
	require.NoError(t, err)
	require.Equal(t, "FailedOperation.PhoneNumberInBlacklist", *resp.Response.SendStatusSet[0].Code)
	require.Equal(t, "", *resp.Response.SendStatusSet[0].SerialNo)
	require.Equal(t, "Ok", *resp.Response.SendStatusSet[1].Code)
	require.Empty(t, s.Delivered("+8613800000000"))

	s.FailNumber("+8613800000000", "")
	s.SetResponseHook(func([]SendStatus) []SendStatus { return nil })
	resp, err = c.SendSms(request("+8613800000000"))
	require.NoError(t, err)
	require.Empty(t, resp.Response.SendStatusSet)
	require.Len(t, s.Delivered("+8613800000000"), 1, "the hook changes the answer, not the delivery")
}

// signedPost sends body to the fake as the SDK would, with extra headers.
func signedPost(t *testing.T, url, body string, headers map[string]string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	require.NoError(t, err)
	host := strings.TrimPrefix(url, "http://")
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	date := time.Now().UTC().Format(time.DateOnly)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-TC-Timestamp", ts)
	req.Header.Set("X-TC-Action", "SendSms")
	req.Header.Set("X-TC-Version", "2021-01-11")
	req.Header.Set("X-TC-Region", "ap-guangzhou")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	canonical := canonicalRequest("POST", "", [][2]string{{"content-type", "application/json"}, {"host", host}}, sha256Hex([]byte(body)))
	sig := signature(DefaultSecretKey, date, "sms", stringToSign(ts, date, "sms", canonical))
	if _, ok := headers["Authorization"]; !ok {
		req.Header.Set("Authorization", fmt.Sprintf("TC3-HMAC-SHA256 Credential=%s/%s/sms/tc3_request, SignedHeaders=content-type;host, Signature=%s", DefaultSecretID, date, sig))
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) map[string]any {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out struct{ Response map[string]any }
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	require.Regexp(t, uuidRE, out.Response["RequestId"])
	return out.Response
}

func errorCode(resp map[string]any) string {
	e, _ := resp["Error"].(map[string]any)
	code, _ := e["Code"].(string)
	return code
}

func TestProtocolChecks(t *testing.T) {
	s := New(Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	okBody := `{"PhoneNumberSet":["+8613800000000"],"SmsSdkAppId":"1400000000","TemplateId":"100001","SignName":"wxcas","TemplateParamSet":["123456","5"]}`

	require.Equal(t, "", errorCode(signedPost(t, srv.URL, okBody, nil)), "the helper signs correctly")
	tests := []struct {
		name    string
		body    string
		headers map[string]string
		want    string
	}{
		{"wrong action", okBody, map[string]string{"X-TC-Action": "SendSmsX"}, "InvalidAction"},
		{"wrong version", okBody, map[string]string{"X-TC-Version": "2019-07-11"}, "NoSuchVersion"},
		{"no region", okBody, map[string]string{"X-TC-Region": ""}, "MissingParameter"},
		{"malformed authorization", okBody, map[string]string{"Authorization": "TC3-HMAC-SHA256 garbage"}, "AuthFailure.InvalidAuthorization"},
		{"missing authorization", okBody, map[string]string{"Authorization": ""}, "AuthFailure.InvalidAuthorization"},
		{"unknown field", strings.Replace(okBody, `"SignName"`, `"Sign":"x","SignName"`, 1), nil, "UnknownParameter"},
		{"wrong type", `{"PhoneNumberSet":"+8613800000000"}`, nil, "InvalidParameter"},
		{"not json", `{`, nil, "FailedOperation.JsonParseFail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, errorCode(signedPost(t, srv.URL, tt.body, tt.headers)))
		})
	}

	t.Run("GET", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		require.NoError(t, err)
		require.Equal(t, "UnsupportedProtocol", errorCode(do(t, req)))
	})
}
