package web

import (
	"io/fs"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/i18n"
	"wxcas/static"
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

// The "open in WeChat" page's script only selects the login link
// (static/selectlink.js): copying is the person's own step, and both
// languages say so instead of promising a copy on a tap.
func TestMobileCopyHelpSaysWhatTheScriptDoes(t *testing.T) {
	js, err := fs.ReadFile(static.FS, "selectlink.js")
	require.NoError(t, err)
	require.Contains(t, string(js), ".select()")
	require.NotContains(t, string(js), "clipboard", "a script that copies: say so in the help text")
	for lang, selects := range map[string]string{i18n.ZH: "选中", i18n.EN: "select"} {
		require.Contains(t, i18n.T(lang, "mobile_copy_help"), selects, lang)
	}
	require.NotContains(t, i18n.T(i18n.ZH, "mobile_copy_help"), "即可复制")
}
