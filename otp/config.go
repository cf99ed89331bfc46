package otp

import (
	"fmt"
	"time"
)

// Config sets code format and sending limits. Start from DefaultConfig. A
// count limit of 0 disables that limit, as does a Cooldown of 0; negative
// values are errors.
type Config struct {
	Digits      int           // code length
	TTL         time.Duration // how long a code verifies
	MaxAttempts int           // verification attempts per code; the code is burned at the limit

	Cooldown       time.Duration // minimum time between sends to one phone
	PerPhoneHour   int           // sends per phone per hour
	PerPhoneDay    int           // sends per phone per day
	PerIPHour      int           // sends per client IP (IPv6: per /64) per hour
	PerIdentityDay int           // sends per WeChat identity per day
	GlobalDay      int           // sends per day for the whole service: the SMS budget / circuit breaker

	// Key is the HMAC key codes are stored under: keys.Derive(master, keys.OTP).
	Key []byte
}

// DefaultConfig returns the limits of issue 4. Key is left empty.
func DefaultConfig() Config {
	return Config{
		Digits:         6,
		TTL:            5 * time.Minute,
		MaxAttempts:    5,
		Cooldown:       60 * time.Second,
		PerPhoneHour:   5,
		PerPhoneDay:    10,
		PerIPHour:      20,
		PerIdentityDay: 10,
		// Size to the SMS package bought and the expected number of first-time
		// logins per day (a rollout day needs more than a normal one).
		GlobalDay: 5000,
	}
}

// Validate lists every problem with c; an empty list means c is usable.
func (c Config) Validate() []string {
	var problems []string
	check := func(bad bool, format string, args ...any) {
		if bad {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	// Tencent verification-code templates accept at most 6 digits; fewer than
	// 4 makes guessing too easy even with the attempt limit.
	check(c.Digits < 4 || c.Digits > 10, "otp: digits must be between 4 and 10 (got %d)", c.Digits)
	check(c.TTL < 30*time.Second || c.TTL > time.Hour, "otp: ttl must be between 30s and 1h (got %s)", c.TTL)
	check(c.MaxAttempts < 1 || c.MaxAttempts > 20, "otp: max_attempts must be between 1 and 20 (got %d)", c.MaxAttempts)
	check(c.Cooldown < 0, "otp: cooldown must not be negative (got %s)", c.Cooldown)
	check(c.Cooldown > 24*time.Hour, "otp: cooldown must be at most 24h (got %s)", c.Cooldown)
	for _, l := range []struct {
		name string
		v    int
	}{
		{"per_phone_hour", c.PerPhoneHour},
		{"per_phone_day", c.PerPhoneDay},
		{"per_ip_hour", c.PerIPHour},
		{"per_identity_day", c.PerIdentityDay},
		{"global_day", c.GlobalDay},
	} {
		check(l.v < 0, "otp: %s must not be negative (0 disables it; got %d)", l.name, l.v)
	}
	check(c.PerPhoneHour > 0 && c.PerPhoneDay > 0 && c.PerPhoneHour > c.PerPhoneDay,
		"otp: per_phone_hour (%d) is larger than per_phone_day (%d)", c.PerPhoneHour, c.PerPhoneDay)
	check(len(c.Key) < 32, "otp: key must be at least 32 bytes (use keys.Derive(master, keys.OTP))")
	return problems
}
