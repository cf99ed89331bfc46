package apereo_test

// Mode A: Apereo CAS delegates authentication to wxcas as an external CAS
// server (cas.authn.pac4j.cas[0].login-url=<wxcas>/cas/login,
// protocol=CAS30). These tests play Apereo's side exactly as pac4j's
// CasClient does: the login redirect with Apereo's callback URL as the
// service, the ticket read from the callback, validation at
// <prefix>/p3/serviceValidate and the response parsed as the Apereo Java CAS
// client's Cas30ServiceTicketValidator parses it.

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/store/storetest"
)

// Apereo's callback URLs for two delegated clients. pac4j CAS clients in
// Apereo use callback-url-type PATH_PARAMETER: <cas>/login/<client-name>.
const (
	callbackWeChat = "https://cas.example.edu/cas/login/WeChat"
	callbackWeixin = "https://cas.example.edu/cas/login/Weixin"
)

// wxcas is a wxcas CAS server whose login flow completes at once as the
// current principal.
type wxcas struct {
	ts     *httptest.Server
	srv    *cas.Server
	logins atomic.Int32

	mu        sync.Mutex
	principal cas.Principal
}

func directoryUser() cas.Principal {
	return cas.Principal{
		ID: "u-20240017", // wxcas's own user id: Apereo must not see it
		Attributes: map[string][]string{
			"username":     {"a.liddell"},
			"displayName":  {"Alice Liddell"},
			"mail":         {"alice@example.edu"},
			"memberOf":     {"staff", "library"},
			"phone":        {"+8613800000000"},
			"loginChannel": {"wechat"},
		},
		AuthenticatedAt: time.Date(2026, 11, 21, 7, 59, 30, 0, time.UTC),
	}
}

func newWxcas(t *testing.T) *wxcas {
	t.Helper()
	w := &wxcas{principal: directoryUser()}
	clock := storetest.NewClock()
	cfg := cas.DefaultConfig()
	cfg.Services = []cas.Service{
		// The documented entry: the username Apereo knows becomes <cas:user>.
		{ID: "apereo", Name: "Apereo CAS", Match: cas.MatchPrefix, URL: callbackWeChat,
			PrincipalAttribute: "username", LogoutType: cas.LogoutNone,
			Attributes: []string{"username", "displayName", "mail", "memberOf", "loginChannel"}},
		// The alternative: wxcas sends its id, Apereo picks the principal
		// from an attribute (principal-attribute-id=username).
		{ID: "apereo-by-attribute", Match: cas.MatchPrefix, URL: callbackWeixin, LogoutType: cas.LogoutNone,
			Attributes: []string{"username", "memberOf"}},
	}
	w.ts = httptest.NewUnstartedServer(nil)
	t.Cleanup(w.ts.Close)
	pub, _ := url.Parse("http://" + w.ts.Listener.Addr().String())
	srv, err := cas.NewServer(cfg, cas.Deps{
		DB:        storetest.SQLite(t),
		Now:       clock.Now,
		Logger:    slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		CookieKey: []byte("0123456789abcdef0123456789abcdef"),
		PublicURL: pub,
		Authenticator: cas.AuthenticatorFunc(func(rw http.ResponseWriter, r *http.Request, req cas.LoginRequest) {
			w.logins.Add(1)
			w.mu.Lock()
			p := w.principal
			w.mu.Unlock()
			_ = w.srv.CompleteLogin(rw, r, req, p)
		}),
	})
	require.NoError(t, err)
	w.srv = srv
	w.ts.Config.Handler = srv
	w.ts.Start()
	t.Cleanup(srv.WaitIdle)
	return w
}

func (w *wxcas) setPrincipal(p cas.Principal) {
	w.mu.Lock()
	w.principal = p
	w.mu.Unlock()
}

// pac4jCasClient is Apereo's delegated CAS client as pac4j builds it from
// cas.authn.pac4j.cas[0].* properties.
type pac4jCasClient struct {
	loginURL    string // login-url
	callbackURL string // computed by Apereo: <cas>/login/<client-name>
	// principalAttributeID is principal-attribute-id: the profile id is
	// taken from this attribute instead of <cas:user>.
	principalAttributeID string
	renew                bool
	http                 *http.Client
}

// redirectURL is where pac4j sends the browser: CasRedirectionActionBuilder
// (login URL with Apereo's custom delegatedclientid parameter, then
// service=<urlencoded callback>, renew when asked).
func (c pac4jCasClient) redirectURL() string {
	login := c.loginURL + "?delegatedclientid=TST-1-abcdefghijklmnopqrstuvwxyz"
	u := login + "&service=" + url.QueryEscape(c.callbackURL)
	if c.renew {
		u += "&renew=true"
	}
	return u
}

// casProfile is what pac4j's CasAuthenticator builds from the assertion.
type casProfile struct {
	ID         string
	Attributes map[string][]string
}

var errTicketValidation = errors.New("TicketValidationException")

// validate is Cas30ServiceTicketValidator: GET <prefix>p3/serviceValidate
// with ticket and service (the callback URL again), then parse.
func (c pac4jCasClient) validate(t *testing.T, ticket string) (casProfile, string, error) {
	t.Helper()
	// CasConfiguration: prefix = login URL with its trailing "login" removed.
	prefix := strings.TrimSuffix(c.loginURL, "login")
	u := prefix + "p3/serviceValidate?ticket=" + url.QueryEscape(ticket) + "&service=" + url.QueryEscape(c.callbackURL)
	resp, err := c.http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	doc := string(body)

	if msg := textForElement(t, doc, "authenticationFailure"); msg != "" {
		return casProfile{}, doc, errTicketValidation
	}
	user := textForElement(t, doc, "user")
	if user == "" {
		return casProfile{}, doc, errTicketValidation // "No principal was found in the response"
	}
	p := casProfile{ID: user, Attributes: customAttributes(t, doc)}
	if c.principalAttributeID != "" {
		vals := p.Attributes[c.principalAttributeID]
		if len(vals) == 0 {
			return casProfile{}, doc, errors.New("no principal attribute " + c.principalAttributeID)
		}
		p.ID = vals[0]
	}
	return p, doc, nil
}

// textForElement is XmlUtils.getTextForElement: the text of the first
// element with this local name, namespace-aware.
func textForElement(t *testing.T, doc, local string) string {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	var b strings.Builder
	in := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return ""
		}
		require.NoError(t, err)
		switch e := tok.(type) {
		case xml.StartElement:
			in = e.Name.Local == local
		case xml.CharData:
			if in {
				b.Write(e)
			}
		case xml.EndElement:
			if in && e.Name.Local == local {
				return strings.TrimSpace(b.String())
			}
		}
	}
}

// customAttributes is Cas20ServiceTicketValidator.extractCustomAttributes:
// the text between the literal "<cas:attributes>" and "</cas:attributes>",
// each child element by local name, repeated elements collected in order.
func customAttributes(t *testing.T, doc string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	i, j := strings.Index(doc, "<cas:attributes>"), strings.Index(doc, "</cas:attributes>")
	if i < 0 || j < i {
		return out
	}
	inner := `<root xmlns:cas="http://www.yale.edu/tp/cas">` + doc[i+len("<cas:attributes>"):j] + `</root>`
	dec := xml.NewDecoder(strings.NewReader(inner))
	var name string
	var text bytes.Buffer
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		switch e := tok.(type) {
		case xml.StartElement:
			name = e.Name.Local
			text.Reset()
		case xml.CharData:
			text.Write(e)
		case xml.EndElement:
			if e.Name.Local == name && name != "root" {
				out[name] = append(out[name], text.String())
				name = ""
			}
		}
	}
}

// browser follows no redirects and keeps cookies.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// delegate runs the browser part: Apereo's redirect to wxcas, wxcas's 303
// back to the callback; it returns the ticket pac4j reads from the callback.
func delegate(t *testing.T, b *http.Client, c pac4jCasClient) string {
	t.Helper()
	resp, err := b.Get(c.redirectURL())
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "%s", body)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, c.callbackURL+"?ticket=ST-"), loc)
	cb, err := url.Parse(loc)
	require.NoError(t, err)
	require.Equal(t, c.callbackURL, cb.Scheme+"://"+cb.Host+cb.Path, "back to the callback exactly")
	return cb.Query().Get("ticket") // CasCredentialsExtractor
}

func TestApereoDelegation(t *testing.T) {
	w := newWxcas(t)
	client := pac4jCasClient{loginURL: w.ts.URL + "/cas/login", callbackURL: callbackWeChat, http: &http.Client{Timeout: 10 * time.Second}}
	b := browser()

	t.Run("FirstLogin", func(t *testing.T) {
		st := delegate(t, b, client)
		require.EqualValues(t, 1, w.logins.Load(), "the WeChat login ran")
		p, doc, err := client.validate(t, st)
		require.NoError(t, err, doc)
		require.Equal(t, "a.liddell", p.ID, "principal_attribute: username is <cas:user>")
		require.Equal(t, []string{"a.liddell"}, p.Attributes["username"])
		require.Equal(t, []string{"Alice Liddell"}, p.Attributes["displayName"])
		require.Equal(t, []string{"alice@example.edu"}, p.Attributes["mail"])
		require.Equal(t, []string{"staff", "library"}, p.Attributes["memberOf"], "multi-valued, in order")
		require.Equal(t, []string{"wechat"}, p.Attributes["loginChannel"])
		require.Equal(t, []string{"true"}, p.Attributes["isFromNewLogin"])
		require.Equal(t, []string{"2026-11-21T07:59:30Z"}, p.Attributes["authenticationDate"])
		require.NotContains(t, p.Attributes, "phone", "not released")
		require.NotContains(t, doc, "u-20240017", "wxcas's own id never reaches Apereo")

		_, _, err = client.validate(t, st)
		require.ErrorIs(t, err, errTicketValidation, "single use")
	})

	t.Run("SingleSignOn", func(t *testing.T) {
		// Apereo's session ended but wxcas's did not: no second WeChat scan.
		st := delegate(t, b, client)
		require.EqualValues(t, 1, w.logins.Load())
		p, doc, err := client.validate(t, st)
		require.NoError(t, err, doc)
		require.Equal(t, "a.liddell", p.ID)
		require.Equal(t, []string{"false"}, p.Attributes["isFromNewLogin"])
	})

	t.Run("Renew", func(t *testing.T) {
		renew := client
		renew.renew = true
		st := delegate(t, b, renew)
		require.EqualValues(t, 2, w.logins.Load(), "renew forces the WeChat login")
		p, doc, err := renew.validate(t, st)
		require.NoError(t, err, doc)
		require.Equal(t, []string{"true"}, p.Attributes["isFromNewLogin"])
	})

	t.Run("TicketBoundToTheCallback", func(t *testing.T) {
		st := delegate(t, b, client)
		other := client
		other.callbackURL = callbackWeixin
		_, doc, err := other.validate(t, st)
		require.ErrorIs(t, err, errTicketValidation)
		require.Contains(t, doc, `code="INVALID_SERVICE"`)
	})

	t.Run("PrincipalAttributeIDAtApereo", func(t *testing.T) {
		byAttr := pac4jCasClient{loginURL: client.loginURL, callbackURL: callbackWeixin, principalAttributeID: "username", http: client.http}
		st := delegate(t, b, byAttr)
		p, doc, err := byAttr.validate(t, st)
		require.NoError(t, err, doc)
		require.Equal(t, "a.liddell", p.ID)
		require.Contains(t, doc, "<cas:user>u-20240017</cas:user>", "without principal_attribute wxcas sends its id")
	})

	t.Run("UserWithoutUsername", func(t *testing.T) {
		p := directoryUser()
		delete(p.Attributes, "username")
		w.setPrincipal(p)
		defer w.setPrincipal(directoryUser())
		st := delegate(t, browser(), client)
		_, doc, err := client.validate(t, st)
		require.ErrorIs(t, err, errTicketValidation, "Apereo's login fails instead of logging in the wrong user")
		require.Contains(t, doc, `code="INVALID_TICKET"`)
		require.Contains(t, doc, "no username attribute")
		require.NotContains(t, doc, "u-20240017")
	})

	t.Run("UnregisteredCallback", func(t *testing.T) {
		evil := client
		evil.callbackURL = "https://cas.example.edu.evil.test/cas/login/WeChat"
		resp, err := browser().Get(evil.redirectURL())
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "an error page, never a redirect")
		require.Empty(t, resp.Header.Get("Location"))
	})

	t.Run("JSON", func(t *testing.T) {
		// CAS30 with a JSON validator (Cas30JsonServiceTicketValidator) reads the same.
		st := delegate(t, b, client)
		resp, err := client.http.Get(w.ts.URL + "/cas/p3/serviceValidate?format=JSON&ticket=" + url.QueryEscape(st) + "&service=" + url.QueryEscape(callbackWeChat))
		require.NoError(t, err)
		defer resp.Body.Close()
		var doc struct {
			ServiceResponse struct {
				AuthenticationSuccess struct {
					User       string         `json:"user"`
					Attributes map[string]any `json:"attributes"`
				} `json:"authenticationSuccess"`
			} `json:"serviceResponse"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
		require.Equal(t, "a.liddell", doc.ServiceResponse.AuthenticationSuccess.User)
		require.Equal(t, []any{"staff", "library"}, doc.ServiceResponse.AuthenticationSuccess.Attributes["memberOf"])
	})
}
