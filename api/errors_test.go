package api_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/api"
	"wxcas/login"
	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/store"
	"wxcas/store/storetest"
	"wxcas/wechat/emulator"
)

func TestLoginErrors(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t), envOpts{})

	t.Run("unknown appid", func(t *testing.T) {
		r := e.post("/login/wechat", api.LoginRequest{AppID: "wxnotconfigured01", Code: "x"})
		requireError(t, r, http.StatusBadRequest, api.CodeUnknownApp)
	})
	t.Run("a website app has no API login", func(t *testing.T) {
		r := e.post("/login/wechat", api.LoginRequest{AppID: web, Code: "x"})
		requireError(t, r, http.StatusBadRequest, api.CodeUnsupportedAppKind)
	})
	t.Run("bad code", func(t *testing.T) {
		requireError(t, e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: "bogus"}), http.StatusBadRequest, api.CodeInvalidWeChatCode)
		requireError(t, e.post("/login/wechat", api.LoginRequest{AppID: mobile, Code: "bogus"}), http.StatusBadRequest, api.CodeInvalidWeChatCode)
		// A mobile app code sent as a mini program's (WeChat says 40029).
		requireError(t, e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: e.appCode("alice")}), http.StatusBadRequest, api.CodeInvalidWeChatCode)
	})
	t.Run("expired code", func(t *testing.T) {
		code := e.jsCode("alice")
		e.clock.Advance(emulator.CodeTTLMiniProgram)
		requireError(t, e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: code}), http.StatusBadRequest, api.CodeInvalidWeChatCode)
	})
	t.Run("used code", func(t *testing.T) {
		code := e.jsCode("alice")
		e.login(mini, code, api.StatusBindingRequired)
		requireError(t, e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: code}), http.StatusBadRequest, api.CodeWeChatCodeUsed)
		code = e.appCode("alice")
		e.login(mobile, code, api.StatusBindingRequired)
		requireError(t, e.post("/login/wechat", api.LoginRequest{AppID: mobile, Code: code}), http.StatusBadRequest, api.CodeWeChatCodeUsed)
	})
	t.Run("high-risk user blocked by WeChat", func(t *testing.T) {
		requireError(t, e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: e.jsCode("risky")}), http.StatusForbidden, api.CodeWeChatLoginBlocked)
	})
	t.Run("WeChat unavailable", func(t *testing.T) {
		e.em.InjectFault(emulator.PathJSCode2Session, emulator.FaultBusy)
		requireError(t, e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: e.jsCode("alice")}), http.StatusBadGateway, api.CodeWeChatUnavailable)
		e.em.InjectFault(emulator.PathAccessToken, emulator.FaultDrop)
		requireError(t, e.post("/login/wechat", api.LoginRequest{AppID: mobile, Code: e.appCode("alice")}), http.StatusBadGateway, api.CodeWeChatUnavailable)
	})
	t.Run("the mobile app works without a profile", func(t *testing.T) {
		e.em.InjectFault(emulator.PathUserInfo, emulator.FaultBusy, emulator.FaultBusy, emulator.FaultBusy)
		e.login(mobile, e.appCode("nadia"), api.StatusBindingRequired)
	})
	t.Run("an openid sent by the client is refused, not trusted", func(t *testing.T) {
		r := e.send(http.MethodPost, "/api/v1/login/wechat", "application/json",
			[]byte(`{"appid":"`+mini+`","code":"x","openid":"o-forged","unionid":"u-forged"}`))
		requireError(t, r, http.StatusBadRequest, api.CodeInvalidRequest)
		require.Contains(t, r.Err.Detail, `unknown field "openid"`)
	})
}

func TestRequestErrors(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t), envOpts{})
	valid := []byte(`{"appid":"` + mini + `","code":"x"}`)
	cases := []struct {
		name, method, path, contentType, body string
		status                                int
		code                                  string
	}{
		{"no content type", http.MethodPost, "/api/v1/login/wechat", "", string(valid), 415, api.CodeUnsupportedMediaType},
		{"form body", http.MethodPost, "/api/v1/login/wechat", "application/x-www-form-urlencoded", "appid=x&code=y", 415, api.CodeUnsupportedMediaType},
		{"text body", http.MethodPost, "/api/v1/bind/sms/send", "text/plain", string(valid), 415, api.CodeUnsupportedMediaType},
		{"non-UTF-8 charset", http.MethodPost, "/api/v1/login/wechat", "application/json; charset=gbk", string(valid), 415, api.CodeUnsupportedMediaType},
		{"oversized body", http.MethodPost, "/api/v1/login/wechat", "application/json", `{"appid":"` + strings.Repeat("x", 9000) + `","code":"x"}`, 413, api.CodeRequestTooLarge},
		{"oversized whitespace after the object", http.MethodPost, "/api/v1/login/wechat", "application/json", string(valid) + strings.Repeat(" ", 9000), 413, api.CodeRequestTooLarge},
		{"not JSON", http.MethodPost, "/api/v1/login/wechat", "application/json", "appid=x", 400, api.CodeInvalidRequest},
		{"an array", http.MethodPost, "/api/v1/login/wechat", "application/json", "[]", 400, api.CodeInvalidRequest},
		{"two objects", http.MethodPost, "/api/v1/login/wechat", "application/json", string(valid) + string(valid), 400, api.CodeInvalidRequest},
		{"trailing garbage", http.MethodPost, "/api/v1/login/wechat", "application/json", string(valid) + "x", 400, api.CodeInvalidRequest},
		{"empty body", http.MethodPost, "/api/v1/login/wechat", "application/json", "", 400, api.CodeInvalidRequest},
		{"null", http.MethodPost, "/api/v1/login/wechat", "application/json", "null", 400, api.CodeInvalidRequest},
		{"missing code", http.MethodPost, "/api/v1/login/wechat", "application/json", `{"appid":"` + mini + `"}`, 400, api.CodeInvalidRequest},
		{"wrong type", http.MethodPost, "/api/v1/login/wechat", "application/json", `{"appid":1,"code":"x"}`, 400, api.CodeInvalidRequest},
		{"control characters", http.MethodPost, "/api/v1/login/wechat", "application/json", `{"appid":"` + mini + `","code":"a\u0000b"}`, 400, api.CodeInvalidRequest},
		{"unknown field on a bind step", http.MethodPost, "/api/v1/bind/sms/verify", "application/json", `{"bind_token":"BT-x","code":"1","phone":"1"}`, 400, api.CodeInvalidRequest},
		{"GET", http.MethodGet, "/api/v1/login/wechat", "", "", 405, api.CodeMethodNotAllowed},
		{"unknown endpoint", http.MethodPost, "/api/v1/login/password", "application/json", string(valid), 404, api.CodeNotFound},
		{"unversioned", http.MethodPost, "/api/v1/", "application/json", string(valid), 404, api.CodeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.send(c.method, c.path, c.contentType, []byte(c.body))
			requireError(t, r, c.status, c.code)
			if c.status == 405 {
				require.Equal(t, "POST", r.Header.Get("Allow"))
			}
		})
	}

	t.Run("messages in Chinese unless the client prefers English", func(t *testing.T) {
		for lang, want := range map[string]string{
			"":                            "未登记的应用（appid）。",
			"zh-CN,zh;q=0.9":              "未登记的应用（appid）。",
			"fr-FR":                       "未登记的应用（appid）。",
			"en-US,en;q=0.9":              "This appid is not registered.",
			"en-GB;q=0.8, zh-CN;q=0.5":    "This appid is not registered.",
			"this is not a language list": "未登记的应用（appid）。",
		} {
			r := e.post("/login/wechat", api.LoginRequest{AppID: "wxnotconfigured01", Code: "x"}, "Accept-Language", lang)
			require.Equal(t, want, r.Err.Message, "Accept-Language %q", lang)
		}
	})

	t.Run("an explicit language wins over Accept-Language, as on the pages", func(t *testing.T) {
		body := []byte(`{"appid":"wxnotconfigured01","code":"x"}`)
		r := e.send(http.MethodPost, "/api/v1/login/wechat?lang=en", "application/json", body, "Accept-Language", "zh-CN")
		require.Equal(t, "This appid is not registered.", r.Err.Message)
		r = e.send(http.MethodPost, "/api/v1/login/wechat", "application/json", body, "Accept-Language", "en", "Cookie", "wxcas_lang=zh-CN")
		require.Equal(t, "未登记的应用（appid）。", r.Err.Message)
	})

	t.Run("the front middleware's request id, and the component named once", func(t *testing.T) {
		r := e.post("/login/wechat", api.LoginRequest{AppID: "wxnotconfigured01", Code: "x"})
		require.NotEmpty(t, r.Err.RequestID)
		require.Equal(t, r.Header.Get("X-Request-Id"), r.Err.RequestID)
		var line string
		for l := range strings.Lines(e.log.String()) {
			if strings.Contains(l, "request_id="+r.Err.RequestID) {
				line = l
			}
		}
		require.NotEmpty(t, line, "the log line of the request carries it")
		require.Equal(t, 1, strings.Count(line, "component=api"), "%s", line)
	})
}

func TestBindTokenErrors(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		// Room for every error of one binding (TestRateLimits tests the limit).
		e := newEnv(t, db, envOpts{api: func(c *api.Config) { c.BindPerToken.Max = 100 }})

		t.Run("malformed and unknown tokens", func(t *testing.T) {
			part := strings.Repeat("A", 26)
			for _, tok := range []string{
				"nope", "BT-" + part, "BT-" + part + part, "BT-" + part + "." + strings.ToLower(part),
				"BT-" + part + "." + part[1:], "BT-" + part + "." + part + ".", "XX-" + part + "." + part,
				"BT-" + part + "." + part, // well-formed, no such journey
			} {
				r := e.post("/bind/sms/send", api.SMSSendRequest{BindToken: tok, Phone: "13800138000"})
				requireError(t, r, http.StatusBadRequest, api.CodeInvalidBindToken)
			}
		})

		t.Run("a journey's id with another journey's secret", func(t *testing.T) {
			a := e.login(mini, e.jsCode("hugo"), api.StatusBindingRequired)
			b := e.login(mobile, e.appCode("ines"), api.StatusBindingRequired)
			aID, aSecret, _ := strings.Cut(strings.TrimPrefix(a.BindToken, "BT-"), ".")
			bID, bSecret, _ := strings.Cut(strings.TrimPrefix(b.BindToken, "BT-"), ".")
			for _, forged := range []string{"BT-" + aID + "." + bSecret, "BT-" + bID + "." + aSecret} {
				r := e.post("/bind/sms/send", api.SMSSendRequest{BindToken: forged, Phone: "13800138000"})
				requireError(t, r, http.StatusBadRequest, api.CodeInvalidBindToken)
				r = e.post("/bind/cancel", api.CancelRequest{BindToken: forged})
				requireError(t, r, http.StatusBadRequest, api.CodeInvalidBindToken)
			}
			require.Zero(t, e.codes.Outbox.Count(otp.Phone("+8613800138000")), "no SMS for a forged token")
			// Both journeys go on with their own tokens.
			e.sendCode(a.BindToken, "13300133001")
			e.sendCode(b.BindToken, "13300133002")
		})

		t.Run("expired token", func(t *testing.T) {
			start := e.login(mini, e.jsCode("alice"), api.StatusBindingRequired)
			e.clock.Advance(10*time.Minute - time.Second)
			next, _ := e.sendCode(start.BindToken, "13800138000")
			e.clock.Advance(10 * time.Minute)
			r := e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: "123456"})
			requireError(t, r, http.StatusBadRequest, api.CodeBindTokenExpired)
		})

		t.Run("a binding ends after bind_chain_max_age however often it is renewed", func(t *testing.T) {
			start := e.login(mini, e.jsCode("bob"), api.StatusBindingRequired)
			tok := start.BindToken
			var expiries []string
			for range 3 {
				e.clock.Advance(9 * time.Minute)
				r := e.post("/bind/sms/send", api.SMSSendRequest{BindToken: tok, Phone: "13900139000"})
				require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
				tok = r.OK.BindToken
				expiries = append(expiries, r.OK.BindTokenExpiresAt)
			}
			chainEnd := e.clock.Now().Add(-27 * time.Minute).Add(30 * time.Minute)
			require.Equal(t, chainEnd.Format(time.RFC3339), expiries[2], "capped at the chain's end")
			e.clock.Advance(3 * time.Minute)
			r := e.post("/bind/sms/send", api.SMSSendRequest{BindToken: tok, Phone: "13900139000"})
			requireError(t, r, http.StatusBadRequest, api.CodeBindTokenExpired)
		})

		t.Run("a replayed token is refused", func(t *testing.T) {
			start := e.login(mini, e.jsCode("carol"), api.StatusBindingRequired)
			// A failed step leaves the token usable.
			r := e.post("/bind/sms/send", api.SMSSendRequest{BindToken: start.BindToken, Phone: "12345"})
			requireError(t, r, http.StatusBadRequest, api.CodeInvalidPhone)
			next, code := e.sendCode(start.BindToken, "13700137000")
			require.Equal(t, strings.SplitN(start.BindToken, ".", 2)[0], strings.SplitN(next, ".", 2)[0], "the same journey")
			e.clock.Advance(time.Minute)
			for _, path := range []string{"/bind/sms/send", "/bind/sms/verify", "/bind/wechat-phone", "/bind/cancel"} {
				body := map[string]string{"bind_token": start.BindToken}
				switch path {
				case "/bind/sms/send":
					body["phone"] = "13700137000"
				case "/bind/sms/verify":
					body["code"] = code
				case "/bind/wechat-phone":
					body["phone_code"] = e.phoneCode("carol")
				}
				r = e.post(path, body)
				requireError(t, r, http.StatusBadRequest, api.CodeInvalidBindToken)
			}
			require.Equal(t, 1, e.codes.Outbox.Count(otp.Phone("+8613700137000")), "no SMS for a replay")
			r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: code})
			require.Equal(t, http.StatusOK, r.Status, "the successor is unaffected: %s", r.Raw)
			r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: code})
			requireError(t, r, http.StatusBadRequest, api.CodeInvalidBindToken)
		})

		t.Run("cancel", func(t *testing.T) {
			start := e.login(mini, e.jsCode("jack"), api.StatusBindingRequired)
			next, code := e.sendCode(start.BindToken, "13300133003")
			r := e.post("/bind/cancel", api.CancelRequest{BindToken: next})
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
			require.Equal(t, api.StatusCancelled, r.OK.Status)
			require.Empty(t, r.OK.BindToken, "nothing left to go on with")
			for _, tok := range []string{next, start.BindToken} {
				r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: tok, Code: code})
				requireError(t, r, http.StatusBadRequest, api.CodeInvalidBindToken)
				r = e.post("/bind/cancel", api.CancelRequest{BindToken: tok})
				requireError(t, r, http.StatusBadRequest, api.CodeInvalidBindToken)
			}
			var state string
			id := strings.SplitN(strings.TrimPrefix(next, "BT-"), ".", 2)[0]
			require.NoError(t, db.Get(&state, db.Rebind(`SELECT state FROM login_journeys WHERE id = ?`), id))
			require.Equal(t, "failed", state)
			_, err := e.dir.FindByPhone(t.Context(), "+8613300133003")
			require.Error(t, err, "nobody was bound")
			// The person can start again.
			again := e.login(mini, e.jsCode("jack"), api.StatusBindingRequired)
			require.NotEqual(t, start.BindToken, again.BindToken)
		})

		t.Run("SMS and code errors", func(t *testing.T) {
			start := e.login(mini, e.jsCode("dave"), api.StatusBindingRequired)
			tok := start.BindToken

			r := e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: tok, Code: "123456"})
			requireError(t, r, http.StatusBadRequest, api.CodeNoCode)
			for _, bad := range []string{"12345", "+86 010 1234 5678", "not a phone"} {
				r = e.post("/bind/sms/send", api.SMSSendRequest{BindToken: tok, Phone: bad})
				requireError(t, r, http.StatusBadRequest, api.CodeInvalidPhone)
			}
			e.codes.Outbox.Fail(errors.New("provider down"))
			r = e.post("/bind/sms/send", api.SMSSendRequest{BindToken: tok, Phone: "13600136000"})
			requireError(t, r, http.StatusBadGateway, api.CodeSMSFailed)
			e.codes.Outbox.Fail(nil)

			next, code := e.sendCode(tok, "13600136000")
			r = e.post("/bind/sms/send", api.SMSSendRequest{BindToken: next, Phone: "13600136000"})
			requireError(t, r, http.StatusTooManyRequests, api.CodeRateLimited)
			require.Equal(t, "60", r.Header.Get("Retry-After"), "the resend cooldown")
			require.Equal(t, 60, r.Err.RetryAfterSeconds)

			e.clock.Advance(5 * time.Minute)
			r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: code})
			requireError(t, r, http.StatusBadRequest, api.CodeCodeExpired)

			next, code = e.sendCode(next, "13600136000")
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			for left := 4; left >= 0; left-- {
				r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: wrong})
				want := api.CodeWrongCode
				if left == 0 {
					want = api.CodeTooManyAttempts // the guess that burns the code says so
				}
				requireError(t, r, http.StatusBadRequest, want)
				require.Equal(t, left, *r.Err.AttemptsLeft)
			}
			r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: code})
			requireError(t, r, http.StatusBadRequest, api.CodeTooManyAttempts)
		})
	})
}

// TestCleanup: the API cleans up its rate-limit windows; journeys, and so
// bind tokens, are the journey store's (a token outlives its step as long
// as its journey, so a late client hears "expired" rather than "invalid").
func TestCleanup(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, envOpts{})
		start := e.login(mini, e.jsCode("alice"), api.StatusBindingRequired)
		e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: "bogus"}) // the same login counter
		n, err := e.h.Cleanup(t.Context())
		require.NoError(t, err)
		require.Zero(t, n, "nothing has ended yet")

		e.clock.Advance(10 * time.Minute)
		r := e.post("/bind/sms/send", api.SMSSendRequest{BindToken: start.BindToken, Phone: "13800138000"})
		requireError(t, r, http.StatusBadRequest, api.CodeBindTokenExpired)
		n, err = e.h.Cleanup(t.Context())
		require.NoError(t, err)
		require.EqualValues(t, 1, n, "the login counter's window ended; the bind counter's has not")

		e.clock.Advance(time.Hour)
		n, err = e.h.Cleanup(t.Context())
		require.NoError(t, err)
		require.EqualValues(t, 1, n, "the bind counter")
		var journeys int
		require.NoError(t, db.Get(&journeys, `SELECT COUNT(*) FROM login_journeys`))
		require.Equal(t, 2, journeys, "journeys are not the API's to delete")
		r = e.post("/bind/sms/send", api.SMSSendRequest{BindToken: start.BindToken, Phone: "13800138000"})
		requireError(t, r, http.StatusBadRequest, api.CodeBindTokenExpired)

		n, err = e.journeys.Cleanup(t.Context(), e.clock.Now())
		require.NoError(t, err)
		require.EqualValues(t, 2, n, "the binding, and the login with the bogus code")
		r = e.post("/bind/sms/send", api.SMSSendRequest{BindToken: start.BindToken, Phone: "13800138000"})
		requireError(t, r, http.StatusBadRequest, api.CodeInvalidBindToken)
	})
}

func TestDirectoryPolicy(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		t.Run("unknown phones refused before any SMS", func(t *testing.T) {
			e := newEnv(t, db, envOpts{login: func(c *login.Config) { c.OnUnknownPhone = login.UnknownPhoneRefuse }})
			start := e.login(mini, e.jsCode("olga"), api.StatusBindingRequired)
			r := e.post("/bind/sms/send", api.SMSSendRequest{BindToken: start.BindToken, Phone: "13500135000"})
			requireError(t, r, http.StatusForbidden, api.CodeUnknownPhone)
			require.Zero(t, e.codes.Outbox.Count(otp.Phone("+8613500135000")))
			r = e.post("/bind/wechat-phone", api.WeChatPhoneRequest{BindToken: start.BindToken, PhoneCode: e.phoneCode("olga")})
			requireError(t, r, http.StatusForbidden, api.CodeUnknownPhone)
		})

		t.Run("a user bound to another WeChat person", func(t *testing.T) {
			e := newEnv(t, db, envOpts{})
			a := e.login(mini, e.jsCode("pia"), api.StatusBindingRequired)
			next, code := e.sendCode(a.BindToken, "13400134000")
			r := e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: code})
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)

			e.clock.Advance(time.Minute)
			b := e.login(mini, e.jsCode("quinn"), api.StatusBindingRequired)
			next, code = e.sendCode(b.BindToken, "13400134000")
			r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: code})
			requireError(t, r, http.StatusConflict, api.CodeUserBoundElsewhere)
		})
	})
}

func TestRateLimits(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, envOpts{api: func(c *api.Config) {
			c.LoginPerIP = api.Limit{Max: 3, Window: time.Minute}
			c.BindPerIP = api.Limit{Max: 100, Window: time.Minute}
			c.BindPerToken = api.Limit{Max: 4, Window: 30 * time.Minute}
		}})
		ip := func(a string) []string { return []string{"X-Test-Client-IP", a} }

		t.Run("login calls per client IP", func(t *testing.T) {
			for range 3 {
				r := e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: "bogus"}, ip("198.51.100.7")...)
				requireError(t, r, http.StatusBadRequest, api.CodeInvalidWeChatCode)
			}
			r := e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: e.jsCode("alice")}, ip("198.51.100.7")...)
			requireError(t, r, http.StatusTooManyRequests, api.CodeRateLimited)
			require.Equal(t, "60", r.Header.Get("Retry-After"))
			require.Equal(t, 60, r.Err.RetryAfterSeconds)

			// Another client is not affected; IPv6 clients count per /64.
			e.login(mini, e.jsCode("alice"), api.StatusBindingRequired)
			for i := range 3 {
				r = e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: "bogus"}, ip("2001:db8:1:2::"+strconv.Itoa(i+1))...)
				require.Equal(t, http.StatusBadRequest, r.Status)
			}
			r = e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: "bogus"}, ip("2001:db8:1:2:ffff::9")...)
			requireError(t, r, http.StatusTooManyRequests, api.CodeRateLimited)

			e.clock.Advance(20 * time.Second)
			r = e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: "bogus"}, ip("198.51.100.7")...)
			require.Equal(t, "40", r.Header.Get("Retry-After"), "a fixed window")
			e.clock.Advance(40 * time.Second)
			e.login(mini, e.jsCode("alice"), api.StatusBindingRequired)
			r = e.post("/login/wechat", api.LoginRequest{AppID: mini, Code: e.jsCode("alice")}, ip("198.51.100.7")...)
			require.Equal(t, http.StatusOK, r.Status, "a new window")
		})

		t.Run("bind calls per bind token, across the chain", func(t *testing.T) {
			start := e.login(mini, e.jsCode("bob"), api.StatusBindingRequired)
			next, code := e.sendCode(start.BindToken, "13900139000") // 1
			for range 3 {                                            // 2, 3, 4
				r := e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: otptest.Wrong(code)})
				requireError(t, r, http.StatusBadRequest, api.CodeWrongCode)
			}
			r := e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: next, Code: code})
			requireError(t, r, http.StatusTooManyRequests, api.CodeRateLimited)
			require.Equal(t, strconv.Itoa(30*60), r.Header.Get("Retry-After"))

			// Another binding has its own budget.
			other := e.login(mini, e.jsCode("carol"), api.StatusBindingRequired)
			e.sendCode(other.BindToken, "13700137000")
		})
	})
}

func TestConfigValidate(t *testing.T) {
	require.Empty(t, api.DefaultConfig().Validate())
	c := api.Config{
		MaxBodyBytes: 10, BindTokenTTL: time.Second, BindChainMaxAge: 0,
		LoginPerIP: api.Limit{Max: -1}, BindPerIP: api.Limit{Max: 5}, BindPerToken: api.Limit{Max: 0},
	}
	p := c.Validate()
	require.Len(t, p, 5, "%v", p)
	for i, key := range []string{"api.max_body_bytes", "api.bind_token_ttl", "api.bind_chain_max_age", "api.login_per_ip.max", "api.bind_per_ip.window"} {
		require.True(t, strings.HasPrefix(p[i], key+":"), p[i])
	}
	_, err := api.New(c, api.Deps{})
	require.ErrorContains(t, err, "api.max_body_bytes")
	_, err = api.New(api.DefaultConfig(), api.Deps{})
	require.Error(t, err)
}
