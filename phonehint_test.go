package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// otp.allowed_regions reaches the phone field's hint: with only mainland
// China allowed, the bind page offers no number from elsewhere (the send
// would refuse it).
func TestPhoneHintFollowsAllowedRegions(t *testing.T) {
	env := startFlowEnv(t, "otp: {allowed_regions: [CN]}\n")
	b := env.browser("")
	bind := b.get(b.scan(b.start(), "hint_cn_only"))
	require.Equal(t, http.StatusOK, bind.status, bind.body)
	require.Contains(t, bind.body, "请输入 11 位中国大陆手机号。")
	require.NotContains(t, bind.body, "&#43;852")
}
