package apereo_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"wxcas/apereo"
	"wxcas/apereo/apereotest"
	"wxcas/cas"
	"wxcas/store/storetest"
)

const (
	loginURL = "https://cas.example.edu/cas/login"
	appA     = "https://app.example.edu/"
	appB     = "https://library.example.edu/"
	// Secrets as an operator writes them (UTF-8 bytes are the keys).
	signA = "0123456789abcdefghijklmnopqrstuv"                 // 32 bytes: HS256
	encA  = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL" // 48 bytes: dir + A192CBC-HS384
	signB = "vutsrqponmlkjihgfedcba9876543210"
	encB  = "LKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba9876543210"
)

var t0 = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

func registry() []cas.Service {
	return []cas.Service{
		{ID: "app", Match: cas.MatchPrefix, URL: appA, Attributes: []string{"displayName", "group"}},
		{ID: "library", Match: cas.MatchPrefix, URL: appB, PrincipalAttribute: "username", Attributes: []string{"username"}},
		{ID: "nosecrets", Match: cas.MatchPrefix, URL: "https://other.example.edu/"},
	}
}

func alice() cas.Principal {
	return cas.Principal{ID: "alice", Attributes: map[string][]string{
		"displayName": {"Alice Liddell"},
		"group":       {"staff", "library"},
		"phone":       {"+8613800000000"},
		"username":    {"a.liddell"},
	}}
}

func defaultConfig() apereo.Config {
	return apereo.Config{
		LoginURL: loginURL,
		TokenTTL: 30 * time.Second,
		Services: map[string]apereo.ServiceToken{
			"app":     {JWTSigningSecret: signA, JWTEncryptionSecret: encA},
			"library": {JWTSigningSecret: signB, JWTEncryptionSecret: encB},
		},
	}
}

func newMinter(t *testing.T, cfg apereo.Config, now *time.Time) *apereo.Minter {
	t.Helper()
	m, err := apereo.NewMinter(cfg, registry(), func() time.Time { return *now })
	require.NoError(t, err)
	return m
}

// handoff returns the token from a hand-off URL, checking the URL around it.
func handoff(t *testing.T, m *apereo.Minter, id, service string, p cas.Principal) string {
	t.Helper()
	raw, err := m.HandoffURL(id, service, p)
	require.NoError(t, err)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	require.Equal(t, loginURL, u.Scheme+"://"+u.Host+u.Path)
	q := u.Query()
	require.Len(t, q, 2)
	require.Equal(t, service, q.Get("service"), "the service exactly as given")
	return q.Get("token")
}

// verifyApereoDefaults is the verifier pac4j builds for a registered service
// with only jwtSigningSecret and jwtEncryptionSecret set: JWE dir +
// A192CBC-HS384 only, then JWS HS256 only; sub required; exp checked.
// It is independent of package apereo and of apereotest.
func verifyApereoDefaults(token string, signKey, encKey []byte, now time.Time) (map[string]any, error) {
	jwe, err := jose.ParseEncryptedCompact(token, []jose.KeyAlgorithm{jose.DIRECT}, []jose.ContentEncryption{jose.A192CBC_HS384})
	if err != nil {
		return nil, err
	}
	inner, err := jwe.Decrypt(encKey)
	if err != nil {
		return nil, err
	}
	jws, err := jwt.ParseSigned(string(inner), []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return nil, err
	}
	claims := map[string]any{}
	if err := jws.Claims(signKey, &claims); err != nil {
		return nil, err
	}
	if s, _ := claims["sub"].(string); s == "" {
		return nil, errors.New("the JWT must contain a subject")
	}
	if exp, ok := claims["exp"].(float64); ok && time.Unix(int64(exp), 0).Before(now) {
		return nil, errors.New("the JWT is expired")
	}
	return claims, nil
}

// segmentHeader decodes the protected header of a compact JOSE object.
func segmentHeader(t *testing.T, compact string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(compact, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	require.NoError(t, err)
	h := map[string]any{}
	require.NoError(t, json.Unmarshal(raw, &h))
	return h
}

func TestTokenWithApereoDefaults(t *testing.T) {
	now := t0
	m := newMinter(t, defaultConfig(), &now)
	token := handoff(t, m, "app", appA+"page?x=1&y=%2F", alice())

	claims, err := verifyApereoDefaults(token, []byte(signA), []byte(encA), now)
	require.NoError(t, err)
	require.Equal(t, "alice", claims["sub"])
	require.Equal(t, float64(t0.Unix()), claims["iat"])
	require.Equal(t, float64(t0.Add(30*time.Second).Unix()), claims["exp"])
	require.LessOrEqual(t, claims["exp"].(float64)-claims["iat"].(float64), 60.0)
	require.Regexp(t, `^[A-Z2-7]{26}$`, claims["jti"])
	require.Equal(t, "Alice Liddell", claims["displayName"], "one value: a string")
	require.Equal(t, []any{"staff", "library"}, claims["group"], "several values: an array")
	require.NotContains(t, claims, "phone", "only released attributes")
	require.NotContains(t, claims, "username")
	require.Len(t, claims, 6)

	// Headers exactly as pac4j/Nimbus nest them.
	require.Equal(t, map[string]any{"alg": "dir", "enc": "A192CBC-HS384", "cty": "JWT"}, segmentHeader(t, token))
	jwe, err := jose.ParseEncryptedCompact(token, []jose.KeyAlgorithm{jose.DIRECT}, []jose.ContentEncryption{jose.A192CBC_HS384})
	require.NoError(t, err)
	inner, err := jwe.Decrypt([]byte(encA))
	require.NoError(t, err)
	require.Equal(t, map[string]any{"alg": "HS256"}, segmentHeader(t, string(inner)))

	// Fresh jti per token.
	other, err := verifyApereoDefaults(handoff(t, m, "app", appA, alice()), []byte(signA), []byte(encA), now)
	require.NoError(t, err)
	require.NotEqual(t, claims["jti"], other["jti"])

	t.Run("Expiry", func(t *testing.T) {
		_, err := verifyApereoDefaults(token, []byte(signA), []byte(encA), t0.Add(30*time.Second))
		require.NoError(t, err, "valid up to exp")
		_, err = verifyApereoDefaults(token, []byte(signA), []byte(encA), t0.Add(31*time.Second))
		require.EqualError(t, err, "the JWT is expired")
		_, err = apereotest.Verify(token, apereo.ServiceToken{JWTSigningSecret: signA, JWTEncryptionSecret: encA}, t0.Add(31*time.Second))
		require.ErrorContains(t, err, "expired")
	})

	t.Run("Tampered", func(t *testing.T) {
		parts := strings.Split(token, ".")
		for i := range parts {
			if parts[i] == "" {
				continue // dir: no encrypted key
			}
			bad := append([]string(nil), parts...)
			b := []byte(bad[i])
			b[len(b)/2] ^= 0x01
			if b[len(b)/2] == '.' || b[len(b)/2] == '=' {
				b[len(b)/2] = 'A'
			}
			bad[i] = string(b)
			_, err := verifyApereoDefaults(strings.Join(bad, "."), []byte(signA), []byte(encA), now)
			require.Error(t, err, "segment %d", i)
		}
		// Someone holding the encryption key but not the signing key: the
		// signature still stops a changed subject.
		jws, err := jose.ParseSignedCompact(string(inner), []jose.SignatureAlgorithm{jose.HS256})
		require.NoError(t, err)
		payload := strings.Replace(string(jws.UnsafePayloadWithoutVerification()), `"alice"`, `"admin"`, 1)
		sig := strings.Split(string(inner), ".")
		forged := sig[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + sig[2]
		enc, err := jose.NewEncrypter(jose.A192CBC_HS384, jose.Recipient{Algorithm: jose.DIRECT, Key: []byte(encA)}, (&jose.EncrypterOptions{}).WithContentType("JWT"))
		require.NoError(t, err)
		obj, err := enc.Encrypt([]byte(forged))
		require.NoError(t, err)
		forgedToken, err := obj.CompactSerialize()
		require.NoError(t, err)
		_, err = verifyApereoDefaults(forgedToken, []byte(signA), []byte(encA), now)
		require.Error(t, err)
	})

	t.Run("OtherServicesSecrets", func(t *testing.T) {
		_, err := verifyApereoDefaults(token, []byte(signB), []byte(encB), now)
		require.Error(t, err)
		_, err = verifyApereoDefaults(token, []byte(signB), []byte(encA), now)
		require.Error(t, err, "right encryption key, wrong signing key")
		_, err = apereotest.Verify(token, apereo.ServiceToken{JWTSigningSecret: signB, JWTEncryptionSecret: encB}, now)
		require.Error(t, err)
	})

	t.Run("AlgNoneRefused", func(t *testing.T) {
		enc := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
		none := enc(`{"alg":"none"}`) + "." + enc(`{"sub":"admin"}`) + "."
		_, err := apereotest.Verify(none, apereo.ServiceToken{JWTSigningSecret: signA}, now)
		require.ErrorContains(t, err, "non-signed")
		noneUpper := enc(`{"alg":"NONE"}`) + "." + enc(`{"sub":"admin"}`) + "."
		_, err = apereotest.Verify(noneUpper, apereo.ServiceToken{JWTSigningSecret: signA}, now)
		require.Error(t, err)
	})
}

func TestSubjectFromPrincipalAttribute(t *testing.T) {
	now := t0
	m := newMinter(t, defaultConfig(), &now)
	token := handoff(t, m, "library", appB+"catalogue", alice())
	claims, err := verifyApereoDefaults(token, []byte(signB), []byte(encB), now)
	require.NoError(t, err)
	require.Equal(t, "a.liddell", claims["sub"], "the user the service receives")

	p := alice()
	delete(p.Attributes, "username")
	_, err = m.HandoffURL("library", appB, p)
	require.ErrorIs(t, err, cas.ErrPrincipalAttributeMissing)
}

func TestAlgorithms(t *testing.T) {
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct {
		name    string
		st      apereo.ServiceToken
		jweHead map[string]any // nil: a bare JWS
		jwsAlg  string
	}{
		{"HS384", apereo.ServiceToken{JWTSigningSecret: strings.Repeat("s", 48), JWTSigningSecretAlg: "HS384", JWTEncryptionSecret: encA},
			map[string]any{"alg": "dir", "enc": "A192CBC-HS384", "cty": "JWT"}, "HS384"},
		{"HS512 lower case", apereo.ServiceToken{JWTSigningSecret: strings.Repeat("s", 64), JWTSigningSecretAlg: "hs512", JWTEncryptionSecret: encA},
			map[string]any{"alg": "dir", "enc": "A192CBC-HS384", "cty": "JWT"}, "HS512"},
		{"sign only", apereo.ServiceToken{JWTSigningSecret: signA}, nil, "HS256"},
		{"dir A128CBC-HS256", apereo.ServiceToken{JWTSigningSecret: signA, JWTEncryptionSecret: strings.Repeat("e", 32), JWTEncryptionSecretMethod: "A128CBC-HS256"},
			map[string]any{"alg": "dir", "enc": "A128CBC-HS256", "cty": "JWT"}, "HS256"},
		{"dir A256CBC-HS512", apereo.ServiceToken{JWTSigningSecret: signA, JWTEncryptionSecret: strings.Repeat("e", 64), JWTEncryptionSecretMethod: "A256CBC-HS512"},
			map[string]any{"alg": "dir", "enc": "A256CBC-HS512", "cty": "JWT"}, "HS256"},
		{"dir A128GCM", apereo.ServiceToken{JWTSigningSecret: signA, JWTEncryptionSecret: strings.Repeat("e", 16), JWTEncryptionSecretMethod: "A128GCM"},
			map[string]any{"alg": "dir", "enc": "A128GCM", "cty": "JWT"}, "HS256"},
		{"dir A192GCM", apereo.ServiceToken{JWTSigningSecret: signA, JWTEncryptionSecret: strings.Repeat("e", 24), JWTEncryptionSecretMethod: "A192GCM"},
			map[string]any{"alg": "dir", "enc": "A192GCM", "cty": "JWT"}, "HS256"},
		{"dir A256GCM", apereo.ServiceToken{JWTSigningSecret: signA, JWTEncryptionSecret: strings.Repeat("e", 32), JWTEncryptionSecretMethod: "A256GCM"},
			map[string]any{"alg": "dir", "enc": "A256GCM", "cty": "JWT"}, "HS256"},
		{"A128KW", apereo.ServiceToken{JWTSigningSecret: signA, JWTEncryptionSecret: strings.Repeat("k", 16), JWTEncryptionSecretAlg: "A128KW"},
			map[string]any{"alg": "A128KW", "enc": "A192CBC-HS384", "cty": "JWT"}, "HS256"},
		{"A192KW", apereo.ServiceToken{JWTSigningSecret: signA, JWTEncryptionSecret: strings.Repeat("k", 24), JWTEncryptionSecretAlg: "A192KW"},
			map[string]any{"alg": "A192KW", "enc": "A192CBC-HS384", "cty": "JWT"}, "HS256"},
		{"A128GCMKW", apereo.ServiceToken{JWTSigningSecret: signA, JWTEncryptionSecret: strings.Repeat("k", 16), JWTEncryptionSecretAlg: "A128GCMKW"},
			map[string]any{"alg": "A128GCMKW", "enc": "A192CBC-HS384", "cty": "JWT"}, "HS256"},
		{"A256KW A256GCM", apereo.ServiceToken{JWTSigningSecret: signA, JWTEncryptionSecret: strings.Repeat("k", 32), JWTEncryptionSecretAlg: "A256KW", JWTEncryptionSecretMethod: "A256GCM"},
			map[string]any{"alg": "A256KW", "enc": "A256GCM", "cty": "JWT"}, "HS256"},
		{"base64 secrets", apereo.ServiceToken{JWTSigningSecret: b64(random(64)), JWTSigningSecretAlg: "HS512", JWTEncryptionSecret: b64(random(48)), JWTSecretsAreBase64Encoded: true},
			map[string]any{"alg": "dir", "enc": "A192CBC-HS384", "cty": "JWT"}, "HS512"},
		{"base64url secrets without padding", apereo.ServiceToken{JWTSigningSecret: base64.RawURLEncoding.EncodeToString(random(32)), JWTEncryptionSecret: base64.RawURLEncoding.EncodeToString(random(48)), JWTSecretsAreBase64Encoded: true},
			map[string]any{"alg": "dir", "enc": "A192CBC-HS384", "cty": "JWT"}, "HS256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			cfg := defaultConfig()
			cfg.Services = map[string]apereo.ServiceToken{"app": tc.st}
			m := newMinter(t, cfg, &now)
			token := handoff(t, m, "app", appA, alice())
			if tc.jweHead == nil {
				require.Equal(t, 2, strings.Count(token, "."))
				require.Equal(t, map[string]any{"alg": tc.jwsAlg}, segmentHeader(t, token))
			} else {
				head := segmentHeader(t, token)
				if strings.HasSuffix(tc.st.JWTEncryptionSecretAlg, "GCMKW") {
					// Key wrapping with AES-GCM adds its own iv and tag (RFC 7518 §4.7).
					require.NotEmpty(t, head["iv"])
					require.NotEmpty(t, head["tag"])
					delete(head, "iv")
					delete(head, "tag")
				}
				require.Equal(t, tc.jweHead, head)
			}
			l, err := apereotest.Verify(token, tc.st, now)
			require.NoError(t, err)
			require.Equal(t, "alice", l.Subject)
			require.Equal(t, map[string]any{"alg": tc.jwsAlg}, l.JWSHeader)
			require.NotEqual(t, "none", strings.ToLower(tc.jwsAlg))

			// The same token with Apereo's defaults instead of this
			// service's settings is refused (unless they are the defaults).
			defaults := apereo.ServiceToken{JWTSigningSecret: tc.st.JWTSigningSecret, JWTEncryptionSecret: tc.st.JWTEncryptionSecret, JWTSecretsAreBase64Encoded: tc.st.JWTSecretsAreBase64Encoded}
			_, err = apereotest.Verify(token, defaults, now)
			if tc.st.JWTSigningSecretAlg == "" && tc.st.JWTEncryptionSecretAlg == "" && tc.st.JWTEncryptionSecretMethod == "" {
				require.NoError(t, err)
			} else {
				require.Error(t, err, "algorithms are not negotiated")
			}
		})
	}
}

func TestHandoffErrors(t *testing.T) {
	now := t0
	m := newMinter(t, defaultConfig(), &now)
	require.True(t, m.Supports("app"))
	require.False(t, m.Supports("nosecrets"))
	require.False(t, m.Supports("unknown"))

	for _, tc := range []struct {
		name, id, service string
		p                 cas.Principal
		want              error
	}{
		{"no service", "app", "", alice(), apereo.ErrNoService},
		{"unregistered", "app", "https://evil.example.com/", alice(), apereo.ErrServiceNotAllowed},
		{"another service's URL", "app", appB, alice(), apereo.ErrServiceNotAllowed},
		{"unknown id", "gone", appA, alice(), apereo.ErrServiceNotAllowed},
		{"registered without secrets", "nosecrets", "https://other.example.edu/x", alice(), apereo.ErrNoTokenSecrets},
		{"empty principal", "app", appA, cas.Principal{}, apereo.ErrInvalidPrincipal},
		{"principal with a newline", "app", appA, cas.Principal{ID: "a\nb"}, apereo.ErrInvalidPrincipal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := m.HandoffURL(tc.id, tc.service, tc.p)
			require.ErrorIs(t, err, tc.want)
			require.Empty(t, u)
		})
	}
}

func TestRedirect(t *testing.T) {
	now := t0
	m := newMinter(t, defaultConfig(), &now)
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "https://wxcas.example.edu/login/done", nil)
	require.NoError(t, m.Redirect(w, r, "app", appA, alice()))
	require.Equal(t, http.StatusSeeOther, w.Code)
	require.True(t, strings.HasPrefix(w.Header().Get("Location"), loginURL+"?service="+url.QueryEscape(appA)+"&token=ey"))
	require.Contains(t, w.Header().Get("Cache-Control"), "no-store")

	w = httptest.NewRecorder()
	require.ErrorIs(t, m.Redirect(w, r, "nosecrets", "https://other.example.edu/", alice()), apereo.ErrNoTokenSecrets)
	require.Empty(t, w.Header().Get("Location"), "nothing written on error")
	require.Equal(t, http.StatusOK, w.Code)
}

func TestNewMinterRefusesBadConfig(t *testing.T) {
	cfg := defaultConfig()
	cfg.Services["app"] = apereo.ServiceToken{JWTSigningSecret: "short"}
	_, err := apereo.NewMinter(cfg, registry(), nil)
	require.ErrorContains(t, err, "cas.apereo.services.app.jwt_signing_secret: 5 bytes is too short for HS256")

	cfg = defaultConfig()
	cfg.LoginURL = "http://127.0.0.1:8443/cas/login"
	cfg.TokenTTL = 0
	m, err := apereo.NewMinter(cfg, registry(), nil)
	require.NoError(t, err, "http and the default TTL are fine for NewMinter; check-config enforces https")
	u, err := m.HandoffURL("app", appA, alice())
	require.NoError(t, err)
	tok, _ := url.Parse(u)
	claims, err := verifyApereoDefaults(tok.Query().Get("token"), []byte(signA), []byte(encA), time.Now())
	require.NoError(t, err)
	require.Equal(t, 30.0, claims["exp"].(float64)-claims["iat"].(float64), "default token_ttl")
}

// TestStub drives the stub Apereo the way the browser-level test will.
func TestStub(t *testing.T) {
	clock := storetest.NewClock() // safe to advance while the stub serves
	stub := apereotest.New(t, map[string]apereo.ServiceToken{
		appA: {JWTSigningSecret: signA, JWTEncryptionSecret: encA},
		appB: {JWTSigningSecret: signB, JWTEncryptionSecret: encB},
	}, apereotest.WithClock(clock.Now))
	cfg := defaultConfig()
	cfg.LoginURL = stub.LoginURL()
	m, err := apereo.NewMinter(cfg, registry(), clock.Now)
	require.NoError(t, err)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	u, err := m.HandoffURL("app", appA+"home?lang=zh", alice())
	require.NoError(t, err)
	resp, err := client.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode, "%v", stub.Failures())
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "zh", loc.Query().Get("lang"))
	ticket := loc.Query().Get("ticket")
	require.True(t, strings.HasPrefix(ticket, "ST-stub-"))

	last, ok := stub.LastLogin()
	require.True(t, ok)
	require.Equal(t, "alice", last.Subject)
	require.Equal(t, appA+"home?lang=zh", last.Service)
	require.NotContains(t, last.Attributes(), "phone")
	require.Equal(t, []string{"staff", "library"}, last.Attributes()["group"])

	resp, err = http.Get(stub.URL + "/cas/p3/serviceValidate?service=" + url.QueryEscape(appA+"home?lang=zh") + "&ticket=" + url.QueryEscape(ticket))
	require.NoError(t, err)
	body := new(strings.Builder)
	_, _ = io.Copy(body, resp.Body)
	resp.Body.Close()
	require.Contains(t, body.String(), "<cas:user>alice</cas:user>")
	require.Contains(t, body.String(), "<cas:group>staff</cas:group>")

	// Replayed before exp: pac4j accepts it again (the documented caveat).
	resp, err = client.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)

	// Expired, or presented for another service: refused.
	clock.Advance(31 * time.Second)
	resp, err = client.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, stub.Failures()[len(stub.Failures())-1], "expired")

	clock.Advance(-31 * time.Second)
	tok, _ := url.Parse(u)
	resp, err = client.Get(stub.LoginURL() + "?" + url.Values{"service": {appB}, "token": {tok.Query().Get("token")}}.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, err = client.Get(stub.LoginURL() + "?" + url.Values{"service": {"https://evil.example.com/"}, "token": {tok.Query().Get("token")}}.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Len(t, stub.Logins(), 2)
}
