package i18n

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCataloguesHaveTheSameKeys(t *testing.T) {
	require.Len(t, catalogue, 2, "T's fallback and Has assume exactly ZH and EN")
	for key, text := range catalogue[ZH] {
		require.Contains(t, catalogue[EN], key, "English lacks %q", key)
		require.NotEmpty(t, text, "empty Chinese text for %q", key)
		require.NotEmpty(t, catalogue[EN][key], "empty English text for %q", key)
	}
	for key := range catalogue[EN] {
		require.Contains(t, catalogue[ZH], key, "Chinese lacks %q", key)
	}
}

func TestPickLang(t *testing.T) {
	tests := []struct{ query, cookie, accept, want string }{
		{"", "", "", ZH},
		{"", "", "en-US,en;q=0.9", EN},
		{"", "", "zh-TW", ZH},
		{"", "", "zh-HK,zh;q=0.9,en;q=0.5", ZH},
		{"", "", "fr-FR", ZH},
		{"", "en", "zh-CN", EN},
		{"lang=zh-CN", "en", "en", ZH},
		{"lang=klingon", "", "en", EN},
		{"", "klingon", "en", EN},
		{"", "", "garbage;;;q=x", ZH},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/?"+tc.query, nil)
		if tc.cookie != "" {
			r.Header.Set("Cookie", CookieName+"="+tc.cookie)
		}
		r.Header.Set("Accept-Language", tc.accept)
		require.Equal(t, tc.want, Pick(r), "%+v", tc)
	}
}

func TestT(t *testing.T) {
	require.Equal(t, "验证码不正确。", T(ZH, "wrong_code"))
	require.Equal(t, "That code is not right.", T(EN, "wrong_code"))
	require.Equal(t, "验证码不正确。", T("fr", "wrong_code"), "an unknown language reads Chinese")
	require.Equal(t, "no_such_key", T(EN, "no_such_key"), "a missing key shows itself")
	require.True(t, Has("wrong_code"))
	require.False(t, Has("no_such_key"))
}

func TestNorm(t *testing.T) {
	for in, want := range map[string]string{"zh": ZH, "zh_CN": ZH, "cn": ZH, "en-GB": EN, "en_US": EN, "": "", "de": "", "EN": ""} {
		require.Equal(t, want, Norm(in), "%q", in)
	}
}
