package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/templates"
)

// TestPageFieldsHintsAndHelpLine: the fields say what they take and which
// keyboard and autofill fit (tel, one-time-code, numeric); the phone hint
// follows default_region; the organisation's help line is at the foot.
func TestPageFieldsHintsAndHelpLine(t *testing.T) {
	render := func(region, lang string, page func(p *Pages, w http.ResponseWriter, r *http.Request) error) string {
		p, err := NewPages(templates.FS, false, Help(HelpLine{ZH: "遇到问题请致电 010-1234 5678", EN: "Need help? Call 010-1234 5678", URL: "https://it.example.edu/help"}), PhoneRegion(region))
		require.NoError(t, err)
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/login?lang="+lang, nil)
		require.NoError(t, page(p, w, r))
		return w.Body.String()
	}
	bind := func(p *Pages, w http.ResponseWriter, r *http.Request) error {
		return p.Bind(w, r, http.StatusOK, BindPage{FlowID: "f", CSRF: "c"})
	}
	code := func(p *Pages, w http.ResponseWriter, r *http.Request) error {
		return p.Code(w, r, http.StatusOK, CodePage{FlowID: "f", CSRF: "c", MaskedPhone: "138****8000"})
	}

	for _, tc := range []struct {
		region, lang string
		want         []string
	}{
		{"CN", "zh-CN", []string{`placeholder="131 2345 6789"`, "中国大陆手机号直接输入 11 位号码", "遇到问题请致电 010-1234 5678", `href="https://it.example.edu/help"`, "为什么要绑定手机号？"}},
		{"CN", "en", []string{"Mainland China numbers: type the 11 digits", "Need help? Call 010-1234 5678", ">Help</a>", "Why link a phone number?"}},
		{"HK", "zh-CN", []string{`placeholder="5123 4567"`, "不带国家代码的号码按中国香港特别行政区号码处理（&#43;852）"}},
		{"HK", "en", []string{"read as Hong Kong SAR China numbers (&#43;852)"}},
	} {
		body := render(tc.region, tc.lang, bind)
		for _, w := range tc.want {
			require.Contains(t, body, w, "%s %s", tc.region, tc.lang)
		}
		require.Contains(t, body, `type="tel" inputmode="tel" autocomplete="tel"`)
		require.Contains(t, body, ` autofocus`, "the field has the focus")
	}
	body := render("CN", "zh-CN", code)
	require.Contains(t, body, `inputmode="numeric" autocomplete="one-time-code"`)
	require.Contains(t, body, "遇到问题请致电")
}
