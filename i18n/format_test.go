package i18n

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		zh, en string
	}{
		{0, "1 秒", "1 second"},
		{500 * time.Millisecond, "1 秒", "1 second"},
		{time.Second, "1 秒", "1 second"},
		{45 * time.Second, "45 秒", "45 seconds"},
		{59*time.Second + time.Millisecond, "1 分钟", "1 minute"}, // rounds up, never down
		{time.Minute, "1 分钟", "1 minute"},
		{50*time.Minute + 2*time.Second, "51 分钟", "51 minutes"},
		{time.Hour, "1 小时", "1 hour"},
		{time.Hour + time.Minute, "1 小时 1 分钟", "1 hour 1 minute"},
		{23*time.Hour + 59*time.Minute, "23 小时 59 分钟", "23 hours 59 minutes"},
	} {
		require.Equal(t, tc.zh, Duration(ZH, tc.d), "%s", tc.d)
		require.Equal(t, tc.en, Duration(EN, tc.d), "%s", tc.d)
	}
}

func TestRefusal(t *testing.T) {
	one, four, zero := 1, 4, 0
	for _, tc := range []struct {
		lang, key string
		wait      time.Duration
		left      *int
		want      string
	}{
		{ZH, "rate_limited", time.Minute, nil, "操作过于频繁。请在 1 分钟后重试。"},
		{EN, "rate_limited", time.Minute, nil, "Too many requests. Try again in 1 minute."},
		{ZH, "wrong_code", 0, &four, "验证码不正确。还可尝试 4 次。"},
		{EN, "wrong_code", 0, &four, "That code is not right. 4 attempts left."},
		{EN, "wrong_code", 0, &one, "That code is not right. 1 attempt left."},
		{EN, "wrong_code", 0, &zero, "That code is not right."},
		{ZH, "sms_failed", 0, nil, "短信发送失败，请确认手机号正确或稍后再试。"},
	} {
		require.Equal(t, tc.want, Refusal(tc.lang, tc.key, tc.wait, tc.left))
	}
}

// TestCatalogueVoice: one form of address (你) and Chinese punctuation with
// no space after it; no "(s)" plurals in English.
func TestCatalogueVoice(t *testing.T) {
	for key, s := range catalogue[ZH] {
		require.NotContains(t, s, "您", "%s: the catalogue says 你 (see the catalogue's comment)", key)
		for _, p := range []string{"。 ", "， ", "： ", "； ", "！ ", "？ "} {
			require.NotContains(t, s, p, "%s: no space after full-width punctuation", key)
		}
	}
	for key, s := range catalogue[EN] {
		require.False(t, strings.Contains(s, "(s)"), "%s: a real plural, not (s)", key)
	}
}

func TestValidityRoundsDown(t *testing.T) {
	require.Equal(t, "1 分钟", Validity(ZH, 90*time.Second), "a 90 s code is not said to work 2 minutes")
	require.Equal(t, "5 minutes", Validity(EN, 5*time.Minute))
	require.Equal(t, "45 seconds", Validity(EN, 45*time.Second))
	require.Equal(t, "1 hour 30 minutes", Validity(EN, 90*time.Minute+59*time.Second))
}

func TestGap(t *testing.T) {
	for _, tc := range []struct{ lang, before, after, want string }{
		{ZH, "返回", "Test site", " "},
		{ZH, "返回", "沙箱示例网站", ""},
		{ZH, "绑定时间：", "2026-01-02", ""},
		{ZH, "二维码过期或无法显示？", "刷新二维码", ""},
		{ZH, "验证码已发送至", "138****8000", " "},
		{EN, "Back to", "the site", " "},
	} {
		require.Equal(t, tc.want, Gap(tc.lang, tc.before, tc.after), "%q %q", tc.before, tc.after)
	}
}
