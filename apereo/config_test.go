package apereo_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/apereo"
	"wxcas/cas"
)

func TestDefaultConfig(t *testing.T) {
	c := apereo.DefaultConfig()
	require.Equal(t, 30*time.Second, c.TokenTTL)
	require.Equal(t, []string{
		"cas.apereo.login_url: required in apereo-token mode (Apereo's login URL, e.g. https://cas.example.edu/cas/login)",
		"cas.apereo.services: no service has token secrets, so no login can be handed to Apereo",
	}, c.Validate(registry(), func(string) bool { return true }, false))
}

func TestConfigValidate(t *testing.T) {
	envAll := func(string) bool { return true }
	sized := func(n int) string { return strings.Repeat("x", n) }
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString([]byte(sized(n))) }
	svc := func(st apereo.ServiceToken) func(c *apereo.Config) {
		return func(c *apereo.Config) { c.Services = map[string]apereo.ServiceToken{"app": st} }
	}
	const key = "cas.apereo.services.app."

	for _, tc := range []struct {
		name    string
		mutate  func(c *apereo.Config)
		fromEnv func(string) bool
		sandbox bool
		want    []string // exact problems; nil means none
	}{
		{name: "valid", mutate: func(*apereo.Config) {}},
		{name: "valid with every option", mutate: svc(apereo.ServiceToken{
			JWTSigningSecret: b64(64), JWTSigningSecretAlg: "HS512",
			JWTEncryptionSecret: b64(32), JWTEncryptionSecretAlg: "A256KW", JWTEncryptionSecretMethod: "A256GCM",
			JWTSecretsAreBase64Encoded: true,
		})},
		{name: "algorithm names in any case", mutate: svc(apereo.ServiceToken{
			JWTSigningSecret: sized(48), JWTSigningSecretAlg: "hs384",
			JWTEncryptionSecret: sized(32), JWTEncryptionSecretAlg: "DIR", JWTEncryptionSecretMethod: "a128cbc-hs256",
		})},

		// Signing key sizes.
		{name: "HS256 short", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(31)}),
			want: []string{key + "jwt_signing_secret: 31 bytes is too short for HS256, which needs at least 32 bytes (the secret's UTF-8 bytes; set jwt_secrets_are_base64_encoded for base64)"}},
		{name: "HS384 short", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(47), JWTSigningSecretAlg: "HS384"}),
			want: []string{key + "jwt_signing_secret: 47 bytes is too short for HS384, which needs at least 48 bytes (the secret's UTF-8 bytes; set jwt_secrets_are_base64_encoded for base64)"}},
		{name: "HS512 short after base64", mutate: svc(apereo.ServiceToken{JWTSigningSecret: b64(63), JWTSigningSecretAlg: "HS512", JWTSecretsAreBase64Encoded: true}),
			want: []string{key + "jwt_signing_secret: 63 bytes is too short for HS512, which needs at least 64 bytes (after base64 decoding)"}},
		{name: "HS256 longer is fine", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(256)})},
		{name: "signing secret missing", mutate: svc(apereo.ServiceToken{JWTEncryptionSecret: sized(48)}),
			want: []string{key + "jwt_signing_secret: required (Apereo ignores a token for a service without jwtSigningSecret)"}},
		{name: "RSA signing", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTSigningSecretAlg: "RS256"}),
			want: []string{key + `jwt_signing_secret_alg: "RS256" must be HS256, HS384 or HS512 (RSA and EC keys are not supported)`}},

		// Encryption key sizes: dir takes the content encryption's size exactly.
		{name: "dir A192CBC-HS384 short", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(47)}),
			want: []string{key + "jwt_encryption_secret: 47 bytes, but dir with A192CBC-HS384 needs exactly 48 bytes (the secret's UTF-8 bytes; set jwt_secrets_are_base64_encoded for base64)"}},
		{name: "dir A192CBC-HS384 long", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(49)}),
			want: []string{key + "jwt_encryption_secret: 49 bytes, but dir with A192CBC-HS384 needs exactly 48 bytes (the secret's UTF-8 bytes; set jwt_secrets_are_base64_encoded for base64)"}},
		{name: "dir A128CBC-HS256", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(48), JWTEncryptionSecretMethod: "A128CBC-HS256"}),
			want: []string{key + "jwt_encryption_secret: 48 bytes, but dir with A128CBC-HS256 needs exactly 32 bytes (the secret's UTF-8 bytes; set jwt_secrets_are_base64_encoded for base64)"}},
		{name: "dir A256CBC-HS512", mutate: svc(apereo.ServiceToken{JWTSigningSecret: b64(32), JWTEncryptionSecret: b64(48), JWTEncryptionSecretMethod: "A256CBC-HS512", JWTSecretsAreBase64Encoded: true}),
			want: []string{key + "jwt_encryption_secret: 48 bytes, but dir with A256CBC-HS512 needs exactly 64 bytes (after base64 decoding)"}},
		{name: "dir A128GCM", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(32), JWTEncryptionSecretMethod: "A128GCM"}),
			want: []string{key + "jwt_encryption_secret: 32 bytes, but dir with A128GCM needs exactly 16 bytes (the secret's UTF-8 bytes; set jwt_secrets_are_base64_encoded for base64)"}},
		{name: "dir A192GCM", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(16), JWTEncryptionSecretMethod: "A192GCM"}),
			want: []string{key + "jwt_encryption_secret: 16 bytes, but dir with A192GCM needs exactly 24 bytes (the secret's UTF-8 bytes; set jwt_secrets_are_base64_encoded for base64)"}},
		{name: "dir A256GCM", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(48), JWTEncryptionSecretMethod: "A256GCM"}),
			want: []string{key + "jwt_encryption_secret: 48 bytes, but dir with A256GCM needs exactly 32 bytes (the secret's UTF-8 bytes; set jwt_secrets_are_base64_encoded for base64)"}},
		{name: "A128KW", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(48), JWTEncryptionSecretAlg: "A128KW"}),
			want: []string{key + "jwt_encryption_secret: 48 bytes, but A128KW needs exactly 16 bytes (the secret's UTF-8 bytes; set jwt_secrets_are_base64_encoded for base64)"}},
		{name: "A192KW", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(16), JWTEncryptionSecretAlg: "A192KW"}),
			want: []string{key + "jwt_encryption_secret: 16 bytes, but A192KW needs exactly 24 bytes (the secret's UTF-8 bytes; set jwt_secrets_are_base64_encoded for base64)"}},
		{name: "A256GCMKW", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(24), JWTEncryptionSecretAlg: "A256GCMKW"}),
			want: []string{key + "jwt_encryption_secret: 24 bytes, but A256GCMKW needs exactly 32 bytes (the secret's UTF-8 bytes; set jwt_secrets_are_base64_encoded for base64)"}},
		{name: "unsupported encryption", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(48), JWTEncryptionSecretAlg: "RSA-OAEP-256", JWTEncryptionSecretMethod: "A192CBC"}),
			want: []string{
				key + `jwt_encryption_secret_alg: "RSA-OAEP-256" must be dir, A128KW, A192KW, A256KW, A128GCMKW, A192GCMKW or A256GCMKW`,
				key + `jwt_encryption_secret_method: "A192CBC" must be A128CBC-HS256, A192CBC-HS384, A256CBC-HS512, A128GCM, A192GCM or A256GCM`,
			}},
		{name: "encryption settings without a secret", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecretMethod: "A256GCM"}),
			want: []string{key + "jwt_encryption_secret: required when jwt_encryption_secret_alg or jwt_encryption_secret_method is set"}},

		// Base64.
		{name: "bad base64", mutate: svc(apereo.ServiceToken{JWTSigningSecret: "not base64 at all!", JWTEncryptionSecret: "%%%%", JWTSecretsAreBase64Encoded: true}),
			want: []string{
				key + "jwt_signing_secret: is not valid base64 (jwt_secrets_are_base64_encoded is true)",
				key + "jwt_encryption_secret: is not valid base64 (jwt_secrets_are_base64_encoded is true)",
			}},

		// Registry.
		{name: "unknown service id", mutate: func(c *apereo.Config) {
			c.Services["gone"] = apereo.ServiceToken{JWTSigningSecret: sized(32)}
		}, want: []string{`cas.apereo.services.gone: no service in cas.services has id "gone"`}},
		{name: "released attribute collides with a claim", mutate: func(c *apereo.Config) {
			c.Services = map[string]apereo.ServiceToken{"claims": {JWTSigningSecret: sized(32)}}
		}, want: []string{`cas.apereo.services.claims: cas.services entry "claims" releases attribute "exp", which is a claim of the token itself; rename or drop it`}},
		{name: "no services", mutate: func(c *apereo.Config) { c.Services = nil },
			want: []string{"cas.apereo.services: no service has token secrets, so no login can be handed to Apereo"}},

		// Secrets from the environment.
		{name: "literal secrets outside the sandbox", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(48)}),
			fromEnv: func(path string) bool { return false },
			want: []string{
				key + "jwt_signing_secret: must come from the environment (e.g. ${WXCAS_APEREO_APP_SIGNING_SECRET}), not be written in the file",
				key + "jwt_encryption_secret: must come from the environment (e.g. ${WXCAS_APEREO_APP_ENCRYPTION_SECRET}), not be written in the file",
			}},
		{name: "only the encryption secret literal", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(48)}),
			fromEnv: func(path string) bool { return path == key+"jwt_signing_secret" },
			want:    []string{key + "jwt_encryption_secret: must come from the environment (e.g. ${WXCAS_APEREO_APP_ENCRYPTION_SECRET}), not be written in the file"}},
		{name: "literal secrets in the sandbox", mutate: svc(apereo.ServiceToken{JWTSigningSecret: sized(32), JWTEncryptionSecret: sized(48)}),
			fromEnv: func(string) bool { return false }, sandbox: true},

		// TTL.
		{name: "ttl too long", mutate: func(c *apereo.Config) { c.TokenTTL = 61 * time.Second },
			want: []string{"cas.apereo.token_ttl: 1m1s must be between 1s and 60s (Apereo accepts a token again and again until it expires)"}},
		{name: "ttl too short", mutate: func(c *apereo.Config) { c.TokenTTL = 500 * time.Millisecond },
			want: []string{"cas.apereo.token_ttl: 500ms must be between 1s and 60s (Apereo accepts a token again and again until it expires)"}},
		{name: "ttl negative", mutate: func(c *apereo.Config) { c.TokenTTL = -time.Second },
			want: []string{"cas.apereo.token_ttl: -1s must be between 1s and 60s (Apereo accepts a token again and again until it expires)"}},
		{name: "ttl 60s", mutate: func(c *apereo.Config) { c.TokenTTL = 60 * time.Second }},
		{name: "ttl zero is the default", mutate: func(c *apereo.Config) { c.TokenTTL = 0 }},

		// Login URL.
		{name: "login url missing", mutate: func(c *apereo.Config) { c.LoginURL = "" },
			want: []string{"cas.apereo.login_url: required in apereo-token mode (Apereo's login URL, e.g. https://cas.example.edu/cas/login)"}},
		{name: "login url relative", mutate: func(c *apereo.Config) { c.LoginURL = "/cas/login" },
			want: []string{`cas.apereo.login_url: "/cas/login" must be an absolute https URL`}},
		{name: "login url ftp", mutate: func(c *apereo.Config) { c.LoginURL = "ftp://cas.example.edu/cas/login" },
			want: []string{`cas.apereo.login_url: "ftp://cas.example.edu/cas/login" must be an absolute https URL`}},
		{name: "login url http", mutate: func(c *apereo.Config) { c.LoginURL = "http://cas.example.edu/cas/login" },
			want: []string{`cas.apereo.login_url: "http://cas.example.edu/cas/login" must be https outside the sandbox (the token travels in it)`}},
		{name: "login url http in the sandbox", mutate: func(c *apereo.Config) { c.LoginURL = "http://127.0.0.1:8443/cas/login" }, sandbox: true},
		{name: "login url with query", mutate: func(c *apereo.Config) { c.LoginURL = "https://cas.example.edu/cas/login?locale=zh" },
			want: []string{`cas.apereo.login_url: "https://cas.example.edu/cas/login?locale=zh" must not have a query or fragment (wxcas adds service and token)`}},
		{name: "login url with user", mutate: func(c *apereo.Config) { c.LoginURL = "https://u:p@cas.example.edu/cas/login" },
			want: []string{`cas.apereo.login_url: "https://u:p@cas.example.edu/cas/login" must not contain user information`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultConfig()
			c.Services = map[string]apereo.ServiceToken{"app": {JWTSigningSecret: signA, JWTEncryptionSecret: encA}}
			tc.mutate(&c)
			fromEnv := tc.fromEnv
			if fromEnv == nil {
				fromEnv = envAll
			}
			services := append(registry(), cas.Service{ID: "claims", Match: cas.MatchExact, URL: "https://claims.example.edu/", Attributes: []string{"mail", "exp"}})
			require.Equal(t, tc.want, c.Validate(services, fromEnv, tc.sandbox))
		})
	}
}
