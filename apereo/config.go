package apereo

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"wxcas/cas"
)

// Config is the `cas.apereo` section: where Apereo CAS logs users in and
// the token secrets of each service handed to it.
type Config struct {
	// LoginURL is Apereo's login endpoint, e.g. https://cas.example.edu/cas/login.
	LoginURL string `yaml:"login_url"`
	// TokenTTL is the token's lifetime (exp - iat): default (and when 0)
	// 30s, at most 60s.
	// Apereo (pac4j) accepts a token any number of times until exp, so keep
	// it short; the clocks of both servers must agree (NTP).
	TokenTTL time.Duration `yaml:"token_ttl"`
	// Services holds the secrets per registered CAS service, keyed by the
	// service's id in cas.services. A registered service without an entry
	// cannot be handed to Apereo.
	Services map[string]ServiceToken `yaml:"services"`
}

// ServiceToken mirrors the properties of Apereo's registered service for
// token authentication (jwtSigningSecret, ...); the values must be the same
// on both sides.
type ServiceToken struct {
	// JWTSigningSecret is the HMAC key (jwtSigningSecret). Required.
	JWTSigningSecret string `yaml:"jwt_signing_secret"`
	// JWTSigningSecretAlg is HS256 (default), HS384 or HS512 (jwtSigningSecretAlg).
	JWTSigningSecretAlg string `yaml:"jwt_signing_secret_alg"`
	// JWTEncryptionSecret is the JWE key (jwtEncryptionSecret); empty sends a
	// signed token only, which Apereo accepts too.
	JWTEncryptionSecret string `yaml:"jwt_encryption_secret"`
	// JWTEncryptionSecretAlg is dir (default), A128KW, A192KW, A256KW,
	// A128GCMKW, A192GCMKW or A256GCMKW (jwtEncryptionSecretAlg).
	JWTEncryptionSecretAlg string `yaml:"jwt_encryption_secret_alg"`
	// JWTEncryptionSecretMethod is A192CBC-HS384 (default), A128CBC-HS256,
	// A256CBC-HS512, A128GCM, A192GCM or A256GCM (jwtEncryptionSecretMethod).
	JWTEncryptionSecretMethod string `yaml:"jwt_encryption_secret_method"`
	// JWTSecretsAreBase64Encoded: both secrets are base64 (standard or URL
	// alphabet, padding optional), as Apereo's jwtSecretsAreBase64Encoded;
	// otherwise their UTF-8 bytes are the keys.
	JWTSecretsAreBase64Encoded bool `yaml:"jwt_secrets_are_base64_encoded"`
}

// Defaults. The algorithms are Apereo's (TokenAuthenticationSecurity).
const (
	DefaultTokenTTL         = 30 * time.Second
	MaxTokenTTL             = 60 * time.Second
	DefaultSigningAlg       = "HS256"
	DefaultEncryptionAlg    = "dir"
	DefaultEncryptionMethod = "A192CBC-HS384"
)

// DefaultConfig returns the defaults (no login URL, no services).
func DefaultConfig() Config { return Config{TokenTTL: DefaultTokenTTL} }

// Minimum HMAC key sizes in bytes (RFC 7518 §3.2: at least the hash size).
var signingAlgs = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// Key-wrapping algorithms and their key sizes in bytes; dir takes the
// content encryption's own size.
var keyAlgs = map[string]int{
	"dir":    0,
	"A128KW": 16, "A192KW": 24, "A256KW": 32,
	"A128GCMKW": 16, "A192GCMKW": 24, "A256GCMKW": 32,
}

// Content encryptions and their key sizes in bytes.
var encMethods = map[string]int{
	"A128CBC-HS256": 32, "A192CBC-HS384": 48, "A256CBC-HS512": 64,
	"A128GCM": 16, "A192GCM": 24, "A256GCM": 32,
}

// reservedClaims may not be released as attributes: they are the token's own
// claims (or pac4j's) and would be overwritten or misread.
var reservedClaims = map[string]bool{"sub": true, "iat": true, "exp": true, "jti": true, "nbf": true, "iss": true, "aud": true}

// keys is a service's resolved token configuration.
type keys struct {
	sigAlg  jose.SignatureAlgorithm
	sigKey  []byte
	encAlg  jose.KeyAlgorithm // "" = sign only
	encMeth jose.ContentEncryption
	encKey  []byte
}

// canonical finds name in a table case-insensitively (Apereo compares
// algorithm names with equalsIgnoreCase) and returns its spelling there.
func canonical[V any](table map[string]V, name string) (string, bool) {
	for k := range table {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

// decodeSecret returns the key bytes of a secret as Apereo derives them.
func decodeSecret(secret string, b64 bool) ([]byte, error) {
	if !b64 {
		return []byte(secret), nil
	}
	s := strings.TrimRight(secret, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return nil, fmt.Errorf("is not valid base64 (jwt_secrets_are_base64_encoded is true)")
}

// resolve checks one service's token configuration and returns its keys, or
// every problem found (messages without the key path prefix, each naming
// its field).
func (st ServiceToken) resolve() (keys, []string) {
	var k keys
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	alg := st.JWTSigningSecretAlg
	if alg == "" {
		alg = DefaultSigningAlg
	}
	if name, ok := canonical(signingAlgs, alg); ok {
		k.sigAlg = jose.SignatureAlgorithm(name)
	} else {
		add("jwt_signing_secret_alg: %q must be HS256, HS384 or HS512 (RSA and EC keys are not supported)", alg)
	}
	if st.JWTSigningSecret == "" {
		add("jwt_signing_secret: required (Apereo ignores a token for a service without jwtSigningSecret)")
	} else if key, err := decodeSecret(st.JWTSigningSecret, st.JWTSecretsAreBase64Encoded); err != nil {
		add("jwt_signing_secret: %v", err)
	} else if min := signingAlgs[string(k.sigAlg)]; k.sigAlg != "" && len(key) < min {
		add("jwt_signing_secret: %d bytes is too short for %s, which needs at least %d bytes%s", len(key), k.sigAlg, min, b64Hint(st))
	} else {
		k.sigKey = key
	}

	if st.JWTEncryptionSecret == "" {
		if st.JWTEncryptionSecretAlg != "" || st.JWTEncryptionSecretMethod != "" {
			add("jwt_encryption_secret: required when jwt_encryption_secret_alg or jwt_encryption_secret_method is set")
		}
		return k, p
	}
	encAlg := st.JWTEncryptionSecretAlg
	if encAlg == "" {
		encAlg = DefaultEncryptionAlg
	}
	meth := st.JWTEncryptionSecretMethod
	if meth == "" {
		meth = DefaultEncryptionMethod
	}
	algName, algOK := canonical(keyAlgs, encAlg)
	if !algOK {
		add("jwt_encryption_secret_alg: %q must be dir, A128KW, A192KW, A256KW, A128GCMKW, A192GCMKW or A256GCMKW", encAlg)
	}
	methName, methOK := canonical(encMethods, meth)
	if !methOK {
		add("jwt_encryption_secret_method: %q must be A128CBC-HS256, A192CBC-HS384, A256CBC-HS512, A128GCM, A192GCM or A256GCM", meth)
	}
	key, err := decodeSecret(st.JWTEncryptionSecret, st.JWTSecretsAreBase64Encoded)
	switch {
	case err != nil:
		add("jwt_encryption_secret: %v", err)
	case !algOK || !methOK:
	case algName == "dir" && len(key) != encMethods[methName]:
		add("jwt_encryption_secret: %d bytes, but dir with %s needs exactly %d bytes%s", len(key), methName, encMethods[methName], b64Hint(st))
	case algName != "dir" && len(key) != keyAlgs[algName]:
		add("jwt_encryption_secret: %d bytes, but %s needs exactly %d bytes%s", len(key), algName, keyAlgs[algName], b64Hint(st))
	default:
		k.encAlg = jose.KeyAlgorithm(algName)
		k.encMeth = jose.ContentEncryption(methName)
		k.encKey = key
	}
	return k, p
}

func b64Hint(st ServiceToken) string {
	if st.JWTSecretsAreBase64Encoded {
		return " (after base64 decoding)"
	}
	return " (the secret's UTF-8 bytes; set jwt_secrets_are_base64_encoded for base64)"
}

// Validate returns every problem in the section, each prefixed with its key
// path (cas.apereo.services.app.jwt_signing_secret: ...). services is the CAS
// registry (cas.services); fromEnv reports whether the value at a key path
// came from the environment; sandbox relaxes the environment and https
// rules. Call it in apereo-token mode only.
func (c Config) Validate(services []cas.Service, fromEnv func(keyPath string) bool, sandbox bool) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if c.LoginURL == "" {
		add("cas.apereo.login_url: required in apereo-token mode (Apereo's login URL, e.g. https://cas.example.edu/cas/login)")
	} else if msg := checkLoginURL(c.LoginURL, sandbox); msg != "" {
		add("cas.apereo.login_url: %q %s", c.LoginURL, msg)
	}
	if c.TokenTTL != 0 && (c.TokenTTL < time.Second || c.TokenTTL > MaxTokenTTL) {
		add("cas.apereo.token_ttl: %v must be between 1s and 60s (Apereo accepts a token again and again until it expires)", c.TokenTTL)
	}
	if len(c.Services) == 0 {
		add("cas.apereo.services: no service has token secrets, so no login can be handed to Apereo")
	}
	registered := map[string]cas.Service{}
	for _, s := range services {
		registered[s.ID] = s
	}
	for _, id := range c.serviceIDs() {
		st := c.Services[id]
		key := "cas.apereo.services." + id
		svc, ok := registered[id]
		if !ok {
			add("%s: no service in cas.services has id %q", key, id)
		}
		_, problems := st.resolve()
		for _, msg := range problems {
			add("%s.%s", key, msg)
		}
		for _, f := range []struct{ name, val string }{
			{"jwt_signing_secret", st.JWTSigningSecret}, {"jwt_encryption_secret", st.JWTEncryptionSecret},
		} {
			if f.val != "" && !sandbox && !fromEnv(key+"."+f.name) {
				add("%s.%s: must come from the environment (e.g. ${WXCAS_APEREO_%s_%s}), not be written in the file",
					key, f.name, envName(id), strings.ToUpper(strings.TrimPrefix(f.name, "jwt_")))
			}
		}
		for _, a := range svc.Attributes {
			if reservedClaims[a] {
				add("%s: cas.services entry %q releases attribute %q, which is a claim of the token itself; rename or drop it", key, id, a)
			}
		}
	}
	return p
}

// checkLoginURL returns why u cannot be Apereo's login URL, or "".
func checkLoginURL(u string, sandbox bool) string {
	parsed, err := url.Parse(u)
	switch {
	case err != nil || parsed.Host == "" || parsed.Opaque != "" || (parsed.Scheme != "https" && parsed.Scheme != "http"):
		return "must be an absolute https URL"
	case parsed.Scheme == "http" && !sandbox:
		return "must be https outside the sandbox (the token travels in it)"
	case parsed.User != nil:
		return "must not contain user information"
	case parsed.RawQuery != "" || parsed.Fragment != "" || strings.Contains(u, "?"):
		return "must not have a query or fragment (wxcas adds service and token)"
	}
	return ""
}

// envName makes a service id usable in an environment variable name.
func envName(id string) string {
	b := []byte(strings.ToUpper(id))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// serviceIDs lists the configured service ids in order, for stable messages.
func (c Config) serviceIDs() []string {
	ids := make([]string, 0, len(c.Services))
	for id := range c.Services {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
