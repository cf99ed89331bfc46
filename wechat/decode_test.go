package wechat

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	require.NoError(t, err)
	return b
}

// Golden tests: the documented example bodies decode as documented.
func TestDecodeGoldenSuccess(t *testing.T) {
	t.Run("OA snapshot token", func(t *testing.T) {
		var r tokenResponse
		require.NoError(t, decode(opAccessToken, golden(t, "oa_token_snapshot.json"), &r))
		require.Equal(t, tokenResponse{AccessToken: "ACCESS_TOKEN", ExpiresIn: 7200, RefreshToken: "REFRESH_TOKEN",
			OpenID: "OPENID", Scope: "snsapi_userinfo", UnionID: "UNIONID", IsSnapshotUser: 1}, r)
	})
	t.Run("website token", func(t *testing.T) {
		var r tokenResponse
		require.NoError(t, decode(opAccessToken, golden(t, "website_token.json"), &r))
		require.Equal(t, "o6_bmasdasdsad6_2sgVt7hMZOPfL", r.UnionID)
		require.Zero(t, r.IsSnapshotUser)
	})
	t.Run("OA base token has no unionid", func(t *testing.T) {
		var r tokenResponse
		require.NoError(t, decode(opAccessToken, golden(t, "oa_token_base.json"), &r))
		require.Empty(t, r.UnionID)
		require.Equal(t, "snsapi_base", r.Scope)
	})
	t.Run("sns/auth ok", func(t *testing.T) {
		var r authResponse
		require.NoError(t, decode(opAuth, golden(t, "auth_ok.json"), &r))
	})
	t.Run("userinfo", func(t *testing.T) {
		var r userInfoResponse
		require.NoError(t, decode(opUserInfo, golden(t, "userinfo.json"), &r))
		require.Equal(t, "OPENID", r.OpenID)
		require.Equal(t, "NICKNAME", r.Nickname)
		require.Equal(t, flexInt(1), r.Sex)
		require.Equal(t, []string{"PRIVILEGE1", "PRIVILEGE2"}, r.Privilege)
		require.Equal(t, "o6_bmasdasdsad6_2sgVt7hMZOPfL", r.UnionID)
		require.True(t, strings.HasSuffix(r.HeadImgURL, "/46"))
	})
	t.Run("mobile userinfo without unionid, with language and emoji", func(t *testing.T) {
		var r userInfoResponse
		require.NoError(t, decode(opUserInfo, golden(t, "userinfo_app_no_unionid.json"), &r))
		require.Empty(t, r.UnionID)
		require.Equal(t, "zh_CN", r.Language)
		require.Equal(t, "微信用户 🐼", r.Nickname)
		require.Empty(t, r.Privilege)
	})
	t.Run("jscode2session without errcode", func(t *testing.T) {
		var r sessionResponse
		require.NoError(t, decode(opJSCode, golden(t, "jscode2session.json"), &r))
		require.Equal(t, sessionResponse{OpenID: "xxxxxx", SessionKey: "xxxxx", UnionID: "xxxxx"}, r)
	})
	t.Run("jscode2session with errcode 0 (older format)", func(t *testing.T) {
		var r sessionResponse
		require.NoError(t, decode(opJSCode, golden(t, "jscode2session_errcode0.json"), &r))
		require.Empty(t, r.UnionID)
	})
	t.Run("phone number with countryCode as a number", func(t *testing.T) {
		var r phoneResponse
		require.NoError(t, decode(opPhoneNumber, golden(t, "phone.json"), &r))
		require.Equal(t, "xxxxxx", r.PhoneInfo.PhoneNumber)
		require.Equal(t, flexString("86"), r.PhoneInfo.CountryCode)
		require.Equal(t, flexInt(1637744274), r.PhoneInfo.Watermark.Timestamp)
		require.Equal(t, "xxxx", r.PhoneInfo.Watermark.AppID)
	})
	t.Run("phone number with countryCode and timestamp as strings", func(t *testing.T) {
		var r phoneResponse
		require.NoError(t, decode(opPhoneNumber, golden(t, "phone_string_country.json"), &r))
		require.Equal(t, flexString("852"), r.PhoneInfo.CountryCode)
		require.Equal(t, flexInt(1637744274), r.PhoneInfo.Watermark.Timestamp)
	})
	t.Run("cgi-bin token", func(t *testing.T) {
		var r appTokenResponse
		require.NoError(t, decode(opToken, golden(t, "cgi_token.json"), &r))
		require.Equal(t, appTokenResponse{AccessToken: "ACCESS_TOKEN", ExpiresIn: 7200}, r)
	})
}

func TestDecodeGoldenErrors(t *testing.T) {
	tests := []struct {
		file      string
		op        string
		out       func() result
		kind      ErrorKind
		code      int
		rid       string
		retryable bool
	}{
		{"err_40029.json", opAccessToken, newToken, ErrCodeInvalid, 40029, "", false},
		{"err_40029_hints.json", opAccessToken, newToken, ErrCodeInvalid, 40029, "DQbAtHnRe-rO3", false},
		{"err_40029_hint_rid.json", opAccessToken, newToken, ErrCodeInvalid, 40029, "6744a7e0-66c5b5ef-3b54f1b1", false},
		{"err_40029_rid.json", opJSCode, newSession, ErrCodeInvalid, 40029, "6744a7e0-66c5b5ef-3b54f1b1", false},
		{"err_40163.json", opAccessToken, newToken, ErrCodeUsed, 40163, "6744a7e1-0f1e2d3c-4b5a6978", false},
		{"err_40002.json", opAccessToken, newToken, ErrInvalidRequest, 40002, "", false},
		{"err_40003.json", opAuth, newAuth, ErrInvalidOpenID, 40003, "", false},
		{"err_40014.json", opAuth, newAuth, ErrInvalidToken, 40014, "", false},
		{"err_42001.json", opAuth, newAuth, ErrTokenExpired, 42001, "", false},
		{"err_40030.json", opRefreshToken, newToken, ErrRefreshTokenInvalid, 40030, "", false},
		{"err_48001.json", opUserInfo, newUserInfo, ErrScopeUnauthorized, 48001, "", false},
		{"err_40164.json", opToken, newAppToken, ErrIPNotWhitelisted, 40164, "6744a7e2-1a2b3c4d-5e6f7a8b", false},
		{"err_busy.json", opJSCode, newSession, ErrBusy, -1, "", true},
		{"err_40226.json", opJSCode, newSession, ErrCodeBlocked, 40226, "", false},
		{"err_45011.json", opJSCode, newSession, ErrRateLimited, 45011, "", true},
		{"err_47001.json", opPhoneNumber, newPhone, ErrInvalidRequest, 47001, "", false},
		{"empty.txt", opAccessToken, newToken, ErrMalformedResponse, 0, "", true},
		{"html_502.txt", opAccessToken, newToken, ErrMalformedResponse, 0, "", true},
		// A success body decoded as the wrong type lacks the expected fields.
		{"auth_ok.json", opAccessToken, newToken, ErrMalformedResponse, 0, "", true},
		{"cgi_token.json", opUserInfo, newUserInfo, ErrMalformedResponse, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			err := decode(tt.op, golden(t, tt.file), tt.out())
			var e *Error
			require.ErrorAs(t, err, &e)
			require.ErrorIs(t, err, tt.kind)
			require.Equal(t, tt.code, e.Code)
			require.Equal(t, tt.rid, e.RID)
			require.Equal(t, tt.retryable, e.Retryable)
			require.Equal(t, tt.op, e.Op)
		})
	}
}

func TestDecodeLenience(t *testing.T) {
	ok := []string{
		"\xef\xbb\xbf" + `{"access_token":"A","openid":"O"}`,                      // BOM
		"\n  " + `{"access_token":"A","openid":"O","expires_in":"7200"}` + "\r\n", // whitespace, string number
		`{"access_token":"A","openid":"O","expires_in":7200.0}`,
		`{"access_token":"A","openid":"O","errcode":null}`,
		`{"access_token":"A","openid":"O","errcode":"0"}`,
		`{"access_token":"A","openid":"O","unknown":{"nested":[1,2]}}`,
	}
	for _, body := range ok {
		var r tokenResponse
		require.NoError(t, decode(opAccessToken, []byte(body), &r), body)
	}
	var r tokenResponse
	err := decode(opAccessToken, []byte(`{"errcode":"40029","errmsg":"invalid code"}`), &r)
	require.ErrorIs(t, err, ErrCodeInvalid, "errcode as a string")

	bad := []string{
		`[]`, `null`, `"x"`, `{`, `{"access_token":"A","openid":"O"} trailing`,
		`{"access_token":1,"openid":"O"}`, `{"access_token":"A","openid":"O","expires_in":1.5}`,
		`{"errcode":{},"errmsg":"x"}`, `{"errcode":"abc"}`, `{"access_token":"A","openid":""}`,
		"\x00\x01", "{\"access_token\":\"A\",\"openid\":\"O\",\"scope\":\"\xff\"", // truncated
	}
	for _, body := range bad {
		var r tokenResponse
		err := decode(opAccessToken, []byte(body), &r)
		require.ErrorIs(t, err, ErrMalformedResponse, body)
	}
}

func TestErrorMessageSanitized(t *testing.T) {
	body := `{"errcode":40029,"errmsg":"bad\ncode\u0000\u001b[31m` + strings.Repeat("x", 500) + `"}`
	err := decode(opAccessToken, []byte(body), new(tokenResponse))
	var e *Error
	require.ErrorAs(t, err, &e)
	e.scrub(nil)
	require.NotContains(t, e.Error(), "\n")
	require.NotContains(t, e.Error(), "\x00")
	require.NotContains(t, e.Error(), "\x1b")
	require.Less(t, len([]rune(e.Message)), 260)
}

func newToken() result    { return new(tokenResponse) }
func newAuth() result     { return new(authResponse) }
func newUserInfo() result { return new(userInfoResponse) }
func newSession() result  { return new(sessionResponse) }
func newAppToken() result { return new(appTokenResponse) }
func newPhone() result    { return new(phoneResponse) }

var decodeTargets = []struct {
	op  string
	out func() result
}{
	{opAccessToken, newToken}, {opAuth, newAuth}, {opUserInfo, newUserInfo},
	{opJSCode, newSession}, {opToken, newAppToken}, {opPhoneNumber, newPhone},
}

// FuzzDecode: any body gives either a complete result or a typed *Error,
// never a panic, and the error text is printable and one line.
//
//	go test -run=^$ -fuzz=FuzzDecode -fuzztime=30s ./wechat/
func FuzzDecode(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "golden"))
	require.NoError(f, err)
	for _, e := range entries {
		f.Add(golden(f, e.Name()))
	}
	for _, s := range []string{
		`{"errcode":"-1"}`, `{"errcode":1e3}`, `{"errcode":9223372036854775808}`, `{"expires_in":-5,"access_token":"a","openid":"b"}`,
		`{"phone_info":null}`, `{"phone_info":{"countryCode":true}}`, `{"errmsg":"rid: ` + strings.Repeat("a", 100) + `","errcode":5}`,
		"\xef\xbb\xbf", "{\"errmsg\":\"\xff\xfe\",\"errcode\":1}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, target := range decodeTargets {
			out := target.out()
			err := decode(target.op, body, out)
			if err == nil {
				if !out.complete() {
					t.Fatalf("%s: success without the expected fields", target.op)
				}
				continue
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%s: untyped error %T %v", target.op, err, err)
			}
			if e.Kind == 0 || e.Op != target.op {
				t.Fatalf("%s: bad error %+v", target.op, e)
			}
			if e.Code == 0 && e.Kind != ErrMalformedResponse {
				t.Fatalf("%s: errcode-less error of kind %v", target.op, e.Kind)
			}
			e.scrub(nil)
			for _, r := range e.Error() {
				if !unicode.IsPrint(r) {
					t.Fatalf("%s: unprintable %q in %q", target.op, r, e.Error())
				}
			}
		}
	})
}
