package web

import (
	"net/http"

	"golang.org/x/text/language"
)

// Languages wxcas speaks, Chinese first (the default for anyone whose browser
// does not prefer English).
var (
	langTags    = []language.Tag{language.SimplifiedChinese, language.English}
	langMatcher = language.NewMatcher(langTags)
)

const (
	langZH     = "zh-CN"
	langEN     = "en"
	langCookie = "wxcas_lang"
)

// messages is the catalogue of user-facing text. Keys are stable ids; pages
// and JSON errors refer to them, never to raw error strings (details go to
// the log with the request id).
var messages = map[string]map[string]string{
	langZH: {
		"app_name":               "微信登录",
		"sandbox_banner":         "沙箱环境：模拟微信与短信，仅供测试，不是真实登录 · SANDBOX — simulated WeChat and SMS, not for real use",
		"request_id":             "请求编号",
		"try_again":              "重新开始",
		"error_title":            "出错了",
		"error_internal":         "系统暂时出现问题，请稍后再试。如果问题持续存在，请联系管理员并提供下方的请求编号。",
		"error_unavailable":      "服务暂时不可用，请稍后再试。",
		"error_not_found":        "页面不存在。",
		"error_bad_request":      "请求无效。",
		"error_method":           "不支持此请求方式。",
		"error_too_large":        "请求内容过大。",
		"error_too_many":         "操作过于频繁，请稍后再试。",
		"error_forbidden":        "请求被拒绝。请返回原网站重新登录。",
		"service_missing_title":  "缺少要登录的网站",
		"service_missing":        "链接缺少 service 参数。请从要访问的网站重新发起登录。",
		"service_unknown_title":  "未登记的网站",
		"service_unknown":        "该网站未在本登录服务登记，出于安全考虑无法为其登录。请联系网站管理员。",
		"logged_out_title":       "已退出登录",
		"logged_out":             "您已安全退出统一身份认证。为保护账号安全，请关闭浏览器。",
		"logged_in_title":        "已登录",
		"logged_in":              "您已登录统一身份认证，现在可以访问已接入的网站。",
		"redirecting":            "正在跳转…",
		"continue":               "继续",
		"login_title":            "微信扫码登录",
		"login_for":              "登录到",
		"qr_instructions":        "请使用微信扫描二维码，并在手机上确认登录。",
		"qr_label":               "微信登录二维码",
		"qr_help":                "二维码过期或无法显示？",
		"qr_refresh":             "刷新二维码",
		"mobile_title":           "请在微信中打开",
		"mobile_in_browser":      "手机无法扫描自己屏幕上的二维码。请复制下面的链接，在微信中打开（可发送到“文件传输助手”后点击），或在电脑上打开登录页面。",
		"mobile_in_wechat_no_oa": "本服务暂不支持在微信内直接登录。请复制下面的链接，在电脑浏览器中打开并扫码登录。",
		"mobile_copy_label":      "登录链接",
		"mobile_copy_help":       "长按或点击链接即可复制。",
		"mobile_show_qr":         "仍然显示二维码",
		"bind_title":             "绑定手机号",
		"bind_hello":             "你好，",
		"bind_explain":           "首次使用微信登录，请绑定你在本单位登记的手机号。我们会发送一条短信验证码。",
		"phone_label":            "手机号",
		"send_code":              "发送验证码",
		"code_title":             "输入短信验证码",
		"code_sent_to":           "验证码已发送至",
		"code_label":             "验证码",
		"verify":                 "验证并登录",
		"resend":                 "重新发送",
		"change_phone":           "更换手机号",
		"post_redirect_help":     "请点击“继续”返回网站。",
		"err_phone_invalid":      "手机号格式不正确，请检查后重新输入。",
		"err_rate_limited":       "验证码发送过于频繁，请稍后再试。",
		"err_retry_in":           "请在 %s 后重试。",
		"err_budget":             "短信服务今日额度已用完，请稍后再试或联系管理员。",
		"err_sms_failed":         "短信发送失败，请确认手机号正确或稍后再试。",
		"err_unknown_phone":      "该手机号未在本单位登记，无法绑定。请联系管理员。",
		"err_wrong_code":         "验证码不正确。",
		"err_malformed_code":     "请完整输入短信中的数字验证码（只含数字）。本次输入不计入尝试次数。",
		"err_attempts_left":      "还可尝试 %d 次。",
		"err_code_expired":       "验证码已过期或已失效，请重新获取。",
		"err_too_many_attempts":  "错误次数过多，该验证码已失效，请重新获取。",
		"err_user_bound":         "该手机号对应的账号已绑定其他微信。如需更换，请联系管理员。",
		"err_person_bound":       "该微信已绑定其他账号。",
		"flow_expired_title":     "登录已过期",
		"flow_expired":           "本次登录已超时或已在其他浏览器中打开。请返回网站重新登录。",
		"state_invalid_title":    "登录链接已失效",
		"state_invalid":          "该登录链接已使用或已过期。为保护账号安全，请重新登录。",
		"wechat_refused_title":   "已取消授权",
		"wechat_refused":         "你在微信中取消了授权。如需登录，请重新扫码并确认。",
		"wechat_failed_title":    "微信登录失败",
		"wechat_failed":          "微信授权未能完成，请重新扫码。",
		"wechat_busy":            "微信服务繁忙，请稍后重新扫码。",
		"snapshot_title":         "请允许使用完整服务",
		"snapshot":               "当前为微信“快照页”模式，无法完成登录。请点击页面底部的“使用完整服务”，或重新打开链接并同意授权。",
		"service_invalid":        "链接中的网站地址无效。请从要访问的网站重新发起登录。",
		"method_unsupported":     "不支持该登录方式。",
		"login_unavailable":      "登录服务暂时不可用，请稍后再试。",
		"principal_invalid":      "账号信息异常，无法登录。请联系管理员。",
		"back_to_login":          "返回登录",
	},
	langEN: {
		"app_name":               "Log in with WeChat",
		"sandbox_banner":         "SANDBOX — simulated WeChat and SMS, not for real use · 沙箱环境，仅供测试",
		"request_id":             "Request ID",
		"try_again":              "Start again",
		"error_title":            "Something went wrong",
		"error_internal":         "Something went wrong on our side. Please try again later. If it keeps happening, contact your administrator and quote the request ID below.",
		"error_unavailable":      "The service is temporarily unavailable. Please try again in a moment.",
		"error_not_found":        "This page does not exist.",
		"error_bad_request":      "The request is not valid.",
		"error_method":           "This request method is not supported.",
		"error_too_large":        "The request is too large.",
		"error_too_many":         "Too many attempts. Please wait a little and try again.",
		"error_forbidden":        "The request was refused. Please go back to the site and log in again.",
		"service_missing_title":  "Which site are you logging in to?",
		"service_missing":        "The link has no service parameter. Please start the login again from the site you want to use.",
		"service_unknown_title":  "Unregistered site",
		"service_unknown":        "This site is not registered with this login service, so we cannot log you in to it. Please contact the site's administrator.",
		"logged_out_title":       "Logged out",
		"logged_out":             "You have logged out of single sign-on. For your security, close your browser.",
		"logged_in_title":        "Logged in",
		"logged_in":              "You are logged in to single sign-on and can now use the connected sites.",
		"redirecting":            "Redirecting…",
		"continue":               "Continue",
		"login_title":            "Log in with WeChat",
		"login_for":              "Logging in to",
		"qr_instructions":        "Scan the QR code with WeChat and confirm on your phone.",
		"qr_label":               "WeChat login QR code",
		"qr_help":                "QR code expired or not showing?",
		"qr_refresh":             "Refresh the QR code",
		"mobile_title":           "Open this in WeChat",
		"mobile_in_browser":      "A phone cannot scan its own screen. Copy the link below and open it in WeChat (for example send it to File Transfer and tap it), or open the login page on a computer.",
		"mobile_in_wechat_no_oa": "Logging in inside WeChat is not available here. Copy the link below, open it in a browser on a computer and scan the QR code.",
		"mobile_copy_label":      "Login link",
		"mobile_copy_help":       "Tap the link to select it, then copy.",
		"mobile_show_qr":         "Show the QR code anyway",
		"bind_title":             "Link your phone number",
		"bind_hello":             "Hello,",
		"bind_explain":           "This is your first WeChat login. Enter the phone number registered with your organisation and we will text you a code.",
		"phone_label":            "Phone number",
		"send_code":              "Send code",
		"code_title":             "Enter the code",
		"code_sent_to":           "We sent a code to",
		"code_label":             "Code",
		"verify":                 "Verify and log in",
		"resend":                 "Send again",
		"change_phone":           "Use another number",
		"post_redirect_help":     "Press Continue to return to the site.",
		"err_phone_invalid":      "That phone number does not look right. Please check it.",
		"err_rate_limited":       "Too many codes requested.",
		"err_retry_in":           "Try again in %s.",
		"err_budget":             "Text messages are unavailable for today. Please try later or contact your administrator.",
		"err_sms_failed":         "We could not send the text message. Check the number or try again later.",
		"err_unknown_phone":      "This phone number is not registered with your organisation. Please contact your administrator.",
		"err_wrong_code":         "That code is not right.",
		"err_malformed_code":     "Enter the whole code from the text message, digits only. This try was not counted.",
		"err_attempts_left":      "%d attempt(s) left.",
		"err_code_expired":       "The code has expired or was replaced. Please request a new one.",
		"err_too_many_attempts":  "Too many wrong codes: this code no longer works. Please request a new one.",
		"err_user_bound":         "The account for this phone number is already linked to another WeChat account. Please contact your administrator to change it.",
		"err_person_bound":       "This WeChat account is already linked to another account.",
		"flow_expired_title":     "Login expired",
		"flow_expired":           "This login timed out or was opened in another browser. Please go back to the site and log in again.",
		"state_invalid_title":    "Login link no longer valid",
		"state_invalid":          "This login link was already used or has expired. To keep your account safe, please log in again.",
		"wechat_refused_title":   "Authorization cancelled",
		"wechat_refused":         "You cancelled the authorization in WeChat. To log in, scan again and confirm.",
		"wechat_failed_title":    "WeChat login failed",
		"wechat_failed":          "The WeChat authorization could not be completed. Please scan again.",
		"wechat_busy":            "WeChat is busy right now. Please scan again in a moment.",
		"snapshot_title":         "Please allow the full service",
		"snapshot":               "WeChat opened this page in preview (snapshot) mode, where logging in is not possible. Tap “Use full service” at the bottom, or open the link again and allow the authorization.",
		"service_invalid":        "The site address in the link is not valid. Please start the login again from the site you want to use.",
		"method_unsupported":     "This login method is not supported.",
		"login_unavailable":      "Login is temporarily unavailable. Please try again later.",
		"principal_invalid":      "Your account cannot log in. Please contact your administrator.",
		"back_to_login":          "Back to login",
	},
}

// translate returns the text for key in lang, falling back to Chinese, then
// to the key itself (a missing key is visible in tests rather than blank).
func translate(lang, key string) string {
	if s, ok := messages[lang][key]; ok {
		return s
	}
	if s, ok := messages[langZH][key]; ok {
		return s
	}
	return key
}

// pickLang chooses the page language: an explicit ?lang=, then the language
// cookie, then Accept-Language; Chinese when nothing matches.
func pickLang(r *http.Request) string {
	if l := normLang(r.URL.Query().Get("lang")); l != "" {
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil {
		if l := normLang(c.Value); l != "" {
			return l
		}
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return langZH
	}
	_, idx, conf := langMatcher.Match(tags...)
	if conf == language.No {
		return langZH
	}
	if idx == 1 {
		return langEN
	}
	return langZH
}

func normLang(s string) string {
	switch s {
	case "zh", "zh-CN", "zh-cn", "zh_CN", "cn":
		return langZH
	case "en", "en-US", "en-us", "en_US", "en-GB":
		return langEN
	}
	return ""
}
