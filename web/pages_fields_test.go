package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
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

// The phone hints offer only numbers that get codes (otp.allowed_regions),
// on the bind page and the account page's phone step alike, and keep the
// example number on one line.
func TestPhoneHintFollowsAllowedRegions(t *testing.T) {
	const nbsp = "\u00a0"
	pages := map[string]func(p *Pages, w http.ResponseWriter, r *http.Request) error{
		"bind": func(p *Pages, w http.ResponseWriter, r *http.Request) error {
			return p.Bind(w, r, http.StatusOK, BindPage{FlowID: "f", CSRF: "c"})
		},
		"account": func(p *Pages, w http.ResponseWriter, r *http.Request) error {
			return p.render(w, r, http.StatusOK, "account", AccountPage{CSRF: "c", Step: stepPhone})
		},
	}
	for _, tc := range []struct {
		name, region string
		allowed      []string
		lang         string
		want, never  []string
	}{
		{"any region", "CN", nil, "en", []string{"Other numbers", "e.g. &#43;852" + nbsp + "5123" + nbsp + "4567."}, nil},
		{"any region", "CN", nil, "zh-CN", []string{"其他国家和地区的号码", "如 &#43;852" + nbsp + "5123" + nbsp + "4567。"}, nil},
		{"mainland China only", "CN", []string{"CN"}, "en", []string{"Type the 11 digits of a mainland China number."}, []string{"Other", "&#43;"}},
		{"mainland China only", "CN", []string{"cn"}, "zh-CN", []string{"请输入 11 位中国大陆手机号。"}, []string{"其他", "&#43;"}},
		{"mainland China and Macao", "CN", []string{"CN", "MO"}, "en", []string{"e.g. &#43;853" + nbsp + "6612" + nbsp + "3456."}, []string{"&#43;852"}},
		{"Hong Kong only", "HK", []string{"HK"}, "en", []string{"Type a Hong Kong SAR China number (&#43;852)."}, []string{"others"}},
		{"Hong Kong, any region", "HK", nil, "en", []string{"read as Hong Kong SAR China numbers (&#43;852)", "e.g. &#43;86" + nbsp + "131" + nbsp}, nil},
	} {
		p, err := NewPages(templates.FS, false, PhoneRegion(tc.region, tc.allowed...))
		require.NoError(t, err)
		for name, page := range pages {
			t.Run(tc.name+"/"+tc.lang+"/"+name, func(t *testing.T) {
				w := httptest.NewRecorder()
				require.NoError(t, page(p, w, httptest.NewRequest(http.MethodGet, "/x?lang="+tc.lang, nil)))
				hint := phoneHintOf(t, w.Body.String())
				for _, s := range tc.want {
					require.Contains(t, hint, s)
				}
				for _, s := range tc.never {
					require.NotContains(t, hint, s)
				}
			})
		}
	}
}

var phoneHintText = regexp.MustCompile(`<p id="phone-hint" class="hint">([^<]*)</p>`)

// phoneHintOf is the text of a page's phone hint.
func phoneHintOf(t *testing.T, body string) string {
	t.Helper()
	m := phoneHintText.FindStringSubmatch(body)
	require.NotNil(t, m, "no phone hint: %s", body)
	return m[1]
}
