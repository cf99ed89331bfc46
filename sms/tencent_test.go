package sms_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/logx"
	"wxcas/sms"
	"wxcas/sms/tencentfake"
)

const (
	testPhone = "+8613800000000"
	testCode  = "493817"
)

var testMessage = sms.Message{Phone: testPhone, Code: testCode, TTL: 5 * time.Minute}

// fakeEnv is a tencentfake.Server behind httptest with a matching config.
type fakeEnv struct {
	fake *tencentfake.Server
	srv  *httptest.Server
	cfg  sms.TencentConfig
}

// newFake starts a fake; wrap (optional) wraps its handler.
func newFake(t *testing.T, opts tencentfake.Options, wrap func(http.Handler) http.Handler) *fakeEnv {
	t.Helper()
	fake := tencentfake.New(opts)
	var h http.Handler = fake
	if wrap != nil {
		h = wrap(fake)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fakeEnv{fake: fake, srv: srv, cfg: sms.TencentConfig{
		SecretID:       tencentfake.DefaultSecretID,
		SecretKey:      tencentfake.DefaultSecretKey,
		Region:         "ap-guangzhou",
		SdkAppID:       tencentfake.DefaultSdkAppID,
		SignName:       tencentfake.DefaultSignName,
		TemplateID:     tencentfake.DefaultTemplateID,
		TemplateParams: []string{sms.ParamCode, sms.ParamTTLMinutes},
		Endpoint:       strings.TrimPrefix(srv.URL, "http://"),
		Scheme:         "HTTP",
		Timeout:        5 * time.Second,
	}}
}

func (e *fakeEnv) sender(t *testing.T, mutate func(*sms.TencentConfig)) *sms.Tencent {
	t.Helper()
	cfg := e.cfg
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := sms.NewTencent(cfg)
	require.NoError(t, err)
	return s
}

// requireClean checks that err's text keeps the code, the secret and the
// full phone out.
func requireClean(t *testing.T, err error, m sms.Message) {
	t.Helper()
	text := err.Error()
	for _, secret := range []string{m.Code, tencentfake.DefaultSecretKey, m.Phone,
		strings.TrimPrefix(m.Phone, "+"), strings.TrimPrefix(m.Phone, "+86")} {
		if secret != "" {
			require.NotContains(t, text, secret)
		}
	}
}

var _ sms.Sender = (*sms.Tencent)(nil)

func TestTencentSendSuccess(t *testing.T) {
	env := newFake(t, tencentfake.Options{}, nil)
	s := env.sender(t, nil)

	r, err := s.Send(context.Background(), testMessage)
	require.NoError(t, err)
	require.Equal(t, "tencent", r.Provider)
	require.NotEmpty(t, r.RequestID)
	require.Equal(t, uint64(1), r.Fee)

	got := env.fake.Delivered(testPhone)
	require.Len(t, got, 1)
	require.Equal(t, r.SerialNo, got[0].SerialNo)
	require.Equal(t, []string{testCode, "5"}, got[0].Params)
	require.Equal(t, tencentfake.DefaultTemplateID, got[0].TemplateID)
	require.Equal(t, "【wxcas】您的验证码是493817，5分钟内有效，如非本人操作，请忽略本短信。", got[0].Text)
}

func TestTencentTemplateParamOrder(t *testing.T) {
	env := newFake(t, tencentfake.Options{Templates: map[string]tencentfake.Template{
		"200002": {Text: "{2} is your code; it expires in {1} minutes.", VerificationCode: true},
		"200003": {Text: "Your code is {1}.", VerificationCode: true},
	}}, nil)

	s := env.sender(t, func(c *sms.TencentConfig) {
		c.TemplateID = "200002"
		c.TemplateParams = []string{sms.ParamTTLMinutes, sms.ParamCode}
	})
	_, err := s.Send(context.Background(), sms.Message{Phone: testPhone, Code: testCode, TTL: 4*time.Minute + 30*time.Second})
	require.NoError(t, err)
	got := env.fake.Delivered(testPhone)
	require.Len(t, got, 1)
	require.Equal(t, []string{"5", testCode}, got[0].Params, "TTL rounds up to whole minutes")
	require.Equal(t, "【wxcas】493817 is your code; it expires in 5 minutes.", got[0].Text)

	// A template without the TTL does not need one.
	s = env.sender(t, func(c *sms.TencentConfig) { c.TemplateID = "200003"; c.TemplateParams = []string{sms.ParamCode} })
	_, err = s.Send(context.Background(), sms.Message{Phone: "+8613900000000", Code: testCode})
	require.NoError(t, err)
	require.Equal(t, []string{testCode}, env.fake.Delivered("+8613900000000")[0].Params)
}

func TestTencentOverTLSWithTransport(t *testing.T) {
	srv := httptest.NewTLSServer(tencentfake.New(tencentfake.Options{}))
	defer srv.Close()
	s, err := sms.NewTencent(sms.TencentConfig{
		SecretID: tencentfake.DefaultSecretID, SecretKey: tencentfake.DefaultSecretKey, Region: "ap-guangzhou",
		SdkAppID: tencentfake.DefaultSdkAppID, SignName: tencentfake.DefaultSignName, TemplateID: tencentfake.DefaultTemplateID,
		TemplateParams: []string{sms.ParamCode, sms.ParamTTLMinutes},
		Endpoint:       strings.TrimPrefix(srv.URL, "https://"), // Scheme stays HTTPS
		HTTPTransport:  srv.Client().Transport,
	})
	require.NoError(t, err)
	_, err = s.Send(context.Background(), testMessage)
	require.NoError(t, err)
}

func TestTencentPerNumberFailures(t *testing.T) {
	// 23:00 in Beijing: daily limits reset in an hour.
	lateEvening := time.Date(2026, 1, 2, 23, 0, 0, 0, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name       string
		opts       tencentfake.Options
		setup      func(*tencentfake.Server)
		phone      string
		prime      bool // send once successfully first
		kind       error
		code       string
		retryable  bool
		retryAfter time.Duration
	}{
		{name: "30 s limit", opts: tencentfake.Options{Limits: tencentfake.Limits{ThirtySecond: 1}}, prime: true,
			kind: sms.ErrRateLimited, code: "LimitExceeded.PhoneNumberThirtySecondLimit", retryable: true, retryAfter: 30 * time.Second},
		{name: "hourly limit", opts: tencentfake.Options{Limits: tencentfake.Limits{OneHour: 1}}, prime: true,
			kind: sms.ErrRateLimited, code: "LimitExceeded.PhoneNumberOneHourLimit", retryable: true, retryAfter: time.Hour},
		{name: "daily limit", opts: tencentfake.Options{Limits: tencentfake.Limits{Daily: 1}}, prime: true,
			kind: sms.ErrRateLimited, code: "LimitExceeded.PhoneNumberDailyLimit", retryable: true, retryAfter: time.Hour},
		{name: "same content", opts: tencentfake.Options{Limits: tencentfake.Limits{SameContentDaily: 1}}, prime: true,
			kind: sms.ErrRateLimited, code: "LimitExceeded.PhoneNumberSameContentDailyLimit", retryable: true, retryAfter: time.Hour},
		{name: "frequency policy", setup: func(s *tencentfake.Server) { s.FailNumber(testPhone, "LimitExceeded.DeliveryFrequencyLimit") },
			kind: sms.ErrRateLimited, code: "LimitExceeded.DeliveryFrequencyLimit", retryable: true},
		{name: "incorrect number", phone: "+8612800000000",
			kind: sms.ErrInvalidPhone, code: "InvalidParameterValue.IncorrectPhoneNumber"},
		{name: "international number, mainland template", phone: "+12025550123",
			kind: sms.ErrInvalidPhone, code: "UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone"},
		{name: "blacklist", setup: func(s *tencentfake.Server) { s.FailNumber(testPhone, "FailedOperation.PhoneNumberInBlacklist") },
			kind: sms.ErrInvalidPhone, code: "FailedOperation.PhoneNumberInBlacklist"},
		{name: "sign unapproved", setup: func(s *tencentfake.Server) { s.FailNumber(testPhone, "FailedOperation.SignatureIncorrectOrUnapproved") },
			kind: sms.ErrConfig, code: "FailedOperation.SignatureIncorrectOrUnapproved"},
		{name: "template unapproved", setup: func(s *tencentfake.Server) { s.FailNumber(testPhone, "FailedOperation.TemplateIncorrectOrUnapproved") },
			kind: sms.ErrConfig, code: "FailedOperation.TemplateIncorrectOrUnapproved"},
		{name: "package balance", setup: func(s *tencentfake.Server) {
			s.FailNumber(testPhone, "FailedOperation.InsufficientBalanceInSmsPackage")
		},
			kind: sms.ErrQuota, code: "FailedOperation.InsufficientBalanceInSmsPackage"},
		{name: "unknown code", setup: func(s *tencentfake.Server) { s.FailNumber(testPhone, "FailedOperation.SomethingNew") },
			kind: sms.ErrProvider, code: "FailedOperation.SomethingNew"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newFake(t, tt.opts, nil)
			if tt.setup != nil {
				tt.setup(env.fake)
			}
			s := env.sender(t, func(c *sms.TencentConfig) { c.Now = func() time.Time { return lateEvening } })
			m := testMessage
			if tt.phone != "" {
				m.Phone = tt.phone
			}
			if tt.prime {
				_, err := s.Send(context.Background(), m)
				require.NoError(t, err)
			}
			before := len(env.fake.Delivered(m.Phone))

			r, err := s.Send(context.Background(), m)
			require.Error(t, err)
			require.Zero(t, r)
			require.ErrorIs(t, err, tt.kind)
			var e *sms.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.code, e.Code)
			require.Equal(t, tt.retryable, e.Retryable)
			require.Equal(t, tt.retryAfter, e.RetryAfter)
			require.Equal(t, "tencent", e.Provider)
			require.Equal(t, logx.MaskPhone(m.Phone), e.Phone)
			require.NotEmpty(t, e.RequestID)
			require.Contains(t, err.Error(), tt.code)
			require.Contains(t, err.Error(), logx.MaskPhone(m.Phone))
			requireClean(t, err, m)
			require.Len(t, env.fake.Delivered(m.Phone), before, "nothing was delivered")
		})
	}
}

func TestTencentRequestLevelErrors(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(*sms.TencentConfig)
		setup      func(*tencentfake.Server)
		msg        *sms.Message
		kind       error
		code       string
		retryable  bool
		retryAfter time.Duration
	}{
		{name: "bad secret key", mutate: func(c *sms.TencentConfig) { c.SecretKey = "wrongwrongwrongwrong" },
			kind: sms.ErrConfig, code: "AuthFailure.SignatureFailure"},
		{name: "unknown secret id", mutate: func(c *sms.TencentConfig) { c.SecretID = "AKIDunknown" },
			kind: sms.ErrConfig, code: "AuthFailure.SecretIdNotFound"},
		{name: "unknown app", mutate: func(c *sms.TencentConfig) { c.SdkAppID = "1400999999" },
			kind: sms.ErrConfig, code: "InvalidParameterValue.SdkAppIdNotExist"},
		{name: "sign not approved", mutate: func(c *sms.TencentConfig) { c.SignName = "其他" },
			kind: sms.ErrConfig, code: "FailedOperation.SignatureIncorrectOrUnapproved"},
		{name: "template not approved", mutate: func(c *sms.TencentConfig) { c.TemplateID = "999999" },
			kind: sms.ErrConfig, code: "FailedOperation.TemplateIncorrectOrUnapproved"},
		{name: "param count mismatch", mutate: func(c *sms.TencentConfig) { c.TemplateParams = []string{sms.ParamCode} },
			kind: sms.ErrConfig, code: "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"},
		{name: "code not digits", msg: &sms.Message{Phone: testPhone, Code: "49a817", TTL: time.Minute},
			kind: sms.ErrConfig, code: "InvalidParameterValue.TemplateParameterFormatError"},
		{name: "template unapproved, request level", setup: func(s *tencentfake.Server) { s.FailRequest("FailedOperation.TemplateUnapprovedOrNotExist", "") },
			kind: sms.ErrConfig, code: "FailedOperation.TemplateUnapprovedOrNotExist"},
		{name: "30 s limit, request level", setup: func(s *tencentfake.Server) { s.FailRequest("LimitExceeded.PhoneNumberThirtySecondLimit", "") },
			kind: sms.ErrRateLimited, code: "LimitExceeded.PhoneNumberThirtySecondLimit", retryable: true, retryAfter: 30 * time.Second},
		{name: "package balance", setup: func(s *tencentfake.Server) { s.FailRequest("FailedOperation.InsufficientBalanceInSmsPackage", "") },
			kind: sms.ErrQuota, code: "FailedOperation.InsufficientBalanceInSmsPackage"},
		{name: "arrears", setup: func(s *tencentfake.Server) { s.FailRequest("UnauthorizedOperation.ServiceSuspendDueToArrears", "") },
			kind: sms.ErrQuota, code: "UnauthorizedOperation.ServiceSuspendDueToArrears"},
		{name: "app daily limit", setup: func(s *tencentfake.Server) { s.FailRequest("LimitExceeded.AppDailyLimit", "") },
			kind: sms.ErrQuota, code: "LimitExceeded.AppDailyLimit", retryable: true, retryAfter: 16 * time.Hour},
		{name: "internal timeout", setup: func(s *tencentfake.Server) { s.FailRequest("InternalError.Timeout", "") },
			kind: sms.ErrProvider, code: "InternalError.Timeout", retryable: true},
		{name: "api rate limit", setup: func(s *tencentfake.Server) { s.FailRequest("RequestLimitExceeded", "") },
			kind: sms.ErrProvider, code: "RequestLimitExceeded", retryable: true, retryAfter: time.Second},
	}
	// 08:00 in Beijing: 16 h to midnight.
	morning := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newFake(t, tencentfake.Options{}, nil)
			if tt.setup != nil {
				tt.setup(env.fake)
			}
			s := env.sender(t, func(c *sms.TencentConfig) {
				c.Now = func() time.Time { return morning }
				if tt.mutate != nil {
					tt.mutate(c)
				}
			})
			m := testMessage
			if tt.msg != nil {
				m = *tt.msg
			}
			_, err := s.Send(context.Background(), m)
			require.ErrorIs(t, err, tt.kind)
			var e *sms.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.code, e.Code)
			require.Equal(t, tt.retryable, e.Retryable)
			require.Equal(t, tt.retryAfter, e.RetryAfter)
			require.NotEmpty(t, e.RequestID)
			requireClean(t, err, m)
			require.Equal(t, 1, env.fake.Requests())
			require.Empty(t, env.fake.Delivered(m.Phone))
		})
	}
}

func TestTencentRedactsProviderMessages(t *testing.T) {
	env := newFake(t, tencentfake.Options{}, nil)
	env.fake.FailRequest("InternalError.OtherError",
		"failed for +8613800000000 / 8613800000000 / 13800000000 with params [493817] key "+tencentfake.DefaultSecretKey)
	_, err := env.sender(t, nil).Send(context.Background(), testMessage)
	require.ErrorIs(t, err, sms.ErrProvider)
	requireClean(t, err, testMessage)
	require.Contains(t, err.Error(), "failed for +86138****0000")
	require.Contains(t, err.Error(), "[redacted]")
}

func TestTencentUntrustworthyResponses(t *testing.T) {
	other := func(st []tencentfake.SendStatus) []tencentfake.SendStatus {
		st[0].PhoneNumber = "+8613911112222"
		return st
	}
	tests := []struct {
		name string
		hook func([]tencentfake.SendStatus) []tencentfake.SendStatus
		want string
	}{
		{"empty SendStatusSet", func([]tencentfake.SendStatus) []tencentfake.SendStatus { return nil }, "0 SendStatus entries"},
		{"two entries", func(st []tencentfake.SendStatus) []tencentfake.SendStatus { return append(st, st[0]) }, "2 SendStatus entries"},
		{"another number", other, "another number (+86139****2222)"},
		{"empty code", func(st []tencentfake.SendStatus) []tencentfake.SendStatus { st[0].Code = ""; return st }, "(empty)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newFake(t, tencentfake.Options{}, nil)
			env.fake.SetResponseHook(tt.hook)
			_, err := env.sender(t, nil).Send(context.Background(), testMessage)
			require.ErrorIs(t, err, sms.ErrProvider)
			require.Contains(t, err.Error(), tt.want)
			var e *sms.Error
			require.ErrorAs(t, err, &e)
			require.False(t, e.Retryable, "the message may have gone out")
			requireClean(t, err, testMessage)
		})
	}
}

func TestTencentBrokenHTTP(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		code   string
	}{
		{"502 from a proxy", http.StatusBadGateway, "<html>upstream +8613800000000 493817</html>", "ClientError.ParseJsonError"},
		{"502 with JSON", http.StatusBadGateway, `{"html":"<html>+8613800000000 493817"}`, "ClientError.HttpStatusCodeError"},
		{"200, not JSON", http.StatusOK, "<html>+8613800000000 493817</html>", "ClientError.ParseJsonError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newFake(t, tencentfake.Options{}, func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(tt.status)
					_, _ = w.Write([]byte(tt.body))
				})
			})
			_, err := env.sender(t, nil).Send(context.Background(), testMessage)
			require.ErrorIs(t, err, sms.ErrProvider)
			var e *sms.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.code, e.Code)
			require.NotContains(t, err.Error(), "<html>")
			requireClean(t, err, testMessage)
		})
	}
}

func TestTencentTransport(t *testing.T) {
	// hang answers nothing until the client goes away. It reads the body
	// first: only then does the server notice a closed connection.
	hang := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		})
	}
	t.Run("sender timeout", func(t *testing.T) {
		env := newFake(t, tencentfake.Options{}, hang)
		s := env.sender(t, func(c *sms.TencentConfig) { c.Timeout = 100 * time.Millisecond })
		start := time.Now()
		_, err := s.Send(context.Background(), testMessage)
		require.Less(t, time.Since(start), 2*time.Second)
		require.ErrorIs(t, err, sms.ErrTransport)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var e *sms.Error
		require.ErrorAs(t, err, &e)
		require.True(t, e.Retryable)
		requireClean(t, err, testMessage)
	})
	t.Run("caller deadline", func(t *testing.T) {
		env := newFake(t, tencentfake.Options{}, hang)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := env.sender(t, nil).Send(ctx, testMessage)
		require.Less(t, time.Since(start), 2*time.Second)
		require.ErrorIs(t, err, sms.ErrTransport)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("caller cancels", func(t *testing.T) {
		env := newFake(t, tencentfake.Options{}, hang)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := env.sender(t, nil).Send(ctx, testMessage)
		require.ErrorIs(t, err, sms.ErrTransport)
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("connection refused", func(t *testing.T) {
		env := newFake(t, tencentfake.Options{}, nil)
		s := env.sender(t, nil)
		env.srv.Close()
		_, err := s.Send(context.Background(), testMessage)
		require.ErrorIs(t, err, sms.ErrTransport)
		var e *sms.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, "ClientError.NetworkError", e.Code)
		require.True(t, e.Retryable)
		requireClean(t, err, testMessage)
	})
}

func TestTencentRejectsBadMessagesLocally(t *testing.T) {
	tests := []struct {
		name string
		m    sms.Message
		kind error
	}{
		{"not E.164", sms.Message{Phone: "13800000000", Code: testCode, TTL: time.Minute}, sms.ErrInvalidPhone},
		{"empty phone", sms.Message{Code: testCode, TTL: time.Minute}, sms.ErrInvalidPhone},
		{"empty code", sms.Message{Phone: testPhone, TTL: time.Minute}, sms.ErrInvalidMessage},
		{"no TTL for a TTL template", sms.Message{Phone: testPhone, Code: testCode}, sms.ErrInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newFake(t, tencentfake.Options{}, nil)
			_, err := env.sender(t, nil).Send(context.Background(), tt.m)
			require.ErrorIs(t, err, tt.kind)
			requireClean(t, err, tt.m)
			require.Zero(t, env.fake.Requests())
		})
	}
}

func TestTencentConfigValidate(t *testing.T) {
	valid := sms.TencentConfig{
		SecretID: "AKIDx", SecretKey: "topsecretkey", Region: "ap-guangzhou", SdkAppID: "1400006666",
		SignName: "腾讯云", TemplateID: "449739", TemplateParams: []string{"code", "ttl_minutes"},
	}
	require.Empty(t, valid.Validate())

	tests := []struct {
		name   string
		mutate func(*sms.TencentConfig)
		want   []string // substrings, one per expected problem
	}{
		{"empty", func(c *sms.TencentConfig) { *c = sms.TencentConfig{} },
			[]string{"SecretID", "SecretKey", "Region", "SdkAppID", "SignName", "TemplateID", "TemplateParams"}},
		{"bad region", func(c *sms.TencentConfig) { c.Region = "Guangzhou" }, []string{"Region"}},
		{"app id not numeric", func(c *sms.TencentConfig) { c.SdkAppID = "app-1" }, []string{"SdkAppID"}},
		{"template id not numeric", func(c *sms.TencentConfig) { c.TemplateID = "tpl" }, []string{"TemplateID"}},
		{"sign padded", func(c *sms.TencentConfig) { c.SignName = " wxcas" }, []string{"SignName"}},
		{"unknown param", func(c *sms.TencentConfig) { c.TemplateParams = []string{"code", "name"} }, []string{`TemplateParams[1]: "name"`}},
		{"code twice", func(c *sms.TencentConfig) { c.TemplateParams = []string{"code", "code"} }, []string{"exactly once"}},
		{"no code", func(c *sms.TencentConfig) { c.TemplateParams = []string{"ttl_minutes"} }, []string{"exactly once"}},
		{"endpoint is a URL", func(c *sms.TencentConfig) { c.Endpoint = "http://127.0.0.1:8080" }, []string{"Endpoint"}},
		{"endpoint with path", func(c *sms.TencentConfig) { c.Endpoint = "127.0.0.1:8080/sms" }, []string{"Endpoint"}},
		{"endpoint bad port", func(c *sms.TencentConfig) { c.Endpoint = "127.0.0.1:99999" }, []string{"Endpoint"}},
		{"scheme", func(c *sms.TencentConfig) { c.Scheme = "ftp" }, []string{"Scheme"}},
		{"HTTP to the cloud", func(c *sms.TencentConfig) { c.Scheme = "http" }, []string{"Scheme: HTTP needs an Endpoint"}},
		{"negative timeout", func(c *sms.TencentConfig) { c.Timeout = -time.Second }, []string{"Timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.mutate(&c)
			problems := c.Validate()
			require.Len(t, problems, len(tt.want), "%q", problems)
			for i, w := range tt.want {
				require.Contains(t, problems[i], w)
			}
			_, err := sms.NewTencent(c)
			require.ErrorIs(t, err, sms.ErrConfig)
			require.NotContains(t, err.Error(), "topsecretkey")
		})
	}

	ok := valid
	ok.Endpoint, ok.Scheme = "127.0.0.1:8080", "HTTP"
	require.Empty(t, ok.Validate())
	ok.Endpoint = "sms.tencentcloudapi.com"
	ok.Scheme = ""
	require.Empty(t, ok.Validate())
}

func TestErrorsAreDistinctKinds(t *testing.T) {
	kinds := []error{sms.ErrRateLimited, sms.ErrInvalidPhone, sms.ErrConfig, sms.ErrQuota, sms.ErrProvider, sms.ErrTransport, sms.ErrInvalidMessage}
	for i, k := range kinds {
		err := error(&sms.Error{Kind: k})
		for j, other := range kinds {
			require.Equal(t, i == j, errors.Is(err, other), "%v vs %v", k, other)
		}
	}
}
