package doctor

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"wxcas/config"
)

// MinSecretBits is the least estimated randomness (see estimatedBits) a
// secret wxcas's operator chooses must have. By that estimate 32 random
// bytes in base64 score about 215 and openssl rand -base64 48 about 330,
// while 32 hex digits (16 bytes) score about 116 and fail.
const MinSecretBits = 128

// Secrets checks every secret the configuration uses: present, taken from
// the environment (outside the sandbox), and, for the ones the operator
// makes up (the master key, OpenID client secrets, the Apereo token
// secrets), long and random enough to resist guessing. Secrets that
// WeChat and Tencent Cloud issue are checked live by their own checks.
type Secrets struct {
	Config *config.Config
}

// Name implements Check.
func (Secrets) Name() string { return "secrets" }

// secret is one secret the configuration uses.
type secret struct {
	path  string // key path in config.yaml
	value string
	// chosen: made up by the operator, so its strength is checked.
	chosen bool
	// required: must not be empty (an optional one is checked when set).
	required bool
	// fix says how to set it.
	fix string
}

// Run implements Check.
func (s Secrets) Run(context.Context) Result {
	if s.Config.Sandbox.Enabled {
		return Skip("sandbox: its secrets are written in the file and secrets.key may be generated; this check applies outside the sandbox")
	}
	var problems, fixes []string
	chosen := 0
	all := s.secrets()
	for _, sec := range all {
		problem := ""
		switch {
		case sec.value == "" && sec.required:
			problem = sec.path + " is empty"
		case sec.value == "":
			continue
		case !s.Config.FromEnv(sec.path):
			problem = sec.path + " is written in the file, not taken from the environment"
		case sec.chosen:
			chosen++
			if bits := estimatedBits(sec.value); bits < MinSecretBits {
				problem = fmt.Sprintf("%s is guessable: %d characters, about %.0f bits of randomness (at least %d needed)",
					sec.path, len([]rune(sec.value)), bits, MinSecretBits)
			}
		}
		if problem != "" {
			problems = append(problems, problem)
			fixes = appendNew(fixes, sec.fix)
		}
	}
	if len(problems) > 0 {
		return Fail(strings.Join(problems, "; "), strings.Join(fixes, "; "))
	}
	return Pass(fmt.Sprintf("%d secret(s) set from the environment; the %d chosen by you (secrets.key, client and token secrets) have at least %d bits of randomness by estimate",
		len(all), chosen, MinSecretBits))
}

func appendNew(list []string, s string) []string {
	for _, have := range list {
		if have == s {
			return list
		}
	}
	return append(list, s)
}

// fixRandom is how to make a chosen secret.
const fixRandom = "48 random bytes: openssl rand -base64 48"

// secrets lists the secrets the configuration uses.
func (s Secrets) secrets() []secret {
	c := s.Config
	out := []secret{{path: "secrets.key", value: c.Secrets.Key, chosen: true, required: true,
		fix: "set WXCAS_SECRET_KEY (secrets.key: ${WXCAS_SECRET_KEY}) to " + fixRandom}}
	for i, app := range c.WeChat.Apps {
		if app.ViaPlatform == "" {
			out = append(out, secret{path: fmt.Sprintf("wechat.apps[%d].secret", i), value: app.Secret, required: true,
				fix: fmt.Sprintf("set wechat.apps[%d].secret to ${WXCAS_WECHAT_SECRET_%d} and that variable to the AppSecret of %s", i, i, app.AppID)})
		}
	}
	for i, p := range c.WeChat.Platforms {
		for _, f := range []struct{ key, value string }{{"secret", p.Secret}, {"token", p.Token}, {"encoding_aes_key", p.EncodingAESKey}} {
			path := fmt.Sprintf("wechat.platforms[%d].%s", i, f.key)
			out = append(out, secret{path: path, value: f.value, required: true,
				fix: fmt.Sprintf("set %s from the environment (${WXCAS_PLATFORM_%s}) to the value shown on platform %s's settings", path, strings.ToUpper(f.key), p.ComponentAppID)})
		}
	}
	if c.SMS.Provider == "tencent" {
		out = append(out, secret{path: "sms.tencent.secret_key", value: c.SMS.Tencent.SecretKey, required: true,
			fix: "set sms.tencent.secret_key to ${TENCENTCLOUD_SECRET_KEY} and that variable to the API key's SecretKey"})
	}
	if c.OIDC.Enabled {
		for i, cl := range c.OIDC.Clients {
			path := fmt.Sprintf("oidc.clients[%d].secret", i)
			out = append(out, secret{path: path, value: cl.Secret, chosen: true,
				fix: fmt.Sprintf("set %s from the environment (e.g. ${WXCAS_OIDC_%s_SECRET}) to %s, and give client %s the same", path, envName(cl.ID), fixRandom, cl.ID)})
		}
	}
	if c.CAS.Mode == "apereo-token" {
		ids := make([]string, 0, len(c.CAS.Apereo.Services))
		for id := range c.CAS.Apereo.Services {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			st := c.CAS.Apereo.Services[id]
			for _, f := range []struct{ key, value string }{{"jwt_signing_secret", st.JWTSigningSecret}, {"jwt_encryption_secret", st.JWTEncryptionSecret}} {
				path := "cas.apereo.services." + id + "." + f.key
				out = append(out, secret{path: path, value: f.value, chosen: true,
					fix: fmt.Sprintf("set %s from the environment to %s, and Apereo's registered service %s to the same", path, fixRandom, id)})
			}
		}
	}
	return out
}

// envName turns an id into the part of an environment variable's name.
func envName(id string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, id)
}

// estimatedBits is a rough measure of how random s is: its length times
// the Shannon entropy of its own character frequencies. It overrates
// anything a person types (a word repeated to 32 characters still scores
// 88) and is close to the truth for the output of a random generator.
func estimatedBits(s string) float64 {
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	var h float64
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h * float64(n)
}
