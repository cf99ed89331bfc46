package tencentfake

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tcsms "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/sms/v20210111"
)

func sdkCode(t *testing.T, err error) string {
	t.Helper()
	var e *tcerr.TencentCloudSDKError
	require.ErrorAs(t, err, &e)
	return e.Code
}

func templateRequest(ids ...uint64) *tcsms.DescribeSmsTemplateListRequest {
	req := tcsms.NewDescribeSmsTemplateListRequest()
	req.International = common.Uint64Ptr(0)
	req.TemplateIdSet = common.Uint64Ptrs(ids)
	return req
}

func signRequest(limit, offset uint64) *tcsms.DescribeSmsSignListRequest {
	req := tcsms.NewDescribeSmsSignListRequest()
	req.International = common.Uint64Ptr(0)
	req.Limit = common.Uint64Ptr(limit)
	req.Offset = common.Uint64Ptr(offset)
	return req
}

func TestDescribeTemplates(t *testing.T) {
	s := New(Options{Templates: map[string]Template{DefaultTemplateID: DefaultTemplate, "100002": {Text: "code {1}"}}})
	c := serve(t, s, DefaultSecretID, DefaultSecretKey)
	require.NoError(t, s.SetTemplateStatus("100002", StatusRejected, "签名与模板内容不符"))

	resp, err := c.DescribeSmsTemplateList(templateRequest(100001, 100002, 999999))
	require.NoError(t, err)
	set := resp.Response.DescribeTemplateStatusSet
	require.Len(t, set, 2, "an id the account lacks is left out")
	require.Equal(t, uint64(100001), *set[0].TemplateId)
	require.Equal(t, StatusApproved, *set[0].StatusCode)
	require.Equal(t, DefaultTemplate.Text, *set[0].TemplateContent)
	require.Equal(t, uint64(0), *set[0].International)
	require.Equal(t, uint64(100002), *set[1].TemplateId)
	require.Equal(t, StatusRejected, *set[1].StatusCode)
	require.Equal(t, "签名与模板内容不符", *set[1].ReviewReply)
	require.NotEmpty(t, *resp.Response.RequestId)

	// International templates: the fake has none.
	req := templateRequest(100001)
	req.International = common.Uint64Ptr(1)
	resp, err = c.DescribeSmsTemplateList(req)
	require.NoError(t, err)
	require.Empty(t, resp.Response.DescribeTemplateStatusSet)

	require.Error(t, s.SetTemplateStatus("424242", StatusApproved, ""), "only known templates")
}

func TestDescribeSignsPages(t *testing.T) {
	names := []string{"甲", "乙", "丙", "丁", "戊"}
	s := New(Options{SignNames: names})
	c := serve(t, s, DefaultSecretID, DefaultSecretKey)
	require.NoError(t, s.SetSignStatus("丙", StatusUnderReview, ""))

	var got []string
	for offset := uint64(0); ; offset += 2 {
		resp, err := c.DescribeSmsSignList(signRequest(2, offset))
		require.NoError(t, err)
		for _, st := range resp.Response.DescribeSignListStatusSet {
			got = append(got, *st.SignName)
			want := StatusApproved
			if *st.SignName == "丙" {
				want = StatusUnderReview
			}
			require.Equal(t, want, *st.StatusCode, *st.SignName)
		}
		if len(resp.Response.DescribeSignListStatusSet) < 2 {
			break
		}
	}
	require.Equal(t, names, got)

	// By id.
	req := tcsms.NewDescribeSmsSignListRequest()
	req.International = common.Uint64Ptr(0)
	req.SignIdSet = common.Uint64Ptrs([]uint64{firstSignID + 1})
	resp, err := c.DescribeSmsSignList(req)
	require.NoError(t, err)
	require.Len(t, resp.Response.DescribeSignListStatusSet, 1)
	require.Equal(t, "乙", *resp.Response.DescribeSignListStatusSet[0].SignName)

	require.Error(t, s.SetSignStatus("无此签名", StatusApproved, ""), "only known signatures")
}

// A signature or template that is not approved cannot send, as on
// Tencent's side; approving it again lets it.
func TestSendNeedsApproval(t *testing.T) {
	tests := []struct {
		name string
		set  func(s *Server) error
		code string
	}{
		{"sign under review", func(s *Server) error { return s.SetSignStatus(DefaultSignName, StatusUnderReview, "") }, "FailedOperation.SignatureIncorrectOrUnapproved"},
		{"sign rejected", func(s *Server) error { return s.SetSignStatus(DefaultSignName, StatusRejected, "no") }, "FailedOperation.SignatureIncorrectOrUnapproved"},
		{"template pending", func(s *Server) error { return s.SetTemplateStatus(DefaultTemplateID, StatusApprovedPending, "") }, "FailedOperation.TemplateIncorrectOrUnapproved"},
		{"template rejected", func(s *Server) error { return s.SetTemplateStatus(DefaultTemplateID, StatusRejected, "no") }, "FailedOperation.TemplateIncorrectOrUnapproved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			c := serve(t, s, DefaultSecretID, DefaultSecretKey)
			require.NoError(t, tt.set(s))
			_, err := c.SendSms(request("+8613800000000"))
			require.Equal(t, tt.code, sdkCode(t, err))
			require.Empty(t, s.Delivered("+8613800000000"))

			require.NoError(t, s.SetSignStatus(DefaultSignName, StatusApproved, ""))
			require.NoError(t, s.SetTemplateStatus(DefaultTemplateID, StatusApproved, ""))
			_, err = c.SendSms(request("+8613800000000"))
			require.NoError(t, err)
			require.Len(t, s.Delivered("+8613800000000"), 1)
		})
	}
}

// The describe actions are authenticated and validated like SendSms.
func TestDescribeRefusals(t *testing.T) {
	tests := []struct {
		name      string
		secretKey string
		call      func(c *tcsms.Client) error
		code      string
	}{
		{"wrong secret key", "not-the-key", func(c *tcsms.Client) error {
			_, err := c.DescribeSmsTemplateList(templateRequest(100001))
			return err
		}, "AuthFailure.SignatureFailure"},
		{"no International", DefaultSecretKey, func(c *tcsms.Client) error {
			req := templateRequest(100001)
			req.International = nil
			_, err := c.DescribeSmsTemplateList(req)
			return err
		}, "MissingParameter"},
		{"Limit above 100", DefaultSecretKey, func(c *tcsms.Client) error {
			_, err := c.DescribeSmsSignList(signRequest(101, 0))
			return err
		}, "InvalidParameterValue.LimitVerifyFail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(t, New(Options{}), DefaultSecretID, tt.secretKey)
			require.Equal(t, tt.code, sdkCode(t, tt.call(c)))
		})
	}

	// A forced request-level error (FailRequest) applies to them too.
	s := New(Options{})
	c := serve(t, s, DefaultSecretID, DefaultSecretKey)
	s.FailRequest("FailedOperation.NotEnterpriseCertification", "")
	_, err := c.DescribeSmsSignList(signRequest(10, 0))
	require.Equal(t, "FailedOperation.NotEnterpriseCertification", sdkCode(t, err))
}

// A field of the other action is refused, as an unknown one is, and so
// are a bad body and a bad International.
func TestDescribeBodyChecks(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	tests := []struct{ action, body, want string }{
		{"DescribeSmsSignList", `{"International":0,"Limit":10}`, ""},
		{"DescribeSmsSignList", `{"International":0,"TemplateIdSet":[100001]}`, "UnknownParameter"},
		{"DescribeSmsTemplateList", `{"International":0,"SignIdSet":[1]}`, "UnknownParameter"},
		{"DescribeSmsTemplateList", `{"International":0,"TemplateIds":[1]}`, "UnknownParameter"},
		{"DescribeSmsTemplateList", `{"International":2,"TemplateIdSet":[100001]}`, "InvalidParameterValue"},
		{"DescribeSmsTemplateList", `{"International":0,"TemplateIdSet":["100001"]}`, "InvalidParameter"},
		{"DescribeSmsTemplateList", `{`, "FailedOperation.JsonParseFail"},
	}
	for _, tt := range tests {
		t.Run(tt.action+" "+tt.body, func(t *testing.T) {
			require.Equal(t, tt.want, errorCode(signedPost(t, srv.URL, tt.body, map[string]string{"X-TC-Action": tt.action})))
		})
	}
}
