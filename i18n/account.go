package i18n

// The account page ("my account") and the pages gated by a CAS sign-in.
func init() {
	add(map[string]string{
		"gate_signed_out":     "您已退出登录，操作未执行。请重新打开页面并登录。",
		"gate_ticket_invalid": "登录凭证无效或已过期，请重新打开页面。",
	}, map[string]string{
		"gate_signed_out":     "You are signed out, so nothing was done. Open the page again and sign in.",
		"gate_ticket_invalid": "The sign-in ticket is not valid or has expired. Open the page again.",
	})
}
