package web

import (
	"errors"
	"io/fs"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"wxcas/i18n"
	"wxcas/login"
	"wxcas/otp"
	"wxcas/templates"
)

func TestLangURLKeepsThePage(t *testing.T) {
	r := httptest.NewRequest("GET", "/login?flow=abc&lang=zh-CN", nil)
	require.Equal(t, "/login?flow=abc&lang=en", langURL(r, i18n.EN))
	post := httptest.NewRequest("POST", "/login/code", strings.NewReader("flow=xyz&code=1"))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	require.Equal(t, "/login?flow=xyz&lang=en", langURL(post, i18n.EN))
}

func TestLangURLDropsCredentials(t *testing.T) {
	r := httptest.NewRequest("GET", "/wechat/callback?code=SECRET&state=S&ticket=ST-1", nil)
	require.Equal(t, "/wechat/callback?lang=en", langURL(r, i18n.EN))
}

// A key missing from the catalogue shows itself on the page instead of text.
func TestTemplateKeysAreCatalogued(t *testing.T) {
	literal := regexp.MustCompile(`\.T "([^"]+)"`)
	names, err := fs.Glob(templates.FS, "*.html")
	require.NoError(t, err)
	for _, name := range names {
		b, err := fs.ReadFile(templates.FS, name)
		require.NoError(t, err)
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			require.True(t, i18n.Has(m[1]), "%s uses %q", name, m[1])
		}
	}
}

func TestSendRefusalsAreCatalogued(t *testing.T) {
	for _, err := range []error{
		&otp.LimitError{Limit: otp.LimitCooldown, RetryAfter: time.Minute},
		otp.ErrBudgetExhausted, login.ErrUnknownPhone, otp.ErrInvalidPhone, otp.ErrSendFailed,
	} {
		c := echo.New().NewContext(httptest.NewRequest("POST", "/login/phone", nil), httptest.NewRecorder())
		key, _, status := sendError(c, err)
		require.True(t, i18n.Has(key), "%v: %q", err, key)
		require.NotZero(t, status)
	}
	c := echo.New().NewContext(httptest.NewRequest("POST", "/login/phone", nil), httptest.NewRecorder())
	key, _, _ := sendError(c, errors.New("database down"))
	require.Empty(t, key, "internal errors are not refusals")
}

// The message keys became the API's error codes; the audit outcomes did not
// change with them.
func TestRefusalOutcomesKeepTheirNames(t *testing.T) {
	for key, want := range map[string]string{
		"invalid_phone": "phone_invalid", "sms_budget_exhausted": "budget", "user_bound_elsewhere": "user_bound",
		"wrong_code": "wrong_code", "rate_limited": "rate_limited", "unknown_phone": "unknown_phone",
	} {
		require.Equal(t, want, refusalOutcome(key), key)
	}
}
