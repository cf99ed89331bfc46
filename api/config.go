package api

import (
	"fmt"
	"time"

	"wxcas/ratelimit"
)

// Config is the `api:` section of config.yaml.
type Config struct {
	// MaxBodyBytes bounds a request body (default 8 KiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// BindTokenTTL is how long one bind token stays usable: the journey's
	// step (default 10m).
	BindTokenTTL time.Duration `yaml:"bind_token_ttl"`
	// BindChainMaxAge bounds a whole binding, from the WeChat login to the
	// last step, however many tokens it goes through: the journey's TTL
	// (default 30m).
	BindChainMaxAge time.Duration `yaml:"bind_chain_max_age"`
	// LoginPerIP limits POST /login/wechat per client IP (default 60 a minute).
	LoginPerIP Limit `yaml:"login_per_ip"`
	// BindPerIP limits the /bind/* calls per client IP (default 60 a minute).
	BindPerIP Limit `yaml:"bind_per_ip"`
	// BindPerToken limits the /bind/* calls of one binding, i.e. of one
	// journey, whichever of its tokens they carry (default 10 in 30
	// minutes; /bind/cancel does not count).
	BindPerToken Limit `yaml:"bind_per_token"`
	// AccountPerIP limits the /account calls per client IP (default 60 a
	// minute). The SMS limits bound codes and guesses; this bounds the
	// session look-ups and WeChat exchanges one address can cause.
	AccountPerIP Limit `yaml:"account_per_ip"`
}

// Limit is a fixed-window rate limit: at most Max calls per Window. Max 0
// turns the limit off.
type Limit = ratelimit.Limit

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:    8 << 10,
		BindTokenTTL:    10 * time.Minute,
		BindChainMaxAge: 30 * time.Minute,
		LoginPerIP:      Limit{Max: 60, Window: time.Minute},
		BindPerIP:       Limit{Max: 60, Window: time.Minute},
		BindPerToken:    Limit{Max: 10, Window: 30 * time.Minute},
		AccountPerIP:    Limit{Max: 60, Window: time.Minute},
	}
}

// Validate lists problems with key paths under "api.".
func (c Config) Validate() []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if c.MaxBodyBytes < 1<<10 || c.MaxBodyBytes > 1<<20 {
		add("api.max_body_bytes: %d must be between 1024 and 1048576", c.MaxBodyBytes)
	}
	if c.BindTokenTTL < time.Minute || c.BindTokenTTL > time.Hour {
		add("api.bind_token_ttl: %v must be between 1m and 1h", c.BindTokenTTL)
	}
	if c.BindChainMaxAge < c.BindTokenTTL || c.BindChainMaxAge > 24*time.Hour {
		add("api.bind_chain_max_age: %v must be at least api.bind_token_ttl and at most 24h", c.BindChainMaxAge)
	}
	p = append(p, c.LoginPerIP.Problems("api.login_per_ip")...)
	p = append(p, c.BindPerIP.Problems("api.bind_per_ip")...)
	p = append(p, c.BindPerToken.Problems("api.bind_per_token")...)
	p = append(p, c.AccountPerIP.Problems("api.account_per_ip")...)
	return p
}
