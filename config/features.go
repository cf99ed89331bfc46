package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"wxcas/otp"
	"wxcas/wechat"
)

// WeChat lists the WeChat apps wxcas logs people in with.
type WeChat struct {
	// Base URLs of WeChat; empty means the real ones, or in the sandbox the
	// built-in emulator under <public_url>/sandbox/wechat.
	OpenBaseURL string        `yaml:"open_base_url"`
	APIBaseURL  string        `yaml:"api_base_url"`
	Timeout     time.Duration `yaml:"timeout"`
	Apps        []WeChatApp   `yaml:"apps"`
}

// WeChatApp is one WeChat application.
type WeChatApp struct {
	AppID  string `yaml:"appid"`
	Secret string `yaml:"secret"`
	// Kind: website (QR login), official_account (inside WeChat),
	// mini_program or mobile_app.
	Kind string `yaml:"kind"`
}

// SMS chooses how one-time codes are delivered.
type SMS struct {
	// Provider: console (sandbox: codes go to the log and the sandbox inbox)
	// or tencent (Tencent Cloud SMS).
	Provider string     `yaml:"provider"`
	SignName string     `yaml:"sign_name"`
	Tencent  TencentSMS `yaml:"tencent"`
}

// TencentSMS configures Tencent Cloud SMS (API 2021-01-11).
type TencentSMS struct {
	SecretID   string `yaml:"secret_id"`
	SecretKey  string `yaml:"secret_key"`
	Region     string `yaml:"region"`
	SdkAppID   string `yaml:"sdk_app_id"`
	TemplateID string `yaml:"template_id"`
	// TemplateParams is the order of the template's variables: each "code"
	// or "ttl_minutes".
	TemplateParams []string      `yaml:"template_params"`
	Endpoint       string        `yaml:"endpoint"`
	Timeout        time.Duration `yaml:"timeout"`
}

// OTP sets one-time code format and sending limits (0 disables a limit).
type OTP struct {
	Digits         int           `yaml:"digits"`
	TTL            time.Duration `yaml:"ttl"`
	MaxAttempts    int           `yaml:"max_attempts"`
	ResendCooldown time.Duration `yaml:"resend_cooldown"`
	PerPhoneHour   int           `yaml:"per_phone_hour"`
	PerPhoneDay    int           `yaml:"per_phone_day"`
	PerIPHour      int           `yaml:"per_ip_hour"`
	PerIdentityDay int           `yaml:"per_identity_day"`
	GlobalDay      int           `yaml:"global_day"`
	// DefaultRegion parses numbers written without a country code.
	DefaultRegion string `yaml:"default_region"`
}

func defaultOTP() OTP {
	d := otp.DefaultConfig()
	return OTP{
		Digits: d.Digits, TTL: d.TTL, MaxAttempts: d.MaxAttempts, ResendCooldown: d.Cooldown,
		PerPhoneHour: d.PerPhoneHour, PerPhoneDay: d.PerPhoneDay, PerIPHour: d.PerIPHour,
		PerIdentityDay: d.PerIdentityDay, GlobalDay: d.GlobalDay, DefaultRegion: "CN",
	}
}

// OTPConfig converts the section for the otp package.
func (o OTP) OTPConfig(key []byte) otp.Config {
	return otp.Config{
		Digits: o.Digits, TTL: o.TTL, MaxAttempts: o.MaxAttempts, Cooldown: o.ResendCooldown,
		PerPhoneHour: o.PerPhoneHour, PerPhoneDay: o.PerPhoneDay, PerIPHour: o.PerIPHour,
		PerIdentityDay: o.PerIdentityDay, GlobalDay: o.GlobalDay, Key: key,
	}
}

// otpKeys names the otp.Config fields as config.yaml does (see OTPConfig), so
// that a problem carries the key path its line is found by. Key is derived,
// not configured, and is missing on purpose; a field added to otp.Config but
// not here is still reported, under the section with its Go name.
var otpKeys = map[string]string{
	"Digits": "otp.digits", "TTL": "otp.ttl", "MaxAttempts": "otp.max_attempts", "Cooldown": "otp.resend_cooldown",
	"PerPhoneHour": "otp.per_phone_hour", "PerPhoneDay": "otp.per_phone_day", "PerIPHour": "otp.per_ip_hour",
	"PerIdentityDay": "otp.per_identity_day", "GlobalDay": "otp.global_day",
}

func otpKey(field string) string {
	if k, ok := otpKeys[field]; ok {
		return k
	}
	return "otp: " + field
}

var appIDPattern = regexp.MustCompile(`^wx[0-9a-zA-Z]{14,30}$`)

func (c *Config) validateFeatures() Problems {
	var p Problems
	add := func(bad bool, format string, args ...any) {
		if bad {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}

	// WeChat.
	for _, u := range []struct{ key, val string }{{"wechat.open_base_url", c.WeChat.OpenBaseURL}, {"wechat.api_base_url", c.WeChat.APIBaseURL}} {
		if u.val == "" {
			continue
		}
		parsed, err := url.Parse(u.val)
		add(err != nil || parsed.Host == "" || (parsed.Scheme != "https" && !(c.Sandbox.Enabled && parsed.Scheme == "http")),
			"%s: %q must be an absolute https URL", u.key, u.val)
	}
	add(c.WeChat.Timeout <= 0, "wechat.timeout: must be positive")
	add(len(c.WeChat.Apps) == 0, "wechat.apps: at least one WeChat app is required")
	seen := map[string]bool{}
	for i, app := range c.WeChat.Apps {
		path := fmt.Sprintf("wechat.apps[%d]", i)
		add(!appIDPattern.MatchString(app.AppID), "%s.appid: %q is not a WeChat appid (wx followed by letters and digits)", path, app.AppID)
		add(seen[app.AppID], "%s.appid: %s is listed twice", path, app.AppID)
		seen[app.AppID] = true
		add(!wechat.Kind(app.Kind).Valid(), "%s.kind: %q must be website, official_account, mini_program or mobile_app", path, app.Kind)
		add(app.Secret == "", "%s.secret: required", path)
		add(app.Secret != "" && !c.Sandbox.Enabled && !c.FromEnv(path+".secret"),
			"%s.secret: must come from the environment (e.g. ${WXCAS_WECHAT_SECRET_%d})", path, i)
	}

	// SMS.
	switch c.SMS.Provider {
	case "console":
		add(!c.Sandbox.Enabled, "sms.provider: console only prints codes to the log; use tencent outside the sandbox")
	case "tencent":
		t := c.SMS.Tencent
		add(t.SecretID == "", "sms.tencent.secret_id: required")
		add(t.SecretKey == "", "sms.tencent.secret_key: required")
		add(t.SecretKey != "" && !c.FromEnv("sms.tencent.secret_key"), "sms.tencent.secret_key: must come from the environment (${TENCENTCLOUD_SECRET_KEY})")
		add(t.Region == "", "sms.tencent.region: required (e.g. ap-guangzhou)")
		add(t.SdkAppID == "", "sms.tencent.sdk_app_id: required")
		add(t.TemplateID == "", "sms.tencent.template_id: required")
		add(c.SMS.SignName == "", "sms.sign_name: required with tencent (the approved signature text)")
		add(strings.Contains(t.Endpoint, "://"), "sms.tencent.endpoint: host[:port] only, without a scheme")
		add(t.Timeout <= 0, "sms.tencent.timeout: must be positive")
		for j, param := range t.TemplateParams {
			add(param != "code" && param != "ttl_minutes", "sms.tencent.template_params[%d]: %q must be code or ttl_minutes", j, param)
		}
	default:
		p = append(p, fmt.Sprintf("sms.provider: %q must be console or tencent", c.SMS.Provider))
	}

	// OTP: the otp package owns the rules; a placeholder key stands in for the
	// derived one, which is checked at start-up.
	for _, problem := range c.OTP.OTPConfig(make([]byte, 32)).Problems() {
		p = append(p, otpKey(problem.Field)+": "+problem.Message)
	}
	add(len(c.OTP.DefaultRegion) != 2, "otp.default_region: %q must be a two-letter region code such as CN", c.OTP.DefaultRegion)
	return p
}
