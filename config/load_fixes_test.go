package config

import (
	"os"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"wxcas/otp"
)

// sandboxBase is a valid sandbox file on the default loopback address, for
// tests that put one mistake before it.
const sandboxBase = "sandbox: {enabled: true}\n" + appsYAML

// TestReportedProblems: each problem names its exact key path and line, and
// none hides another.
func TestReportedProblems(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       []string
	}{
		// yaml truncates a float decoded into an int (4.9 gave 4-digit codes).
		{"fraction in an int", "otp:\n  digits: 4.9\n", nil, []string{
			`otp.digits: expected a whole number, got "4.9" (line 2)`}},
		{"fraction rounding up", "otp:\n  digits: 6.5\n", nil, []string{
			`otp.digits: expected a whole number, got "6.5" (line 2)`}},
		{"exponent", "otp:\n  max_attempts: 1e1\n", nil, []string{
			`otp.max_attempts: expected a whole number, got "1e1" (line 2)`}},
		{"whole float", "otp: {digits: 6.0}\n", nil, []string{
			`otp.digits: expected a whole number, got "6.0" (line 1)`}},
		{"negative infinity", "database: {max_open_conns: -.inf}\n", nil, []string{
			`database.max_open_conns: expected a whole number, got "-.inf" (line 1)`}},
		{"fraction from a variable", "otp:\n  digits: ${D}\n", map[string]string{"D": "4.9"}, []string{
			`otp.digits: expected a whole number, got "${D}" (the expanded value is not shown) (line 2)`}},
		{"int64 field", "api: {max_body_bytes: 2048.5}\n", nil, []string{
			`api.max_body_bytes: expected a whole number, got "2048.5" (line 1)`}},
		{"duration as a bare number", "otp:\n  ttl: 300\n  resend_cooldown: 1.5\n", nil, []string{
			`otp.ttl: expected a duration (such as 30s, 5m or 8h), got "300" (line 2)`,
			`otp.resend_cooldown: expected a duration (such as 30s, 5m or 8h), got "1.5" (line 3)`}},

		{"duplicate key alone", "server:\n  listen: 127.0.0.1:1\n  listen: 127.0.0.1:2\n", nil, []string{
			`server.listen: defined twice (lines 2 and 3)`}},
		// yaml's own refusal was dropped whenever a value was mistyped.
		{"duplicate key beside a wrong type", "server:\n  listen: 127.0.0.1:1\n  listen: 127.0.0.1:2\nlog: {format: [x]}\n", nil, []string{
			`server.listen: defined twice (lines 2 and 3)`,
			`log.format: expected a text value, got a list (line 4)`}},
		{"duplicate section, in file order", "otp: {digits: 2}\nlog: {level: info}\nlog: {level: debug}\notp2: 1\n", nil, []string{
			`otp.digits: must be between 4 and 10 (got 2) (line 1)`,
			`log: defined twice (lines 2 and 3)`,
			`otp2: unknown key (line 4)`}},
		{"three times, inside a list", "cas: {services: [{id: a, id: b, name: A, match: exact, url: /x, id: c}]}\n", nil, []string{
			`cas.services[0].id: defined 3 times (lines 1, 1 and 1)`}},

		// Was "otp.cooldown must not be negative", with no line, sorted first.
		{"otp cooldown by its key", "log: {format: xml}\notp:\n  resend_cooldown: -1s\n", nil, []string{
			`log.format: "xml" must be text or json (line 1)`,
			`otp.resend_cooldown: must not be negative (got -1s) (line 3)`}},
		{"otp cooldown too long", "otp:\n  resend_cooldown: 25h\n", nil, []string{
			`otp.resend_cooldown: must be at most 24h (got 25h0m0s) (line 2)`}},
		{"otp limits by their keys", "otp:\n  per_phone_hour: 11\n  global_day: -1\n", nil, []string{
			`otp.per_phone_hour: 11 is larger than per_phone_day (10) (line 2)`,
			`otp.global_day: must not be negative (0 disables it; got -1) (line 3)`}},

		{"required variable set but empty", "database:\n  driver: mysql\n  dsn: ${DSN}\n", map[string]string{"DSN": ""}, []string{
			`database.dsn: environment variable DSN is empty or not set (line 3)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml+sandboxBase), env(tc.env))
			var p Problems
			require.ErrorAs(t, err, &p)
			require.Equal(t, tc.want, []string(p))
		})
	}
}

// TestWholeNumberKinds: unsigned fields (none in config.yaml today) take only
// a whole number written as one, too.
func TestWholeNumberKinds(t *testing.T) {
	tests := []struct {
		value string
		typ   any
		ok    bool
	}{
		{"7", uint(0), true},
		{"7.5", uint(0), false},
		{"1e1", uint64(0), false},
		{"0x10", int(0), true},
		{"10", int32(0), true},
		{"1.0", int32(0), false},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			var doc yaml.Node
			require.NoError(t, yaml.Unmarshal([]byte(tc.value), &doc))
			w := &walker{reported: map[string]bool{}, written: map[*yaml.Node]string{}, emptyEnv: map[*yaml.Node]bool{}}
			got := w.typeProblems(doc.Content[0], reflect.TypeOf(tc.typ), "x")
			require.Equal(t, tc.ok, len(got) == 0, "%v", got)
		})
	}
}

// TestOTPKeysCoverOTPConfig: every otp.Config field a file sets has its
// config.yaml key, so its problems carry a line (Key is derived, LoginGap
// not configurable).
func TestOTPKeysCoverOTPConfig(t *testing.T) {
	typ := reflect.TypeOf(otp.Config{})
	for i := 0; i < typ.NumField(); i++ {
		if f := typ.Field(i).Name; f != "Key" && f != "LoginGap" { // derived; fixed
			require.Contains(t, otpKeys, f)
		}
	}
}

// TestSandboxOnAnotherAddress: with the shipped config.yaml, moving the
// sandbox off loopback says what to set, without follow-on errors.
func TestSandboxOnAnotherAddress(t *testing.T) {
	shipped, err := os.ReadFile("../config.yaml")
	require.NoError(t, err)
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"non-loopback", map[string]string{"WXCAS_LISTEN": "0.0.0.0:8080", "WXCAS_ALLOW_SANDBOX": ""}, []string{
			"server.public_url: required when the sandbox listens on a non-loopback address (0.0.0.0:8080): " +
				"set WXCAS_PUBLIC_URL to the URL browsers reach it at; a shared sandbox also needs WXCAS_ALLOW_SANDBOX=yes (line 15)"}},
		{"non-loopback, acknowledged", map[string]string{"WXCAS_LISTEN": "0.0.0.0:8080", "WXCAS_ALLOW_SANDBOX": "yes"}, []string{
			"server.public_url: required when the sandbox listens on a non-loopback address (0.0.0.0:8080): " +
				"set WXCAS_PUBLIC_URL to the URL browsers reach it at (line 15)"}},
		{"invalid public url", map[string]string{"WXCAS_PUBLIC_URL": "example.edu"}, []string{
			`server.public_url: "example.edu" must be an absolute http(s) URL without query or fragment (line 15)`}},
		// The value is not the file's line 11.
		{"override not host:port", map[string]string{"WXCAS_LISTEN": "garbage", "WXCAS_ALLOW_SANDBOX": ""}, []string{
			`server.listen (from WXCAS_LISTEN): "garbage" is not host:port`,
			"server.public_url: required unless the sandbox listens on a loopback host:port: " +
				"set WXCAS_PUBLIC_URL to the URL browsers reach it at; a shared sandbox also needs WXCAS_ALLOW_SANDBOX=yes (line 15)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(shipped, env(tc.env))
			var p Problems
			require.ErrorAs(t, err, &p)
			require.Equal(t, tc.want, []string(p))
		})
	}
	_, err = Parse(shipped, env(nil))
	require.NoError(t, err, "the shipped file is valid as it is")
}
