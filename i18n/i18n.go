// Package i18n is the one catalogue of text wxcas shows to people and the one
// rule for choosing its language, shared by the HTML pages and the JSON API so
// that a login refused on a page and in an app reads the same.
//
// Keys are stable ids. A login outcome's key is the JSON API's error code
// (wrong_code, rate_limited, ...), so an app can show the same message the
// page would.
package i18n

import (
	"net/http"

	"golang.org/x/text/language"
)

// The languages wxcas speaks.
const (
	ZH = "zh-CN"
	EN = "en"
	// CookieName remembers a language chosen with ?lang= on a page.
	CookieName = "wxcas_lang"
)

// Chinese first: the matcher falls back to its first tag, and Chinese is the
// default for anyone whose browser does not prefer English.
var matcher = language.NewMatcher([]language.Tag{language.SimplifiedChinese, language.English})

// Pick chooses the language of an answer: an explicit ?lang=, then the
// language cookie, then Accept-Language; Chinese when nothing matches.
func Pick(r *http.Request) string {
	if l := Norm(r.URL.Query().Get("lang")); l != "" {
		return l
	}
	if c, err := r.Cookie(CookieName); err == nil {
		if l := Norm(c.Value); l != "" {
			return l
		}
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return ZH
	}
	_, idx, conf := matcher.Match(tags...)
	if conf != language.No && idx == 1 {
		return EN
	}
	return ZH
}

// Norm maps the spellings people and links use for a language to ZH or EN,
// and anything else to "".
func Norm(s string) string {
	switch s {
	case "zh", "zh-CN", "zh-cn", "zh_CN", "cn":
		return ZH
	case "en", "en-US", "en-us", "en_US", "en-GB":
		return EN
	}
	return ""
}

// T returns the text for key in lang, falling back to Chinese, then to the
// key itself: a missing key shows up visibly in tests rather than as blank.
func T(lang, key string) string {
	if s, ok := catalogue[lang][key]; ok {
		return s
	}
	if s, ok := catalogue[ZH][key]; ok {
		return s
	}
	return key
}

// Has reports whether key is catalogued (every language has the same keys;
// the tests hold the catalogue to that).
func Has(key string) bool {
	_, ok := catalogue[ZH][key]
	return ok
}

// catalogue: details of a failure never appear here; they go to the log
// with the request id.
//
// The Chinese text addresses the person as 你, never 您, everywhere (one
// voice): WeChat's own screens, which a login goes back and forth to, say 你,
// and a page that switches between the two reads as two authors. Full-width
// punctuation takes no space after it; a number or Latin word next to Han
// characters gets one space (Duration, Join).
var catalogue = map[string]map[string]string{
	ZH: {
		// Pages.
		"app_name":               "微信登录",
		"sandbox_banner":         "沙箱环境：模拟微信与短信，仅供测试，不是真实登录 · SANDBOX — simulated WeChat and SMS, not for real use",
		"request_id":             "请求编号",
		"request_id_label":       "请求编号：",
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
		"logged_out":             "你已安全退出统一身份认证。为保护账号安全，请关闭浏览器。",
		"logged_in_title":        "已登录",
		"logged_in":              "你已登录统一身份认证，现在可以访问已接入的网站。",
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
		"mobile_copy_help":       "点击链接即可选中，然后复制。",
		"mobile_show_qr":         "仍然显示二维码",
		"bind_title":             "绑定手机号",
		"bind_hello":             "你好，%s",
		"bind_explain":           "首次使用微信登录，请绑定你在本单位登记的手机号。我们会发送一条短信验证码。",
		"phone_label":            "手机号",
		"send_code":              "发送验证码",
		"code_title":             "输入短信验证码",
		"code_sent_to":           "验证码已发送至",
		"code_label":             "验证码",
		"verify":                 "验证并登录",
		"resend":                 "重新发送",
		"change_phone":           "更换手机号",

		// The phone step: which numbers, why, the wait and the challenge.
		"phone_hint_cn":              "中国大陆手机号直接输入 11 位号码；其他国家和地区的号码请以 + 和国家代码开头，如 %s。",
		"phone_hint_cn_only":         "请输入 11 位中国大陆手机号。",
		"phone_hint_other":           "不带国家代码的号码按%s号码处理（+%d）；其他号码请以 + 和国家代码开头，如 %s。",
		"phone_hint_other_only":      "请输入%s手机号（+%d）。",
		"bind_why_title":             "为什么要绑定手机号？",
		"bind_why":                   "微信只告诉我们“这是同一个微信”，不告诉我们你是谁。绑定在本单位登记的手机号后，我们就能把这个微信和你的账号对应起来。只需绑定一次，以后扫码即可直接登录。手机号只用于确认身份，不会用于营销。",
		"resend_in":                  "%s后可重新发送",
		"resend_ready":               "现在可以重新发送验证码了。",
		"change_phone_now":           "换一个号码可以立即获取验证码。",
		"change_phone_wait":          "换一个号码也需要等待 %s（本网络或本微信的发送次数已达上限）。",
		"challenge_required":         "为防止短信被滥用，发送前需要先完成下面的安全验证（在浏览器中自动计算，通常只需几秒）。",
		"challenge_failed":           "安全验证未通过或已过期，已换一个新的验证，请等它完成后再发送。",
		"challenge_explain":          "为防止短信被滥用，这次发送前需要一次安全验证：浏览器会自动完成，无需任何操作，完成后再点“发送验证码”。",
		"challenge_explain_resend":   "为防止短信被滥用，重新发送前需要一次安全验证：浏览器会自动完成，无需任何操作。",
		"challenge_label":            "安全验证",
		"challenge_verified":         "验证完成",
		"challenge_verifying":        "正在验证…",
		"challenge_wait":             "正在验证，请稍候…",
		"challenge_error":            "验证失败，请刷新页面重试。",
		"challenge_expired":          "验证已过期，请刷新页面。",
		"challenge_required_short":   "请先完成安全验证。",
		"help":                       "帮助",
		"logged_in_as":               "当前账号：%s",
		"logout":                     "退出登录",
		"qr_new":                     "获取新的二维码",
		"logged_out_back":            "返回",
		"logged_out_back_plain":      "返回原网站",
		"qr_expires":                 "二维码 %s内有效，过期后页面会自动换一个新的。",
		"qr_refreshed":               "二维码已过期，已为你换了一个新的。",
		"post_redirect_help":         "请点击“继续”返回网站。",
		"err_retry_in":               "请在 %s后重试。",
		"err_attempts_left":          "还可尝试 %d 次。",
		"err_attempts_left_one":      "还可尝试 %d 次。",
		"flow_expired_title":         "登录已过期",
		"flow_expired":               "本次登录已超时或已在其他浏览器中打开。请返回网站重新登录。",
		"journey_expired_title":      "登录已过期",
		"journey_expired":            "本次登录已超时或已在其他浏览器中打开。请点击“重新登录”，为同一网站重新开始。",
		"journey_expired_code":       "输入验证码时本次登录已过期。请重新开始登录，我们会发送新的验证码。",
		"restart_login":              "重新登录",
		"login_cancelled_title":      "已取消登录",
		"login_cancelled":            "你已取消本次登录。如需登录，可随时重新开始。",
		"cancel_login":               "取消登录",
		"login_ended_title":          "本次登录已结束",
		"login_ended":                "本次登录已结束，无法继续。如需登录，请点击“重新登录”。",
		"state_invalid_title":        "登录链接已失效",
		"state_invalid":              "该登录链接已使用或已过期。为保护账号安全，请重新登录。",
		"wechat_refused_title":       "已取消授权",
		"wechat_refused":             "你在微信中取消了授权。如需登录，请重新扫码并确认。",
		"wechat_failed_title":        "微信登录失败",
		"wechat_failed":              "微信授权未能完成，请重新扫码。",
		"wechat_busy":                "微信服务繁忙，请稍后重新扫码。",
		"account_unauthorized_title": "无法通过该公众号登录",
		"entry_unknown_title":        "入口链接有误",
		"entry_unknown":              "此链接指定的应用不是本单位登记的公众号，无法登录。请从公众号菜单重新进入，或联系管理员。",
		"snapshot_title":             "请允许使用完整服务",
		"snapshot":                   "当前为微信“快照页”模式，无法完成登录。请点击页面底部的“使用完整服务”，或重新打开链接并同意授权。",
		"service_invalid":            "链接中的网站地址无效。请从要访问的网站重新发起登录。",
		"method_unsupported":         "不支持该登录方式。",
		"login_unavailable":          "登录服务暂时不可用，请稍后再试。",
		"authorization_expired":      "这次登录请求已过期或无效。请回到应用重新登录。",
		"authorization_invalid":      "这个应用的登录请求无效：应用未登记，或回调地址与登记的不符。请联系应用的开发者。",
		"logout_invalid":             "这个退出登录请求无效。请关闭页面，或回到应用重试。",
		"authorization_malformed":    "这个登录请求的格式不对：有参数重复、参数名不是小写，或请求过长。请联系应用的开发者。",
		"principal_invalid":          "账号信息异常，无法登录。请联系管理员。",
		"back_to_login":              "返回登录",

		// Login outcomes: pages and the JSON API (keys are API error codes).
		"invalid_phone":            "手机号格式不正确，请检查后重新输入。",
		"phone_region_unsupported": "暂不支持向该国家或地区的手机号发送验证码。请使用本单位登记的手机号，或联系管理员。",
		"rate_limited":             "操作过于频繁。",
		"sms_budget_exhausted":     "短信服务今日额度已用完，请稍后再试或联系管理员。",
		"sms_failed":               "短信发送失败，请确认手机号正确或稍后再试。",
		"unknown_phone":            "该手机号未在本单位登记，无法绑定。请联系管理员。",
		"wrong_code":               "验证码不正确。",
		"malformed_code":           "请完整输入短信中的数字验证码（只含数字）。本次输入不计入尝试次数。",
		"code_expired":             "验证码已过期或已失效，请重新获取。",
		"too_many_attempts":        "错误次数过多，该验证码已失效，请重新获取。",
		"user_bound_elsewhere":     "该手机号对应的账号已绑定其他微信。请用原来的微信登录，在“我的账号”（/account）中更换微信；原来的微信无法使用时，请联系管理员解除绑定。",
		"already_bound":            "该微信已绑定其他账号，请重新登录。",

		// JSON API errors with no page counterpart.
		"invalid_request":        "请求无效。",
		"unsupported_media_type": "请求内容必须是 JSON（Content-Type: application/json）。",
		"request_too_large":      "请求内容过大。",
		"method_not_allowed":     "不支持此请求方式。",
		"not_found":              "接口不存在。",
		"unknown_app":            "未登记的应用（appid）。",
		"unsupported_app_kind":   "此类应用不能使用该接口。",
		"invalid_wechat_code":    "微信授权码无效或已过期，请重新获取。",
		"wechat_code_used":       "微信授权码已被使用，请重新获取。",
		"wechat_login_blocked":   "微信判定本次登录存在风险，已拦截。",
		"wechat_unavailable":     "暂时无法连接微信，请稍后再试。",
		"account_unauthorized":   "该公众号已停止授权本单位的登录服务，暂时无法通过它登录。请从其他入口进入，或联系管理员。",
		"invalid_bind_token":     "绑定凭证无效或已使用，请重新登录。",
		"bind_token_expired":     "绑定凭证已过期，请重新登录。",
		"no_code":                "没有待验证的验证码，请重新获取。",
		"snapshot_user":          "请在微信中使用完整服务后重新登录。",
		"unavailable":            "服务暂时不可用，请稍后再试。",
		"internal_error":         "系统暂时出现问题，请稍后再试。如果问题持续存在，请联系管理员并提供请求编号。",
	},
	EN: {
		// Pages.
		"app_name":               "Log in with WeChat",
		"sandbox_banner":         "SANDBOX — simulated WeChat and SMS, not for real use · 沙箱环境，仅供测试",
		"request_id":             "Request ID",
		"request_id_label":       "Request ID: ",
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
		"bind_hello":             "Hello, %s",
		"bind_explain":           "This is your first WeChat login. Enter the phone number registered with your organisation and we will text you a code.",
		"phone_label":            "Phone number",
		"send_code":              "Send code",
		"code_title":             "Enter the code",
		"code_sent_to":           "We sent a code to",
		"code_label":             "Code",
		"verify":                 "Verify and log in",
		"resend":                 "Send again",
		"change_phone":           "Use another number",

		// The phone step: which numbers, why, the wait and the challenge.
		"phone_hint_cn":              "Mainland China numbers: type the 11 digits. Other numbers: start with + and the country code, e.g. %s.",
		"phone_hint_cn_only":         "Type the 11 digits of a mainland China number.",
		"phone_hint_other":           "Numbers without a country code are read as %s numbers (+%d); others start with + and the country code, e.g. %s.",
		"phone_hint_other_only":      "Type a %s number (+%d).",
		"bind_why_title":             "Why link a phone number?",
		"bind_why":                   "WeChat only tells us that this is the same WeChat account, not who you are. Linking the phone number your organisation has on record connects this WeChat account to your account. You do this once; after that, scanning is enough. The number is only used to confirm who you are, never for marketing.",
		"resend_in":                  "You can send again in %s.",
		"resend_ready":               "You can send the code again now.",
		"change_phone_now":           "Another number can get a code straight away.",
		"change_phone_wait":          "Another number would also have to wait %s (this network or WeChat account has reached its limit).",
		"challenge_required":         "To stop abuse of text messages, a quick security check must finish first (your browser works it out, usually in a few seconds).",
		"challenge_failed":           "The security check did not pass or has expired. A new one is running; send again when it has finished.",
		"challenge_explain":          "To stop abuse of text messages, this send needs a security check. Your browser does it by itself; press “Send code” once it says it is done.",
		"challenge_explain_resend":   "To stop abuse of text messages, sending again needs a security check. Your browser does it by itself.",
		"challenge_label":            "Security check",
		"challenge_verified":         "Check complete",
		"challenge_verifying":        "Checking…",
		"challenge_wait":             "Checking, please wait…",
		"challenge_error":            "The check failed. Reload the page and try again.",
		"challenge_expired":          "The check has expired. Please reload the page.",
		"challenge_required_short":   "Please let the security check finish first.",
		"help":                       "Help",
		"logged_in_as":               "Signed in as %s",
		"logout":                     "Log out",
		"qr_new":                     "Get a new QR code",
		"logged_out_back":            "Back to",
		"logged_out_back_plain":      "Back to the site",
		"qr_expires":                 "This QR code works for %s; after that the page shows a new one by itself.",
		"qr_refreshed":               "The QR code had expired, so here is a new one.",
		"post_redirect_help":         "Press Continue to return to the site.",
		"err_retry_in":               "Try again in %s.",
		"err_attempts_left":          "%d attempts left.",
		"err_attempts_left_one":      "%d attempt left.",
		"flow_expired_title":         "Login expired",
		"flow_expired":               "This login timed out or was opened in another browser. Please go back to the site and log in again.",
		"journey_expired_title":      "Login expired",
		"journey_expired":            "This login timed out or was opened in another browser. Press “Log in again” to start over for the same site.",
		"journey_expired_code":       "This login had expired by the time the code was entered. Please start again; we will send you a new code.",
		"restart_login":              "Log in again",
		"login_cancelled_title":      "Login cancelled",
		"login_cancelled":            "You cancelled this login. You can start again at any time.",
		"cancel_login":               "Cancel",
		"login_ended_title":          "This login has ended",
		"login_ended":                "This login has ended and cannot go on. Press “Log in again” to start over.",
		"state_invalid_title":        "Login link no longer valid",
		"state_invalid":              "This login link was already used or has expired. To keep your account safe, please log in again.",
		"wechat_refused_title":       "Authorization cancelled",
		"wechat_refused":             "You cancelled the authorization in WeChat. To log in, scan again and confirm.",
		"wechat_failed_title":        "WeChat login failed",
		"wechat_failed":              "The WeChat authorization could not be completed. Please scan again.",
		"wechat_busy":                "WeChat is busy right now. Please scan again in a moment.",
		"account_unauthorized_title": "This Official Account cannot log you in",
		"entry_unknown_title":        "This link is not right",
		"entry_unknown":              "The app this link names is not one of our Official Accounts, so it cannot log you in. Open the page again from the Official Account's menu, or contact your administrator.",
		"snapshot_title":             "Please allow the full service",
		"snapshot":                   "WeChat opened this page in preview (snapshot) mode, where logging in is not possible. Tap “Use full service” at the bottom, or open the link again and allow the authorization.",
		"service_invalid":            "The site address in the link is not valid. Please start the login again from the site you want to use.",
		"method_unsupported":         "This login method is not supported.",
		"login_unavailable":          "Login is temporarily unavailable. Please try again later.",
		"authorization_expired":      "This login request has expired or is not valid. Please go back to the app and log in again.",
		"authorization_invalid":      "This app's login request is not valid: the app is not registered, or its return address does not match the registered one. Please contact the app's developers.",
		"logout_invalid":             "This logout request is not valid. Close this page, or go back to the app and try again.",
		"authorization_malformed":    "This login request is malformed: a parameter is repeated, a name is not in lower case, or the request is too long. Please contact the app's developers.",
		"principal_invalid":          "Your account cannot log in. Please contact your administrator.",
		"back_to_login":              "Back to login",

		// Login outcomes: pages and the JSON API (keys are API error codes).
		"invalid_phone":            "That phone number does not look right. Please check it.",
		"phone_region_unsupported": "Codes cannot be sent to numbers of this country or region. Use the number your organisation has on record, or contact your administrator.",
		"rate_limited":             "Too many requests.",
		"sms_budget_exhausted":     "Text messages are unavailable for today. Please try later or contact your administrator.",
		"sms_failed":               "We could not send the text message. Check the number or try again later.",
		"unknown_phone":            "This phone number is not registered with your organisation. Please contact your administrator.",
		"wrong_code":               "That code is not right.",
		"malformed_code":           "Enter the whole code from the text message, digits only. This try was not counted.",
		"code_expired":             "The code has expired or was replaced. Please request a new one.",
		"too_many_attempts":        "Too many wrong codes: this code no longer works. Please request a new one.",
		"user_bound_elsewhere":     "The account for this phone number is already linked to another WeChat account. Log in with that WeChat account and replace it under My account (/account); if you no longer have it, ask your administrator to unlink it.",
		"already_bound":            "This WeChat account is already linked to another account. Please log in again.",

		// JSON API errors with no page counterpart.
		"invalid_request":        "The request is not valid.",
		"unsupported_media_type": "The request body must be JSON (Content-Type: application/json).",
		"request_too_large":      "The request body is too large.",
		"method_not_allowed":     "This method is not allowed here.",
		"not_found":              "There is no such API endpoint.",
		"unknown_app":            "This appid is not registered.",
		"unsupported_app_kind":   "This kind of app cannot use this endpoint.",
		"invalid_wechat_code":    "The WeChat code is invalid or has expired. Get a new one.",
		"wechat_code_used":       "The WeChat code has already been used. Get a new one.",
		"wechat_login_blocked":   "WeChat blocked this login as risky.",
		"wechat_unavailable":     "WeChat cannot be reached right now. Please try again later.",
		"account_unauthorized":   "This Official Account no longer lets us log you in. Please use another way in, or contact your administrator.",
		"invalid_bind_token":     "The bind token is invalid or was already used. Please log in again.",
		"bind_token_expired":     "The bind token has expired. Please log in again.",
		"no_code":                "There is no code waiting to be verified. Request a new one.",
		"snapshot_user":          "Open the full service in WeChat, then log in again.",
		"unavailable":            "The service is briefly unavailable. Please try again in a moment.",
		"internal_error":         "Something went wrong on our side. Please try again later. If it keeps happening, contact your administrator and quote the request ID.",
	},
}

// add merges a part of the catalogue kept in a file of its own (a page
// family's text: the account page, the admin console). A key given twice is
// a programming error, found at start-up by every test.
func add(zh, en map[string]string) {
	for lang, part := range map[string]map[string]string{ZH: zh, EN: en} {
		for k, v := range part {
			if _, dup := catalogue[lang][k]; dup {
				panic("i18n: key " + k + " defined twice")
			}
			catalogue[lang][k] = v
		}
	}
}
