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

	Cooldown     time.Duration // minimum time between sends to one phone
	PerPhoneHour int           // sends per phone per hour
	PerPhoneDay  int           // sends per phone per day
	PerIPHour    int           // sends per client IP (IPv6: per /64) per hour
	// PerIPUnconfirmedHour caps the codes from one client IP that nobody
	// entered yet, per hour: the limit that stops an SMS pump.
	PerIPUnconfirmedHour int
	PerIdentityDay       int // sends per WeChat identity per day
	GlobalDay            int // sends per day for the whole service: the SMS budget / circuit breaker
	// LoginGap is the time between two sends of one login (LimitLoginGap),
	// at most Cooldown; 0 turns it off. Not in config.yaml: it only stops
	// one login's requests racing each other.
	LoginGap time.Duration

	// Regions, when set, are the only regions (ISO 3166 codes such as CN,
	// HK) whose numbers get codes: an SMS pump prefers the expensive
	// destinations, and a domestic SMS contract reaches only its own.
	Regions []string

	// Key is the HMAC key codes are stored under: keys.Derive(master, keys.OTP).
	Key []byte
}

// DefaultConfig returns the limits of issue 4. Key is left empty.
func DefaultConfig() Config {
	return Config{
		Digits:       6,
		TTL:          5 * time.Minute,
		MaxAttempts:  5,
		Cooldown:     60 * time.Second,
		PerPhoneHour: 5,
		PerPhoneDay:  10,
		// High: a campus or company behind one NAT sends many codes an
		// hour; the challenge and PerIPUnconfirmedHour stop abuse first.
		PerIPHour:            300,
		PerIPUnconfirmedHour: 20,
		PerIdentityDay:       10,
		// Size to the SMS package bought and the expected number of first-time
		// logins per day (a rollout day needs more than a normal one).
		GlobalDay: 5000,
		LoginGap:  5 * time.Second,
	}
}

// Problem is one thing wrong with a Config. Field is the Go field it concerns,
// so that a caller reading the limits from a file can name the key as its
// file spells it (config.yaml calls Cooldown resend_cooldown); Message says
// what is wrong without naming the field.
type Problem struct {
	Field   string
	Message string
}

// fieldNames are the names Validate uses for the fields in its own messages.
var fieldNames = map[string]string{
	"Digits": "digits", "TTL": "ttl", "MaxAttempts": "max_attempts", "Cooldown": "cooldown",
	"PerPhoneHour": "per_phone_hour", "PerPhoneDay": "per_phone_day", "PerIPHour": "per_ip_hour", "PerIPUnconfirmedHour": "per_ip_unconfirmed_hour",
	"PerIdentityDay": "per_identity_day", "GlobalDay": "global_day", "Key": "key",
}

// Validate lists every problem with c, one line each as "otp: field: what";
// an empty list means c is usable.
func (c Config) Validate() []string {
	var out []string
	for _, p := range c.Problems() {
		out = append(out, "otp: "+fieldNames[p.Field]+": "+p.Message)
	}
	return out
}

// Problems is Validate with each problem tied to its field.
func (c Config) Problems() []Problem {
	var problems []Problem
	check := func(bad bool, field, format string, args ...any) {
		if bad {
			problems = append(problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
		}
	}
	// Tencent verification-code templates accept at most 6 digits; fewer than
	// 4 makes guessing too easy even with the attempt limit.
	check(c.Digits < 4 || c.Digits > 10, "Digits", "must be between 4 and 10 (got %d)", c.Digits)
	check(c.TTL < 30*time.Second || c.TTL > time.Hour, "TTL", "must be between 30s and 1h (got %s)", c.TTL)
	check(c.MaxAttempts < 1 || c.MaxAttempts > 20, "MaxAttempts", "must be between 1 and 20 (got %d)", c.MaxAttempts)
	check(c.Cooldown < 0, "Cooldown", "must not be negative (got %s)", c.Cooldown)
	check(c.Cooldown > 24*time.Hour, "Cooldown", "must be at most 24h (got %s)", c.Cooldown)
	for _, l := range []struct {
		field string
		v     int
	}{
		{"PerPhoneHour", c.PerPhoneHour},
		{"PerPhoneDay", c.PerPhoneDay},
		{"PerIPHour", c.PerIPHour},
		{"PerIPUnconfirmedHour", c.PerIPUnconfirmedHour},
		{"PerIdentityDay", c.PerIdentityDay},
		{"GlobalDay", c.GlobalDay},
	} {
		check(l.v < 0, l.field, "must not be negative (0 disables it; got %d)", l.v)
	}
	// The per-day limit is the one named, whatever a caller calls the field:
	// the two limits have the same names in config.yaml.
	check(c.PerPhoneHour > 0 && c.PerPhoneDay > 0 && c.PerPhoneHour > c.PerPhoneDay,
		"PerPhoneHour", "%d is larger than per_phone_day (%d)", c.PerPhoneHour, c.PerPhoneDay)
	check(len(c.Key) < 32, "Key", "must be at least 32 bytes (use keys.Derive(master, keys.OTP))")
	return problems
}
