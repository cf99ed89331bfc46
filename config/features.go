package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers/v2"

	"wxcas/otp"
	"wxcas/wechat"
)

// WeChat lists the WeChat apps wxcas logs people in with.
type WeChat struct {
	// Base URLs of WeChat; empty means the real ones, or in the sandbox the
	// built-in emulator under <public_url>/sandbox/wechat (or under
	// sandbox.emulator_url when it runs in a process of its own).
	OpenBaseURL string        `yaml:"open_base_url"`
	APIBaseURL  string        `yaml:"api_base_url"`
	Timeout     time.Duration `yaml:"timeout"`
	Apps        []WeChatApp   `yaml:"apps"`
	// Platforms are WeChat third-party platforms (开放平台第三方平台) that
	// serve some Official Accounts (apps with via_platform).
	Platforms []WeChatPlatform `yaml:"platforms"`
}

// WeChatApp is one WeChat application.
type WeChatApp struct {
	AppID  string `yaml:"appid"`
	Secret string `yaml:"secret"`
	// Kind: website (QR login), official_account (inside WeChat),
	// mini_program or mobile_app.
	Kind string `yaml:"kind"`
	// ViaPlatform: the id of the third-party platform an Official Account
	// is served through (its codes are exchanged with the platform's
	// component_access_token; the app then has no secret).
	ViaPlatform string `yaml:"via_platform"`
}

// WeChatPlatform is a WeChat third-party platform. WeChat pushes its
// component_verify_ticket to <public_url>/wechat/platforms/<id>/events.
type WeChatPlatform struct {
	ID             string `yaml:"id"`
	ComponentAppID string `yaml:"component_appid"`
	Secret         string `yaml:"secret"`
	// Token and EncodingAESKey are the message-encryption settings of the
	// platform ("消息校验Token", "消息加解密Key").
	Token          string `yaml:"token"`
	EncodingAESKey string `yaml:"encoding_aes_key"`
}

// Platform returns the platform with this id.
func (w WeChat) Platform(id string) (WeChatPlatform, bool) {
	for _, p := range w.Platforms {
		if p.ID == id {
			return p, true
		}
	}
	return WeChatPlatform{}, false
}

// App returns the app with this appid.
func (w WeChat) App(appID string) (WeChatApp, bool) {
	for _, a := range w.Apps {
		if a.AppID == appID {
			return a, true
		}
	}
	return WeChatApp{}, false
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
	// PerIPUnconfirmedHour: codes from one address not entered yet.
	PerIPUnconfirmedHour int `yaml:"per_ip_unconfirmed_hour"`
	PerIdentityDay       int `yaml:"per_identity_day"`
	GlobalDay            int `yaml:"global_day"`
	// DefaultRegion parses numbers written without a country code.
	DefaultRegion string `yaml:"default_region"`
	// AllowedRegions: the only regions whose numbers get codes (empty: any).
	AllowedRegions []string `yaml:"allowed_regions"`
	// Challenge: when a send first needs a proof-of-work challenge.
	Challenge Challenge `yaml:"challenge"`
}

// Challenge is otp.challenge (see otp.ChallengeConfig and docs/challenge.md).
type Challenge struct {
	Enabled       bool          `yaml:"enabled"`
	IPHour        int           `yaml:"ip_hour"`
	IPUnconfirmed int           `yaml:"ip_unconfirmed"`
	PhoneHour     int           `yaml:"phone_hour"`
	IdentityDay   int           `yaml:"identity_day"`
	GlobalHour    int           `yaml:"global_hour"`
	Difficulty    int64         `yaml:"difficulty"`
	TTL           time.Duration `yaml:"ttl"`
}

// ChallengeConfig converts the section for the otp package.
func (c Challenge) ChallengeConfig() otp.ChallengeConfig {
	return otp.ChallengeConfig{IPHour: c.IPHour, IPUnconfirmed: c.IPUnconfirmed, PhoneHour: c.PhoneHour,
		IdentityDay: c.IdentityDay, GlobalHour: c.GlobalHour, Difficulty: c.Difficulty, TTL: c.TTL}
}

// Help is the organisation's help line at the foot of every page.
type Help struct {
	Text   string `yaml:"text"`    // Chinese (and the fallback)
	TextEN string `yaml:"text_en"` // English
	URL    string `yaml:"url"`     // a page with more help (https)
}

func defaultOTP() OTP {
	d := otp.DefaultConfig()
	ch := otp.DefaultChallengeConfig()
	return OTP{
		PerIPUnconfirmedHour: d.PerIPUnconfirmedHour,
		Challenge: Challenge{Enabled: true, IPHour: ch.IPHour, IPUnconfirmed: ch.IPUnconfirmed, PhoneHour: ch.PhoneHour,
			IdentityDay: ch.IdentityDay, GlobalHour: ch.GlobalHour, Difficulty: ch.Difficulty, TTL: ch.TTL},
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
		PerIPUnconfirmedHour: o.PerIPUnconfirmedHour, Regions: o.AllowedRegions,
		PerIdentityDay: o.PerIdentityDay, GlobalDay: o.GlobalDay, Key: key,
		LoginGap: otp.DefaultConfig().LoginGap,
	}
}

// otpKeys names the otp.Config fields as config.yaml does (see OTPConfig), so
// that a problem carries the key path its line is found by. Key is derived
// and LoginGap fixed, not configured, and are missing on purpose; a field added to otp.Config but
// not here is still reported, under the section with its Go name.
var otpKeys = map[string]string{
	"Digits": "otp.digits", "TTL": "otp.ttl", "MaxAttempts": "otp.max_attempts", "Cooldown": "otp.resend_cooldown",
	"PerPhoneHour": "otp.per_phone_hour", "PerPhoneDay": "otp.per_phone_day", "PerIPHour": "otp.per_ip_hour",
	"PerIPUnconfirmedHour": "otp.per_ip_unconfirmed_hour", "Regions": "otp.allowed_regions",
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
		if app.ViaPlatform != "" {
			_, known := c.WeChat.Platform(app.ViaPlatform)
			add(!known, "%s.via_platform: %q is not a platform in wechat.platforms", path, app.ViaPlatform)
			add(app.Kind != "official_account", "%s.via_platform: only an official_account can be served through a platform", path)
			add(app.Secret != "", "%s.secret: an app served through a platform has no secret of its own (remove it)", path)
			continue
		}
		add(app.Secret == "", "%s.secret: required (or via_platform for an Official Account served through a third-party platform)", path)
		add(app.Secret != "" && !c.Sandbox.Enabled && !c.FromEnv(path+".secret"),
			"%s.secret: must come from the environment (e.g. ${WXCAS_WECHAT_SECRET_%d})", path, i)
	}
	p = append(p, c.validatePlatforms()...)

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
	for _, r := range c.OTP.AllowedRegions {
		add(phonenumbers.GetCountryCodeForRegion(strings.ToUpper(r)) == 0, "otp.allowed_regions: %q is not a region with phone numbers (two letters, such as CN or HK)", r)
	}
	if ch := c.OTP.Challenge; ch.Enabled {
		add(ch.IPHour < 0 || ch.IPUnconfirmed < 0 || ch.PhoneHour < 0 || ch.IdentityDay < 0 || ch.GlobalHour < 0,
			"otp.challenge: thresholds must not be negative (0 never asks)")
		add(ch.Difficulty < 1000 || ch.Difficulty > 1_000_000,
			"otp.challenge.difficulty: %d must be between 1000 and 1000000 (it doubles up to 8 times under pressure)", ch.Difficulty)
		add(ch.TTL < time.Minute || ch.TTL > time.Hour, "otp.challenge.ttl: %s must be between 1m and 1h", ch.TTL)
	}
	if h := c.Help; h.URL != "" {
		u, err := url.Parse(h.URL)
		add(err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "", "help.url: %q must be an absolute http(s) URL", h.URL)
	}
	return p
}

// platformIDPattern keeps a platform id usable in its event URL's path.
var platformIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// platformTokenPattern is WeChat's rule for the message Token: 3 to 32
// letters and digits.
var platformTokenPattern = regexp.MustCompile(`^[A-Za-z0-9]{3,32}$`)

func (c *Config) validatePlatforms() Problems {
	var p Problems
	add := func(bad bool, format string, args ...any) {
		if bad {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}
	ids, appids := map[string]bool{}, map[string]bool{}
	for i, pl := range c.WeChat.Platforms {
		path := fmt.Sprintf("wechat.platforms[%d]", i)
		add(!platformIDPattern.MatchString(pl.ID), "%s.id: %q must be 1-32 lower-case letters, digits, - or _ (it is part of the event URL)", path, pl.ID)
		add(ids[pl.ID], "%s.id: %s is listed twice", path, pl.ID)
		ids[pl.ID] = true
		add(!appIDPattern.MatchString(pl.ComponentAppID), "%s.component_appid: %q is not a WeChat appid", path, pl.ComponentAppID)
		add(appids[pl.ComponentAppID], "%s.component_appid: %s is listed twice", path, pl.ComponentAppID)
		appids[pl.ComponentAppID] = true
		for _, f := range []struct{ key, val string }{{"secret", pl.Secret}, {"token", pl.Token}, {"encoding_aes_key", pl.EncodingAESKey}} {
			add(f.val == "", "%s.%s: required", path, f.key)
			add(f.val != "" && !c.Sandbox.Enabled && !c.FromEnv(path+"."+f.key),
				"%s.%s: must come from the environment (e.g. ${WXCAS_PLATFORM_%s})", path, f.key, strings.ToUpper(f.key))
		}
		add(pl.Token != "" && !platformTokenPattern.MatchString(pl.Token), "%s.token: must be 3-32 letters and digits, as set on the platform", path)
		if pl.EncodingAESKey != "" {
			key, err := base64.StdEncoding.DecodeString(pl.EncodingAESKey + "=")
			add(len(pl.EncodingAESKey) != 43 || err != nil || len(key) != 32,
				"%s.encoding_aes_key: must be the platform's 43-character EncodingAESKey", path)
		}
		used := false
		for _, app := range c.WeChat.Apps {
			used = used || app.ViaPlatform == pl.ID
		}
		add(!used, "%s: no app in wechat.apps is served through platform %s (via_platform: %s)", path, pl.ID, pl.ID)
	}
	return p
}
