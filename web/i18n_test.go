package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCataloguesHaveTheSameKeys(t *testing.T) {
	for key := range messages[langZH] {
		require.Contains(t, messages[langEN], key, "English lacks %q", key)
	}
	for key := range messages[langEN] {
		require.Contains(t, messages[langZH], key, "Chinese lacks %q", key)
	}
}

func TestPickLang(t *testing.T) {
	tests := []struct{ query, cookie, accept, want string }{
		{"", "", "", langZH},
		{"", "", "en-US,en;q=0.9", langEN},
		{"", "", "zh-TW", langZH},
		{"", "", "zh-HK,zh;q=0.9,en;q=0.5", langZH},
		{"", "", "fr-FR", langZH},
		{"", "en", "zh-CN", langEN},
		{"lang=zh-CN", "en", "en", langZH},
		{"lang=klingon", "", "en", langEN},
		{"", "", "garbage;;;q=x", langZH},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/?"+tc.query, nil)
		if tc.cookie != "" {
			r.Header.Set("Cookie", langCookie+"="+tc.cookie)
		}
		r.Header.Set("Accept-Language", tc.accept)
		require.Equal(t, tc.want, pickLang(r), "%+v", tc)
	}
}

func TestLangURLKeepsThePage(t *testing.T) {
	r := httptest.NewRequest("GET", "/login?flow=abc&lang=zh-CN", nil)
	require.Equal(t, "/login?flow=abc&lang=en", langURL(r, langEN))
	post := httptest.NewRequest("POST", "/login/code", strings.NewReader("flow=xyz&code=1"))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	require.Equal(t, "/login?flow=xyz&lang=en", langURL(post, langEN))
}

func TestLangURLDropsCredentials(t *testing.T) {
	r := httptest.NewRequest("GET", "/wechat/callback?code=SECRET&state=S&ticket=ST-1", nil)
	require.Equal(t, "/wechat/callback?lang=en", langURL(r, langEN))
}
