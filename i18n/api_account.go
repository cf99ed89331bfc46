package i18n

// The JSON API's own refusals of its /account calls (the account's
// refusals themselves are account.go's, shared with the page).
func init() {
	add(map[string]string{
		"session_required": "请先用微信登录。",
		"invalid_session":  "登录已失效，请重新用微信登录。",
	}, map[string]string{
		"session_required": "Please log in with WeChat first.",
		"invalid_session":  "Your login has ended. Please log in with WeChat again.",
	})
}
