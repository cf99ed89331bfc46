// Package apereotest is a stub Apereo CAS for tests of the token hand-off.
// Its /cas/login?service=S&token=JWT validates the token the way Apereo's
// token authentication (pac4j JwtAuthenticator configured by
// TokenAuthenticationSecurity) does, with go-jose restricted to exactly the
// algorithms the service is configured for:
//
//   - alg "none" and any other algorithm are refused;
//   - a JWE must use the service's key algorithm and encryption (dir +
//     A192CBC-HS384 by default), carry cty "JWT" and contain a JWS (the stub
//     is stricter than pac4j here, which also takes claims encrypted without
//     a signature);
//   - a bare JWS is accepted even when the service has an encryption secret
//     (pac4j does not require encryption);
//   - the JWS must verify with the signing secret (HS256 by default);
//   - sub is required; exp, when present, must not be in the past; iat, nbf
//     and jti are not checked (as in pac4j).
//
// On success it redirects (302) to S?ticket=ST-stub-... and answers
// /cas/p3/serviceValidate for that ticket with a minimal CAS 3.0 document;
// on failure it shows an error page (400 bad request, 403 service not
// registered, 401 token refused).
package apereotest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"wxcas/apereo"
)

// Login is a token the stub accepted.
type Login struct {
	// Service is the service parameter.
	Service string
	// Subject is the sub claim: Apereo's principal id.
	Subject string
	// Claims are all claims, sub included (numbers as float64).
	Claims map[string]any
	// JWEHeader is the protected header of the outer JWE (nil for a bare JWS).
	JWEHeader map[string]any
	// JWSHeader is the protected header of the JWS.
	JWSHeader map[string]any
	// Token is the token as received.
	Token string
}

// Attributes returns the claims other than sub as Apereo's principal
// attributes (strings, or lists of strings).
func (l Login) Attributes() map[string][]string {
	out := map[string][]string{}
	for k, v := range l.Claims {
		if k == "sub" {
			continue
		}
		switch v := v.(type) {
		case string:
			out[k] = []string{v}
		case []any:
			for _, e := range v {
				out[k] = append(out[k], fmt.Sprint(e))
			}
		default:
			out[k] = []string{fmt.Sprint(v)}
		}
	}
	return out
}

// Server is the stub. Use New.
type Server struct {
	*httptest.Server
	services []route
	now      func() time.Time

	mu       sync.Mutex
	logins   []Login
	failures []string
	tickets  map[string]Login
}

type route struct {
	prefix string
	token  apereo.ServiceToken
}

// Option configures the stub.
type Option func(*Server)

// WithClock makes the stub check exp against now instead of time.Now; now
// is called from the server's goroutines, so it must be safe for concurrent
// use (storetest.Clock.Now is).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New starts a stub whose registered services are the keys of services:
// service URL prefixes, compared case-insensitively, the longest matching
// prefix winning; the value is the service's token properties. It stops at
// the end of the test.
func New(t testing.TB, services map[string]apereo.ServiceToken, opts ...Option) *Server {
	s := &Server{now: time.Now, tickets: map[string]Login{}}
	for prefix, st := range services {
		s.services = append(s.services, route{strings.ToLower(prefix), st})
	}
	sort.Slice(s.services, func(i, j int) bool { return len(s.services[i].prefix) > len(s.services[j].prefix) })
	for _, o := range opts {
		o(s)
	}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// LoginURL is the stub's /cas/login, the value for cas.apereo.login_url.
func (s *Server) LoginURL() string { return s.URL + "/cas/login" }

// Logins returns the accepted tokens, oldest first.
func (s *Server) Logins() []Login {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Login(nil), s.logins...)
}

// LastLogin returns the most recently accepted token.
func (s *Server) LastLogin() (Login, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.logins) == 0 {
		return Login{}, false
	}
	return s.logins[len(s.logins)-1], true
}

// Failures returns why each refused request was refused, oldest first.
func (s *Server) Failures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.failures...)
}

func (s *Server) lookup(service string) (apereo.ServiceToken, bool) {
	l := strings.ToLower(service)
	for _, r := range s.services {
		if strings.HasPrefix(l, r.prefix) {
			return r.token, true
		}
	}
	return apereo.ServiceToken{}, false
}

// ServeHTTP answers /cas/login and /cas/p3/serviceValidate.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/cas/login":
		s.login(w, r)
	case "/cas/p3/serviceValidate":
		s.validate(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) fail(w http.ResponseWriter, status int, reason string) {
	s.mu.Lock()
	s.failures = append(s.failures, reason)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(reason))
	fmt.Fprintf(w, "<!doctype html><title>Apereo stub</title><h1>Authentication failed</h1><p>%s</p>\n", b.String())
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.fail(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	service, token := r.URL.Query().Get("service"), r.URL.Query().Get("token")
	if token == "" {
		token = r.Header.Get("token") // DefaultTokenRequestExtractor also reads a header
	}
	if service == "" || token == "" {
		s.fail(w, http.StatusBadRequest, "token authentication needs service and token")
		return
	}
	st, ok := s.lookup(service)
	if !ok {
		s.fail(w, http.StatusForbidden, "service not registered: "+service)
		return
	}
	l, err := Verify(token, st, s.now())
	if err != nil {
		s.fail(w, http.StatusUnauthorized, err.Error())
		return
	}
	l.Service = service
	ticket := "ST-stub-" + rand.Text()
	s.mu.Lock()
	s.logins = append(s.logins, l)
	s.tickets[ticket] = l
	s.mu.Unlock()
	sep := "?"
	if strings.Contains(service, "?") {
		sep = "&"
	}
	w.Header().Set("Location", service+sep+"ticket="+url.QueryEscape(ticket))
	w.WriteHeader(http.StatusFound)
}

// validate answers a minimal /p3/serviceValidate: single use, exact service.
func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	l, ok := s.tickets[q.Get("ticket")]
	delete(s.tickets, q.Get("ticket"))
	s.mu.Unlock()
	var b bytes.Buffer
	esc := func(v string) string {
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(v))
		return e.String()
	}
	b.WriteString(`<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">` + "\n")
	if !ok || l.Service != q.Get("service") {
		b.WriteString(`  <cas:authenticationFailure code="INVALID_TICKET">Ticket not recognized</cas:authenticationFailure>` + "\n")
	} else {
		b.WriteString("  <cas:authenticationSuccess>\n    <cas:user>" + esc(l.Subject) + "</cas:user>\n    <cas:attributes>\n")
		attrs := l.Attributes()
		names := make([]string, 0, len(attrs))
		for k := range attrs {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			for _, v := range attrs[k] {
				b.WriteString("      <cas:" + k + ">" + esc(v) + "</cas:" + k + ">\n")
			}
		}
		b.WriteString("    </cas:attributes>\n  </cas:authenticationSuccess>\n")
	}
	b.WriteString("</cas:serviceResponse>\n")
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// Verify validates token as Apereo does for a service with the token
// properties st, at time now. It shares no code with package apereo's
// minting.
func Verify(token string, st apereo.ServiceToken, now time.Time) (Login, error) {
	l := Login{Token: token}
	sigAlg := jose.SignatureAlgorithm(strings.ToUpper(orDefault(st.JWTSigningSecretAlg, "HS256")))
	sigKey, err := secretBytes(st.JWTSigningSecret, st.JWTSecretsAreBase64Encoded)
	if err != nil || len(sigKey) == 0 {
		return l, errors.New("the service has no usable jwtSigningSecret")
	}
	header, err := rawHeader(token)
	if err != nil {
		return l, err
	}
	if a, _ := header["alg"].(string); strings.EqualFold(a, "none") {
		return l, errors.New("a non-signed JWT cannot be accepted")
	}

	var signed *jwt.JSONWebToken
	switch strings.Count(token, ".") {
	case 4: // JWE
		if st.JWTEncryptionSecret == "" {
			return l, errors.New("no encryption configuration for an encrypted JWT")
		}
		encKey, err := secretBytes(st.JWTEncryptionSecret, st.JWTSecretsAreBase64Encoded)
		if err != nil {
			return l, err
		}
		keyAlg := jose.KeyAlgorithm(orDefault(st.JWTEncryptionSecretAlg, "dir"))
		if strings.EqualFold(string(keyAlg), "dir") {
			keyAlg = jose.DIRECT
		} else {
			keyAlg = jose.KeyAlgorithm(strings.ToUpper(string(keyAlg)))
		}
		enc := jose.ContentEncryption(strings.ToUpper(orDefault(st.JWTEncryptionSecretMethod, "A192CBC-HS384")))
		jwe, err := jose.ParseEncryptedCompact(token, []jose.KeyAlgorithm{keyAlg}, []jose.ContentEncryption{enc})
		if err != nil {
			return l, fmt.Errorf("encrypted JWT refused: %w", err)
		}
		if cty, _ := header["cty"].(string); !strings.EqualFold(cty, "JWT") {
			return l, errors.New(`encrypted JWT refused: cty is not "JWT"`)
		}
		inner, err := jwe.Decrypt(encKey)
		if err != nil {
			return l, fmt.Errorf("cannot decrypt the JWT: %w", err)
		}
		l.JWEHeader = header
		if l.JWSHeader, err = rawHeader(string(inner)); err != nil {
			return l, fmt.Errorf("the encrypted JWT does not contain a JWS: %w", err)
		}
		if signed, err = jwt.ParseSigned(string(inner), []jose.SignatureAlgorithm{sigAlg}); err != nil {
			return l, fmt.Errorf("signed JWT refused: %w", err)
		}
	case 2: // JWS
		if signed, err = jwt.ParseSigned(token, []jose.SignatureAlgorithm{sigAlg}); err != nil {
			return l, fmt.Errorf("signed JWT refused: %w", err)
		}
		l.JWSHeader = header
	default:
		return l, errors.New("not a JWT in compact serialization")
	}
	claims := map[string]any{}
	if err := signed.Claims(sigKey, &claims); err != nil {
		return l, fmt.Errorf("JWT verification failed: %w", err)
	}
	l.Claims = claims
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return l, errors.New("the JWT must contain a subject")
	}
	l.Subject = sub
	if exp, present := claims["exp"]; present {
		n, ok := exp.(float64)
		if !ok {
			return l, errors.New("exp is not a number")
		}
		if time.Unix(int64(n), 0).Before(now) {
			return l, errors.New("the JWT is expired")
		}
	}
	return l, nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// secretBytes derives a key as Apereo does: UTF-8 bytes, or base64.
func secretBytes(secret string, b64 bool) ([]byte, error) {
	if !b64 {
		return []byte(secret), nil
	}
	s := strings.TrimRight(secret, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// rawHeader decodes the first segment of a compact token.
func rawHeader(token string) (map[string]any, error) {
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, errors.New("malformed JOSE header")
	}
	h := map[string]any{}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, errors.New("malformed JOSE header")
	}
	return h, nil
}
