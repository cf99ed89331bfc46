package i18n

// The JSON API's own wording of refusals whose page text speaks of the page
// (a check "below", worked out by "your browser"): an app or a mini program
// shows the API's message to people who see neither.
func init() {
	add(map[string]string{
		"api_challenge_required": "发送验证码前需要先完成安全验证。",
		"api_challenge_failed":   "安全验证未通过或已过期，请完成新的安全验证后再发送。",
	}, map[string]string{
		"api_challenge_required": "A security check is needed before a code can be sent.",
		"api_challenge_failed":   "The security check did not pass or has expired. Complete the new one, then send again.",
	})
}
