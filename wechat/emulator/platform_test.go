package emulator_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/wechat/emulator"
)

const (
	comp       = "wxcomp0000000001"
	compSecret = "compsecret-0123456789"
	compToken  = "comptoken42"
	// 43 characters: base64 of 32 bytes without its "=".
	compAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	comp2      = "wxcomp0000000002"

	poa       = "wxpoa00000000001" // served through comp, authorized, has a secret too
	poaSecret = "poasecret-0123456789"
	poa2      = "wxpoa00000000002" // served through comp, not authorized at start, no secret
)

// receiver is a platform's event URL: it checks the signatures, decrypts
// each push with its own code (not the emulator's) and answers as told.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	pushes []push
	answer func(n int) (int, string) // n counts pushes from 0
}

type push struct {
	query  url.Values
	outer  string // AppId outside the ciphertext
	appID  string // appid after the message inside the ciphertext
	fields map[string]string
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, answer: func(int) (int, string) { return http.StatusOK, "success" }}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p, err := openPush(compToken, compAESKey, r.Method, r.URL.Query(), body)
	if err != nil {
		rc.t.Errorf("receiver: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	n := len(rc.pushes)
	rc.pushes = append(rc.pushes, p)
	answer := rc.answer
	rc.mu.Unlock()
	status, text := answer(n)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

func (rc *receiver) setAnswer(f func(n int) (int, string)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.answer = f
}

func (rc *receiver) got() []push {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]push(nil), rc.pushes...)
}

func (rc *receiver) last() push {
	rc.t.Helper()
	all := rc.got()
	require.NotEmpty(rc.t, all)
	return all[len(all)-1]
}

// openPush is the platform side of WeChat's secure mode, written from the
// description of the scheme: check both signatures, base64-decode, AES-256-
// CBC-decrypt with IV = key[:16], strip the 32-byte PKCS#7 padding, then
// split 16 random bytes | length | message | appid.
func openPush(token, encodingAESKey, method string, q url.Values, body []byte) (push, error) {
	p := push{query: q}
	if method != http.MethodPost || q.Get("encrypt_type") != "aes" {
		return p, errors.New("not an encrypted POST")
	}
	var outer struct {
		AppID   string `xml:"AppId"`
		Encrypt string `xml:"Encrypt"`
	}
	if err := xml.Unmarshal(body, &outer); err != nil {
		return p, fmt.Errorf("outer xml: %w", err)
	}
	p.outer = outer.AppID
	sign := func(parts ...string) string {
		sort.Strings(parts)
		h := sha1.New()
		for _, s := range parts {
			h.Write([]byte(s))
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	if q.Get("signature") != sign(token, ts, nonce) {
		return p, errors.New("bad signature")
	}
	if q.Get("msg_signature") != sign(token, ts, nonce, outer.Encrypt) {
		return p, errors.New("bad msg_signature")
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return p, errors.New("bad key")
	}
	ct, err := base64.StdEncoding.DecodeString(outer.Encrypt)
	if err != nil || len(ct) == 0 || len(ct)%32 != 0 {
		return p, errors.New("ciphertext is not base64 of whole 32-byte blocks")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return p, err
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > 32 || !bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return p, errors.New("bad padding")
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return p, errors.New("too short")
	}
	n := int(binary.BigEndian.Uint32(plain[16:20]))
	if 20+n > len(plain) {
		return p, errors.New("bad length")
	}
	msg := plain[20 : 20+n]
	p.appID = string(plain[20+n:])
	p.fields, err = flatXML(msg)
	return p, err
}

// flatXML reads <xml><Name>value</Name>...</xml> into a map.
func flatXML(b []byte) (map[string]string, error) {
	out := map[string]string{}
	d := xml.NewDecoder(bytes.NewReader(b))
	depth, name := 0, ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 && tok.Name.Local != "xml" {
				return nil, errors.New("root is not <xml>")
			}
			name = tok.Name.Local
			if depth == 2 {
				out[name] = ""
			}
		case xml.CharData:
			if depth == 2 {
				out[name] += string(tok)
			}
		case xml.EndElement:
			depth--
		}
	}
}

// platformFixture: the usual apps plus two platform-served accounts of comp
// (whose event URL is rc) and a second platform without an event URL.
func newPlatformFixture(t *testing.T, mod ...func(*emulator.Options)) (*fixture, *receiver) {
	rc := newReceiver(t)
	f := newFixture(t, append([]func(*emulator.Options){func(o *emulator.Options) {
		o.Apps = append(o.Apps,
			emulator.App{AppID: poa, Secret: poaSecret, Kind: emulator.KindOfficialAccount, OpenPlatformID: "op", ComponentAppID: comp},
			emulator.App{AppID: poa2, Kind: emulator.KindOfficialAccount, ComponentAppID: comp},
		)
		o.Platforms = []emulator.Platform{
			{ComponentAppID: comp, Secret: compSecret, Token: compToken, EncodingAESKey: compAESKey, EventURL: rc.srv.URL + "/events?from=wechat", Authorizers: []string{poa}},
			{ComponentAppID: comp2, Secret: "comp2secret", Token: "t2", EncodingAESKey: compAESKey},
		}
	}}, mod...)...)
	return f, rc
}

func (f *fixture) pushTicket(id string) string {
	f.t.Helper()
	require.NoError(f.t, f.em.PushTicket(context.Background(), id))
	return f.em.Ticket(id)
}

func compTokenBody(appID, secret, ticket string) string {
	return fmt.Sprintf(`{"component_appid":%q,"component_appsecret":%q,"component_verify_ticket":%q}`, appID, secret, ticket)
}

// componentToken gets a component_access_token with a fresh ticket.
func (f *fixture) componentToken(id, secret string) string {
	f.t.Helper()
	a := f.post(emulator.PathComponentToken, nil, "application/json", compTokenBody(id, secret, f.pushTicket(id)))
	tok, _ := a.fields["component_access_token"].(string)
	require.NotEmpty(f.t, tok, a.raw)
	return tok
}

func compExchange(appID, code, token string) url.Values {
	return url.Values{"appid": {appID}, "code": {code}, "grant_type": {"authorization_code"},
		"component_appid": {comp}, "component_access_token": {token}}
}

func compRefresh(appID, rt, token string) url.Values {
	return url.Values{"appid": {appID}, "refresh_token": {rt}, "grant_type": {"refresh_token"},
		"component_appid": {comp}, "component_access_token": {token}}
}

func without(q url.Values, keys ...string) url.Values {
	c := url.Values{}
	for k, v := range q {
		c[k] = v
	}
	for _, k := range keys {
		c.Del(k)
	}
	return c
}

func with(q url.Values, kv ...string) url.Values {
	c := without(q)
	for i := 0; i+1 < len(kv); i += 2 {
		c.Set(kv[i], kv[i+1])
	}
	return c
}

func TestPlatformOptionsValidation(t *testing.T) {
	key := compAESKey
	_, err := emulator.New(emulator.Options{
		Apps: []emulator.App{
			{AppID: "a1", Kind: emulator.KindOfficialAccount, ComponentAppID: "nope"},
			{AppID: "a2", Secret: "s", Kind: emulator.KindWebsite, ComponentAppID: "p1"},
			{AppID: "a3", Kind: emulator.KindOfficialAccount},
			{AppID: "a4", Secret: "s", Kind: emulator.KindOfficialAccount},
		},
		Platforms: []emulator.Platform{
			{ComponentAppID: "p1", Secret: "s", Token: "t", EncodingAESKey: key, Authorizers: []string{"a4"}},
			{ComponentAppID: "p1", Secret: "s", Token: "t", EncodingAESKey: key},
			{ComponentAppID: "", Secret: "s", Token: "t", EncodingAESKey: key},
			{ComponentAppID: "p2", Token: "t", EncodingAESKey: key[:42]},
			{ComponentAppID: "p3", Secret: "s", EncodingAESKey: "!" + key[1:], EventURL: "ftp://x"},
			{ComponentAppID: "a4", Secret: "s", Token: "t", EncodingAESKey: key},
		},
	})
	require.Error(t, err)
	for _, want := range []string{
		"app a1: unknown platform nope", "app a2: only an official account", "app a3: empty secret",
		"platform p1 listed twice", "platforms[2]: empty component appid", "platform p2: empty secret",
		"platform p2: EncodingAESKey must have 43 characters", "platform p3: empty token",
		"platform p3: EncodingAESKey is not base64", "platform p3: event URL", "platform a4 has the appid of an app",
		"platform p1: authorizer a4 is not an app served through it",
	} {
		require.ErrorContains(t, err, want)
	}

	// A served account needs no secret of its own.
	_, err = emulator.New(emulator.Options{
		Apps:      []emulator.App{{AppID: "a1", Kind: emulator.KindOfficialAccount, ComponentAppID: "p1"}},
		Platforms: []emulator.Platform{{ComponentAppID: "p1", Secret: "s", Token: "t", EncodingAESKey: key, Authorizers: []string{"a1"}}},
	})
	require.NoError(t, err)
}

func poaURL(base, scope string, extra url.Values) string {
	return oaURL(base, scope, with(url.Values{"appid": {poa}, "component_appid": {comp}}, flatten(extra)...))
}

func flatten(q url.Values) []string {
	var kv []string
	for k, v := range q {
		kv = append(kv, k, v[0])
	}
	return kv
}

func TestPlatformAuthorizePage(t *testing.T) {
	f, _ := newPlatformFixture(t)
	tests := []struct {
		name, url, want string
	}{
		{"served account without component_appid", oaURL(f.srv.URL, "snsapi_base", url.Values{"appid": {poa}, "sandbox_user": {"alice"}}), "component_appid 参数错误"},
		{"another component_appid", poaURL(f.srv.URL, "snsapi_base", url.Values{"component_appid": {comp2}, "sandbox_user": {"alice"}}), "component_appid 参数错误"},
		{"component_appid for a plain account", oaURL(f.srv.URL, "snsapi_base", url.Values{"component_appid": {comp}, "sandbox_user": {"alice"}}), "component_appid 参数错误"},
		{"component_appid on qrconnect", qrURL(f.srv.URL, url.Values{"component_appid": {comp}}), "component_appid 参数错误"},
		{"withdrawn authorizer", poaURL(f.srv.URL, "snsapi_base", url.Values{"appid": {poa2}, "sandbox_user": {"alice"}}), "该公众号未授权给此第三方平台"},
		{"withdrawn authorizer, page", poaURL(f.srv.URL, "snsapi_userinfo", url.Values{"appid": {poa2}}), "This Official Account has not authorized the platform"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := f.browse(http.MethodGet, tt.url, nil)
			require.Equal(t, http.StatusBadRequest, p.status)
			require.Empty(t, p.location, "never redirects")
			require.Contains(t, p.body, tt.want)
		})
	}
	require.Zero(t, f.em.Authorizations(poa)+f.em.Authorizations(poa2))

	// The callback of a component authorization carries code, state and appid.
	tok := f.componentToken(comp, compSecret)
	r := f.browse(http.MethodGet, poaURL(f.srv.URL, "snsapi_userinfo", url.Values{"sandbox_user": {"alice"}}), nil)
	code := codeFrom(t, r)
	loc, _ := url.Parse(r.location)
	require.Equal(t, poa, loc.Query().Get("appid"))
	require.True(t, strings.HasPrefix(r.location, "https://m.example.org/cb?code="), r.location)
	a := f.get(emulator.PathComponentAccessToken, compExchange(poa, code, tok))
	require.Equal(t, f.em.OpenID(poa, "alice"), a.fields["openid"], a.raw)

	// The same through the picker and through a signed-in phone.
	ph := f.phone()
	u := poaURL(f.srv.URL, "snsapi_base", nil)
	pg := ph.do(http.MethodGet, u, nil)
	require.True(t, isPicker(pg.body))
	r = ph.answerPage(u, pg, "approve", url.Values{"user": {"alice"}})
	loc, _ = url.Parse(r.location)
	require.Equal(t, poa, loc.Query().Get("appid"))
	require.NotContains(t, f.get(emulator.PathComponentAccessToken, compExchange(poa, codeFrom(t, r), tok)).fields, "errcode")
	r = ph.do(http.MethodGet, u, nil)
	loc, _ = url.Parse(r.location)
	require.Equal(t, poa, loc.Query().Get("appid"))
	require.NotContains(t, f.get(emulator.PathComponentAccessToken, compExchange(poa, codeFrom(t, r), tok)).fields, "errcode")
	require.Equal(t, 3, f.em.Authorizations(poa))
	require.Equal(t, 1, f.em.ConsentPages(poa))

	// A refusal carries the state only.
	r = f.browse(http.MethodGet, poaURL(f.srv.URL, "snsapi_base", url.Values{"sandbox_refuse": {"1"}}), nil)
	require.Equal(t, "https://m.example.org/cb?state=ST8", r.location)

	// Withdrawn while the page was open: the approval ends on the error page.
	ph2 := f.phone()
	pg = ph2.do(http.MethodGet, u, nil)
	require.NoError(t, f.em.Unauthorize(context.Background(), comp, poa))
	r = ph2.answerPage(u, pg, "approve", url.Values{"user": {"alice"}})
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Empty(t, r.location)
	require.Contains(t, r.body, "该公众号未授权给此第三方平台")
	require.Empty(t, ph2.person(), "a failed approval signs nobody in")
}

func TestComponentToken(t *testing.T) {
	f, _ := newPlatformFixture(t)
	ticket, pushed := f.pushTicket(comp), f.Now()
	require.True(t, strings.HasPrefix(ticket, "ticket@@@"), ticket)
	ticket2 := f.pushTicket(comp2)
	post := func(body string) answer { return f.post(emulator.PathComponentToken, nil, "application/json", body) }

	tests := []struct {
		name string
		a    func() answer
		code int
	}{
		{"form body", func() answer {
			return f.post(emulator.PathComponentToken, nil, "application/x-www-form-urlencoded", "component_appid="+comp)
		}, 47001},
		{"GET", func() answer { return f.get(emulator.PathComponentToken, url.Values{"component_appid": {comp}}) }, 47001},
		{"not JSON", func() answer { return post(`component_appid=` + comp) }, 47001},
		{"appid missing", func() answer { return post(compTokenBody("", compSecret, ticket)) }, 41002},
		{"appid unknown", func() answer { return post(compTokenBody("wxnope", compSecret, ticket)) }, 40013},
		{"an app's appid", func() answer { return post(compTokenBody(poa, poaSecret, ticket)) }, 40013},
		{"secret missing", func() answer { return post(compTokenBody(comp, "", ticket)) }, 41004},
		{"secret wrong", func() answer { return post(compTokenBody(comp, "nope", ticket)) }, 40125},
		{"ticket missing", func() answer { return post(compTokenBody(comp, compSecret, "")) }, 61006},
		{"ticket unknown", func() answer { return post(compTokenBody(comp, compSecret, "ticket@@@made-up")) }, 61006},
		{"ticket of another platform", func() answer { return post(compTokenBody(comp, compSecret, ticket2)) }, 61006},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { requireErr(t, tt.a(), tt.code) })
	}
	a := post(compTokenBody(comp, compSecret, ticket))
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "application/json; encoding=utf-8", a.contentType)
	require.Len(t, a.fields, 2, a.raw)
	require.EqualValues(t, 7200, a.fields["expires_in"])
	tok1 := a.fields["component_access_token"].(string)
	require.Contains(t, errText(t, f.post(emulator.PathComponentToken, nil, "application/json", compTokenBody(comp, "nope", ticket))), "invalid appsecret, rid: ")

	// The token's life, probed through a refresh with an unknown refresh
	// token: 40030 while the token is good, else the token's error.
	probe := func(tok string) int {
		a := f.get(emulator.PathComponentRefreshToken, compRefresh(poa, "no-such-refresh-token", tok))
		return int(a.fields["errcode"].(float64))
	}
	require.Equal(t, 40030, probe(tok1))
	f.advance(time.Hour)
	tok2 := post(compTokenBody(comp, compSecret, ticket)).fields["component_access_token"].(string)
	require.NotEqual(t, tok1, tok2, "every call makes a new token")
	f.advance(5*time.Minute - time.Second)
	require.Equal(t, 40030, probe(tok1), "the previous token overlaps 5 minutes")
	f.advance(time.Second)
	require.Equal(t, 42001, probe(tok1))
	require.Equal(t, 40030, probe(tok2))
	f.advance(7200*time.Second - 5*time.Minute - time.Second)
	require.Equal(t, 40030, probe(tok2))
	f.advance(time.Second)
	require.Equal(t, 42001, probe(tok2), "7200 s")

	// A ticket is good for 12 hours after its push; then 61005.
	f.advance(pushed.Add(emulator.VerifyTicketTTL - time.Second).Sub(f.Now()))
	require.NotContains(t, post(compTokenBody(comp, compSecret, ticket)).fields, "errcode")
	f.advance(time.Second)
	expired := post(compTokenBody(comp, compSecret, ticket))
	requireErr(t, expired, 61005)
	require.Contains(t, errText(t, expired), "component ticket is expired, rid: ")
	unknown := post(compTokenBody(comp, compSecret, "ticket@@@made-up"))
	require.Contains(t, errText(t, unknown), "component ticket is invalid, rid: ")
	// A newer push is good again, and an older ticket stays expired.
	require.NotContains(t, post(compTokenBody(comp, compSecret, f.pushTicket(comp))).fields, "errcode")
	requireErr(t, post(compTokenBody(comp, compSecret, ticket)), 61005)
}

func errText(t *testing.T, a answer) string {
	t.Helper()
	s, _ := a.fields["errmsg"].(string)
	return s
}

func TestComponentExchange(t *testing.T) {
	f, _ := newPlatformFixture(t)
	tok := f.componentToken(comp, compSecret)
	tok2 := f.componentToken(comp2, "comp2secret")
	code := f.issue(poa, "alice", "snsapi_userinfo")
	plain := f.issue(oa, "alice", "snsapi_userinfo")
	q := compExchange(poa, code, tok)

	tests := []struct {
		name string
		q    url.Values
		code int
	}{
		{"appid missing", without(q, "appid"), 41002},
		{"component_appid missing", without(q, "component_appid"), 41002},
		{"component_access_token missing", without(q, "component_access_token"), 41001},
		{"grant_type missing", without(q, "grant_type"), 40002},
		{"grant_type wrong", with(q, "grant_type", "refresh_token"), 40002},
		{"code missing", without(q, "code"), 41008},
		{"parameters before the token", with(without(q, "code"), "component_access_token", "nope"), 41008},
		{"token unknown", with(q, "component_access_token", "nope"), 40001},
		{"token of another platform", with(q, "component_access_token", tok2), 40001},
		{"token for another component_appid", with(q, "component_appid", comp2), 40001},
		{"token before the authorization", with(q, "component_access_token", "nope", "appid", oa), 40001},
		{"account not served by the platform", with(q, "appid", oa), 61003},
		{"account unknown", with(q, "appid", "wxnope"), 61003},
		{"account withdrawn", with(q, "appid", poa2), 61003},
		{"authorization before the code", with(q, "appid", poa2, "code", "nope"), 61003},
		{"code unknown", with(q, "code", "nope"), 40029},
		{"plain code of another account", with(q, "code", plain), 40029},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { requireErr(t, f.get(emulator.PathComponentAccessToken, tt.q), tt.code) })
	}
	require.Contains(t, errText(t, f.get(emulator.PathComponentAccessToken, with(q, "appid", oa))), "component is not authorized by this account, rid: ")
	require.Contains(t, errText(t, f.get(emulator.PathComponentAccessToken, with(q, "component_access_token", "nope"))), "invalid credential, access_token is invalid or not latest, rid: ")

	// None of that used the code.
	a := f.get(emulator.PathComponentAccessToken, q)
	require.NotContains(t, a.fields, "errcode", a.raw)
	require.Equal(t, "application/json; encoding=utf-8", a.contentType)
	require.Equal(t, f.em.OpenID(poa, "alice"), a.fields["openid"])
	require.Equal(t, f.em.UnionID(poa, "alice"), a.fields["unionid"])
	require.Equal(t, f.em.UnionID(web, "alice"), a.fields["unionid"], "one unionid per person in the open-platform account")
	require.Equal(t, "snsapi_userinfo", a.fields["scope"])
	require.EqualValues(t, 7200, a.fields["expires_in"])
	require.NotContains(t, a.fields, "is_snapshotuser")
	requireErr(t, f.get(emulator.PathComponentAccessToken, q), 40163)

	// /sns/userinfo and /sns/auth take the token as any other.
	at, openid := a.fields["access_token"].(string), a.fields["openid"].(string)
	require.EqualValues(t, 0, f.get(emulator.PathAuth, url.Values{"access_token": {at}, "openid": {openid}}).fields["errcode"])
	u := f.get(emulator.PathUserInfo, url.Values{"access_token": {at}, "openid": {openid}})
	require.Equal(t, "alice 🐼", u.fields["nickname"])
	require.Equal(t, f.em.UnionID(poa, "alice"), u.fields["unionid"])

	// snsapi_base: no unionid; snapshot: flagged; an account with no
	// open-platform binding: no unionid either.
	require.NoError(t, f.em.Authorize(context.Background(), comp, poa2))
	b := f.get(emulator.PathComponentAccessToken, compExchange(poa, f.issue(poa, "alice", "snsapi_base"), tok))
	require.NotContains(t, b.fields, "unionid")
	require.Equal(t, "snsapi_base", b.fields["scope"])
	require.NoError(t, f.em.SetPerson(emulator.Person{Name: "snappy", Snapshot: true}))
	s := f.get(emulator.PathComponentAccessToken, compExchange(poa, f.issue(poa, "snappy", "snsapi_userinfo"), tok))
	require.EqualValues(t, 1, s.fields["is_snapshotuser"])
	n := f.get(emulator.PathComponentAccessToken, compExchange(poa2, f.issue(poa2, "alice", "snsapi_userinfo"), tok))
	require.Equal(t, f.em.OpenID(poa2, "alice"), n.fields["openid"])
	require.NotContains(t, n.fields, "unionid")

	// Codes expire as an Official Account's (5 minutes).
	late := f.issue(poa, "alice", "snsapi_base")
	f.advance(emulator.CodeTTLOfficialAccount)
	requireErr(t, f.get(emulator.PathComponentAccessToken, compExchange(poa, late, tok)), 40029)

	// An expired component token: 42001.
	old := f.issue(poa, "alice", "snsapi_base")
	f.advance(emulator.ComponentTokenTTL - emulator.CodeTTLOfficialAccount)
	requireErr(t, f.get(emulator.PathComponentAccessToken, compExchange(poa, old, tok)), 42001)
}

// A component code is exchanged only at the component endpoint, a plain one
// only at the plain endpoint; refresh tokens likewise.
func TestComponentAndPlainCodesApart(t *testing.T) {
	f, _ := newPlatformFixture(t)
	tok := f.componentToken(comp, compSecret)

	code := f.issue(poa, "alice", "snsapi_userinfo")
	requireErr(t, f.get(emulator.PathAccessToken, exchangeQuery(poa, poaSecret, code)), 40029)
	a := f.get(emulator.PathComponentAccessToken, compExchange(poa, code, tok))
	require.NotContains(t, a.fields, "errcode", "the plain attempt did not use the code")
	rt := a.fields["refresh_token"].(string)

	// The sandbox helper's code for a served account is a component code.
	resp, err := http.PostForm(f.srv.URL+emulator.PathSandboxCode, url.Values{"appid": {poa}, "sandbox_user": {"alice"}, "scope": {"snsapi_base"}})
	require.NoError(t, err)
	sc := f.read(resp)
	require.Equal(t, http.StatusOK, sc.status, sc.raw)
	requireErr(t, f.get(emulator.PathAccessToken, exchangeQuery(poa, poaSecret, sc.fields["code"].(string))), 40029)
	require.NotContains(t, f.get(emulator.PathComponentAccessToken, compExchange(poa, sc.fields["code"].(string), tok)).fields, "errcode")
	// ... and there is none while the account has withdrawn.
	require.NoError(t, f.em.Unauthorize(context.Background(), comp, poa2))
	resp, err = http.PostForm(f.srv.URL+emulator.PathSandboxCode, url.Values{"appid": {poa2}, "sandbox_user": {"alice"}, "scope": {"snsapi_base"}})
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, f.read(resp).status)

	// A plain account's code and refresh token stay at the plain endpoints.
	pa := f.get(emulator.PathAccessToken, exchangeQuery(oa, oaSecret, f.issue(oa, "alice", "snsapi_base")))
	prt := pa.fields["refresh_token"].(string)
	requireErr(t, f.get(emulator.PathComponentAccessToken, compExchange(poa, f.issue(oa, "alice", "snsapi_base"), tok)), 40029)
	requireErr(t, f.get(emulator.PathComponentRefreshToken, compRefresh(poa, prt, tok)), 40030)
	requireErr(t, f.get(emulator.PathRefreshToken, url.Values{"appid": {poa}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}), 40030)
	require.NotContains(t, f.get(emulator.PathComponentRefreshToken, compRefresh(poa, rt, tok)).fields, "errcode")
}

func TestComponentRefresh(t *testing.T) {
	f, _ := newPlatformFixture(t)
	tok := f.componentToken(comp, compSecret)
	a := f.get(emulator.PathComponentAccessToken, compExchange(poa, f.issue(poa, "alice", "snsapi_userinfo"), tok))
	rt := a.fields["refresh_token"].(string)
	q := compRefresh(poa, rt, tok)

	tests := []struct {
		name string
		q    url.Values
		code int
	}{
		{"appid missing", without(q, "appid"), 41002},
		{"component_appid missing", without(q, "component_appid"), 41002},
		{"component_access_token missing", without(q, "component_access_token"), 41001},
		{"grant_type wrong", with(q, "grant_type", "authorization_code"), 40002},
		{"refresh_token missing", without(q, "refresh_token"), 41003},
		{"token unknown", with(q, "component_access_token", "nope"), 40001},
		{"account not served", with(q, "appid", oa), 61003},
		{"refresh_token unknown", with(q, "refresh_token", "nope"), 40030},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { requireErr(t, f.get(emulator.PathComponentRefreshToken, tt.q), tt.code) })
	}
	r := f.get(emulator.PathComponentRefreshToken, q)
	require.NotContains(t, r.fields, "errcode", r.raw)
	require.Equal(t, a.fields["access_token"], r.fields["access_token"], "a live token is extended")
	require.Equal(t, rt, r.fields["refresh_token"])
	require.Equal(t, a.fields["openid"], r.fields["openid"])
	require.Equal(t, "snsapi_userinfo", r.fields["scope"])

	// After 2 hours: a new access token (and a new component token).
	f.advance(3 * time.Hour)
	tok = f.componentToken(comp, compSecret)
	r2 := f.get(emulator.PathComponentRefreshToken, compRefresh(poa, rt, tok))
	require.NotEqual(t, a.fields["access_token"], r2.fields["access_token"])
	require.EqualValues(t, 0, f.get(emulator.PathAuth, url.Values{"access_token": {r2.fields["access_token"].(string)}, "openid": {a.fields["openid"].(string)}}).fields["errcode"])

	// Withdrawn: 61003; back: works again.
	require.NoError(t, f.em.Unauthorize(context.Background(), comp, poa))
	requireErr(t, f.get(emulator.PathComponentRefreshToken, compRefresh(poa, rt, tok)), 61003)
	require.NoError(t, f.em.Authorize(context.Background(), comp, poa))
	require.NotContains(t, f.get(emulator.PathComponentRefreshToken, compRefresh(poa, rt, tok)).fields, "errcode")

	// 30 days after the exchange: 42002.
	f.advance(emulator.RefreshTokenTTL - 3*time.Hour)
	tok = f.componentToken(comp, compSecret)
	requireErr(t, f.get(emulator.PathComponentRefreshToken, compRefresh(poa, rt, tok)), 42002)
}

func TestComponentPathsTakeFaults(t *testing.T) {
	f, _ := newPlatformFixture(t)
	ticket := f.pushTicket(comp)
	f.em.InjectFault(emulator.PathComponentToken, emulator.FaultBusy)
	requireErr(t, f.post(emulator.PathComponentToken, nil, "application/json", compTokenBody(comp, compSecret, ticket)), -1)
	tok := f.post(emulator.PathComponentToken, nil, "application/json", compTokenBody(comp, compSecret, ticket)).fields["component_access_token"].(string)
	require.Equal(t, 2, f.em.Calls(emulator.PathComponentToken))

	code := f.issue(poa, "alice", "snsapi_base")
	f.em.InjectFault(emulator.PathComponentAccessToken, emulator.FaultRateLimited, emulator.Fault{AfterProcessing: true, ErrCode: -1})
	requireErr(t, f.get(emulator.PathComponentAccessToken, compExchange(poa, code, tok)), 45011)
	requireErr(t, f.get(emulator.PathComponentAccessToken, compExchange(poa, code, tok)), -1)
	requireErr(t, f.get(emulator.PathComponentAccessToken, compExchange(poa, code, tok)), 40163)

	f.em.InjectFault(emulator.PathComponentRefreshToken, emulator.FaultGarbage)
	g := f.get(emulator.PathComponentRefreshToken, compRefresh(poa, "x", tok))
	require.Nil(t, g.fields)
	require.Equal(t, 3, f.em.Calls(emulator.PathComponentAccessToken))
}
