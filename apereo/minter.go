package apereo

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"wxcas/cas"
)

// Errors of HandoffURL. The caller shows the user an error page; none of
// them is worth retrying.
var (
	// ErrNoService: the login has no service; Apereo's token login only
	// runs for a service.
	ErrNoService = errors.New("apereo: the login has no service to hand over (Apereo's token login needs one)")
	// ErrServiceNotAllowed: the service URL is not registered, or no longer
	// belongs to the service id the login started with.
	ErrServiceNotAllowed = errors.New("apereo: the service is not registered")
	// ErrNoTokenSecrets: the service is registered but has no entry in
	// cas.apereo.services, so Apereo could not accept a token for it.
	ErrNoTokenSecrets = errors.New("apereo: the service has no token secrets (cas.apereo.services)")
	// ErrInvalidPrincipal: the principal id is empty, too long or not text.
	ErrInvalidPrincipal = errors.New("apereo: the principal id is empty, too long or not valid text")
)

// Minter turns a finished WeChat login into a redirect to Apereo's token
// login: <login_url>?service=S&token=JWT. It is safe for concurrent use and
// never logs tokens or secrets.
type Minter struct {
	loginURL string
	ttl      time.Duration
	now      func() time.Time
	matcher  *cas.Matcher
	services map[string]cas.Service
	keys     map[string]keys
}

// NewMinter checks cfg against the CAS registry (the same list the CAS
// server uses) and prepares the keys. The environment and https rules are
// check-config's business (Config.Validate); NewMinter refuses only what
// cannot work. now is the clock (nil: time.Now).
func NewMinter(cfg Config, services []cas.Service, now func() time.Time) (*Minter, error) {
	if p := cfg.Validate(services, func(string) bool { return true }, true); len(p) > 0 {
		return nil, fmt.Errorf("apereo: invalid configuration:\n%s", strings.Join(p, "\n"))
	}
	matcher, err := cas.NewMatcher(services)
	if err != nil {
		return nil, err
	}
	m := &Minter{
		loginURL: cfg.LoginURL,
		ttl:      cfg.TokenTTL,
		now:      now,
		matcher:  matcher,
		services: map[string]cas.Service{},
		keys:     map[string]keys{},
	}
	if m.ttl == 0 {
		m.ttl = DefaultTokenTTL
	}
	if m.now == nil {
		m.now = time.Now
	}
	for _, s := range services {
		m.services[s.ID] = s
	}
	for id, st := range cfg.Services {
		k, _ := st.resolve() // Validate found no problem
		m.keys[id] = k
	}
	return m, nil
}

// Supports reports whether logins for the registered service serviceID can
// be handed to Apereo. The login flow can check it before asking the user to
// scan, instead of failing at the end.
func (m *Minter) Supports(serviceID string) bool {
	_, ok := m.keys[serviceID]
	return ok
}

// HandoffURL returns <LoginURL>?service=<serviceURL>&token=<JWT> for the
// registered service serviceID. serviceURL is the service parameter exactly
// as the login received it; it is checked against the registry again (it
// must still name serviceID), as CompleteLogin does.
//
// The token's claims are sub (the user the service receives: p.ID, or its
// principal_attribute), iat, exp (iat + token_ttl), jti, and the principal
// attributes the CAS service releases (cas.services[].attributes): one value
// as a string, several as an array. Apereo turns them into principal
// attributes.
func (m *Minter) HandoffURL(serviceID, serviceURL string, p cas.Principal) (string, error) {
	token, err := m.Token(serviceID, serviceURL, p)
	if err != nil {
		return "", err
	}
	q := url.Values{"service": {serviceURL}, "token": {token}}
	return m.loginURL + "?" + q.Encode(), nil
}

// Redirect answers with a 303 to HandoffURL, uncacheable. On error it
// writes nothing: the caller renders its error page.
func (m *Minter) Redirect(w http.ResponseWriter, r *http.Request, serviceID, serviceURL string, p cas.Principal) error {
	target, err := m.HandoffURL(serviceID, serviceURL, p)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")
	h.Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// Token mints the token HandoffURL puts in the URL.
func (m *Minter) Token(serviceID, serviceURL string, p cas.Principal) (string, error) {
	if serviceURL == "" {
		return "", ErrNoService
	}
	svc, ok := m.matcher.Match(serviceURL)
	if !ok || svc.ID != serviceID {
		return "", ErrServiceNotAllowed
	}
	k, ok := m.keys[svc.ID]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrNoTokenSecrets, svc.ID)
	}
	if p.ID == "" || len(p.ID) > 255 || !cas.ValidText(p.ID) {
		return "", ErrInvalidPrincipal
	}
	sub, err := svc.User(p)
	if err != nil {
		return "", err
	}
	claims := map[string]any{}
	for _, name := range svc.Attributes {
		if reservedClaims[name] {
			continue // Validate refuses this; never let an attribute replace a claim
		}
		var vals []string
		for _, v := range p.Attributes[name] {
			if utf8.ValidString(v) {
				vals = append(vals, v)
			}
		}
		switch len(vals) {
		case 0:
		case 1:
			claims[name] = vals[0]
		default:
			claims[name] = vals
		}
	}
	now := m.now()
	claims["sub"] = sub
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(m.ttl).Unix()
	claims["jti"] = rand.Text()
	return k.mint(claims)
}

// mint signs the claims (JWS compact) and, when the service has an
// encryption secret, encrypts that JWS as a nested JWT (JWE with cty "JWT"),
// the shape pac4j's JwtGenerator produces.
func (k keys) mint(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("apereo: encode claims: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.sigAlg, Key: k.sigKey}, nil)
	if err != nil {
		return "", fmt.Errorf("apereo: signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("apereo: sign: %w", err)
	}
	signed, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("apereo: sign: %w", err)
	}
	if k.encAlg == "" {
		return signed, nil
	}
	enc, err := jose.NewEncrypter(k.encMeth, jose.Recipient{Algorithm: k.encAlg, Key: k.encKey},
		(&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		return "", fmt.Errorf("apereo: encrypter: %w", err)
	}
	jwe, err := enc.Encrypt([]byte(signed))
	if err != nil {
		return "", fmt.Errorf("apereo: encrypt: %w", err)
	}
	return jwe.CompactSerialize()
}
