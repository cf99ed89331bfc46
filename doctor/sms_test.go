package doctor_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/config"
	"wxcas/doctor"
	"wxcas/sms/tencentfake"
)

func TestSMS(t *testing.T) {
	env := prodEnv()
	id, key := env["TC_ID"], env["TC_KEY"]
	type result struct {
		status doctor.Status
		detail string
		fix    string
	}
	pass := func(detail string) result { return result{doctor.StatusPass, detail, ""} }
	authFail := result{doctor.StatusFail, "AuthFailure.SignatureFailure", "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY"}
	tests := []struct {
		name      string
		opts      tencentfake.Options // Credentials and Now are filled in
		fake      func(t *testing.T, s *tencentfake.Server)
		secretID  string // default id
		secretKey string // default key
		skew      time.Duration
		template  string   // default DefaultTemplateID
		params    []string // default code, ttl_minutes
		sign      string   // default DefaultSignName
		wantTpl   result
		wantSign  result
	}{
		{name: "approved", wantTpl: pass(`template 100001 "template 100001" is approved; its 2 variable(s) are template_params code, ttl_minutes`),
			wantSign: pass("signature 【wxcas】 is approved")},
		{name: "wrong secret key", secretKey: "not-the-secret-key", wantTpl: authFail, wantSign: authFail},
		{name: "unknown secret id", secretID: "AKIDunknown", wantTpl: result{doctor.StatusFail, "AuthFailure.SecretIdNotFound", "API key"},
			wantSign: result{doctor.StatusFail, "AuthFailure.SecretIdNotFound", "TENCENTCLOUD_SECRET_KEY"}},
		{name: "clock 10 minutes off", skew: 10 * time.Minute, wantTpl: result{doctor.StatusFail, "AuthFailure.SignatureExpire", "NTP"},
			wantSign: result{doctor.StatusFail, "AuthFailure.SignatureExpire", "NTP"}},
		{name: "unknown template", template: "424242", wantTpl: result{doctor.StatusFail, "no mainland SMS template 424242", "sms.tencent.template_id"},
			wantSign: pass("approved")},
		{name: "template id not a number", template: "verify", wantTpl: result{doctor.StatusFail, `"verify" is not a template id`, "sms.tencent.template_id"},
			wantSign: pass("approved")},
		{name: "template under review", fake: func(t *testing.T, s *tencentfake.Server) {
			require.NoError(t, s.SetTemplateStatus(tencentfake.DefaultTemplateID, tencentfake.StatusUnderReview, ""))
		}, wantTpl: result{doctor.StatusFail, "still under review (status 1)", "正文模板管理"}, wantSign: pass("approved")},
		{name: "template rejected", fake: func(t *testing.T, s *tencentfake.Server) {
			require.NoError(t, s.SetTemplateStatus(tencentfake.DefaultTemplateID, tencentfake.StatusRejected, "变量须说明用途"))
		}, wantTpl: result{doctor.StatusFail, "was rejected (status -1): 变量须说明用途", "approved template"}, wantSign: pass("approved")},
		{name: "template takes other variables", params: []string{"code"},
			wantTpl:  result{doctor.StatusFail, "takes 2 variable(s) but sms.tencent.template_params names 1 (code)", "{1}…{2}"},
			wantSign: pass("approved")},
		{name: "unknown signature", sign: "某大学", wantTpl: pass("approved"),
			wantSign: result{doctor.StatusFail, "no mainland SMS signature 【某大学】", "sms.sign_name"}},
		{name: "signature under review", fake: func(t *testing.T, s *tencentfake.Server) {
			require.NoError(t, s.SetSignStatus(tencentfake.DefaultSignName, tencentfake.StatusUnderReview, ""))
		}, wantTpl: pass("approved"), wantSign: result{doctor.StatusFail, "signature 【wxcas】 is still under review", "签名管理"}},
		{name: "signature approved, not yet in effect", fake: func(t *testing.T, s *tencentfake.Server) {
			require.NoError(t, s.SetSignStatus(tencentfake.DefaultSignName, tencentfake.StatusApprovedPending, ""))
		}, wantTpl: pass("approved"), wantSign: result{doctor.StatusFail, "not in effect yet (status 2)", "签名管理"}},
		{name: "the signature on a later page", opts: tencentfake.Options{SignNames: manySigns(250, "wxcas")},
			wantTpl: pass("approved"), wantSign: pass("signature 【wxcas】 is approved")},
		{name: "an individually certified account", fake: func(t *testing.T, s *tencentfake.Server) {
			s.FailRequest("FailedOperation.NotEnterpriseCertification", "")
		}, wantTpl: result{doctor.StatusSkip, "individually certified", ""}, wantSign: result{doctor.StatusSkip, "check them in the console", ""}},
		{name: "no read permission", fake: func(t *testing.T, s *tencentfake.Server) {
			s.FailRequest("UnauthorizedOperation.RequestPermissionDeny", "")
		}, wantTpl: result{doctor.StatusFail, "RequestPermissionDeny", "sms:DescribeSmsTemplateList"},
			wantSign: result{doctor.StatusFail, "RequestPermissionDeny", "CAM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Credentials = map[string]string{id: key}
			opts.Now = func() time.Time { return time.Now().Add(tt.skew) }
			fake := tencentfake.New(opts)
			if tt.fake != nil {
				tt.fake(t, fake)
			}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			api := smsClient(t, strings.TrimPrefix(srv.URL, "http://"), cmp.Or(tt.secretID, id), cmp.Or(tt.secretKey, key))
			params := tt.params
			if params == nil {
				params = []string{"code", "ttl_minutes"}
			}
			ctx := context.Background()
			for _, c := range []struct {
				check doctor.Check
				want  result
			}{
				{doctor.SMSTemplate{API: api, TemplateID: cmp.Or(tt.template, tencentfake.DefaultTemplateID), Params: params}, tt.wantTpl},
				{doctor.SMSSign{API: api, SignName: cmp.Or(tt.sign, tencentfake.DefaultSignName)}, tt.wantSign},
			} {
				r := c.check.Run(ctx)
				require.Equal(t, c.want.status, r.Status, "%s: %s", c.check.Name(), r.Detail)
				require.Contains(t, r.Detail, c.want.detail, c.check.Name())
				require.Contains(t, r.Fix, c.want.fix, c.check.Name())
				require.NotContains(t, r.Detail+r.Fix, key, "no secret in the output")
			}
			require.Empty(t, fake.Delivered("+8613800138000"), "nothing is sent")
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(tencentfake.New(tencentfake.Options{}))
		srv.Close()
		r := doctor.SMSTemplate{API: smsClient(t, strings.TrimPrefix(srv.URL, "http://"), id, key), TemplateID: "100001"}.Run(context.Background())
		require.Equal(t, doctor.StatusFail, r.Status)
		require.Contains(t, r.Fix, "reaches Tencent Cloud's API")
	})
}

func smsClient(t *testing.T, host, id, key string) doctor.SMSAPI {
	t.Helper()
	c, err := doctor.NewSMSClient(config.TencentSMS{SecretID: id, SecretKey: key, Region: "ap-guangzhou", Endpoint: host, Timeout: 5 * time.Second}, "HTTP", nil)
	require.NoError(t, err)
	return c
}

// manySigns is n signatures, the last one named last.
func manySigns(n int, last string) []string {
	out := make([]string, 0, n)
	for i := range n - 1 {
		out = append(out, fmt.Sprintf("签名%d", i))
	}
	return append(out, last)
}
