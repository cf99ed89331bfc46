package emulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/wechat/emulator"
)

const (
	web    = "wxweb00000000001"
	oa     = "wxoa000000000001"
	mini   = "wxmini0000000001"
	mobile = "wxapp00000000001"

	webSecret  = "websecret-0123456789"
	oaSecret   = "oasecret-0123456789"
	miniSecret = "minisecret-0123456789"
)

type fixture struct {
	t   *testing.T
	em  *emulator.Emulator
	srv *httptest.Server
	mu  sync.Mutex
	now time.Time
}

func (f *fixture) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func newFixture(t *testing.T, mod ...func(*emulator.Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	opts := emulator.Options{
		Apps: []emulator.App{
			{AppID: web, Secret: webSecret, Kind: emulator.KindWebsite, OpenPlatformID: "op", CallbackDomain: "cas.example.org"},
			{AppID: oa, Secret: oaSecret, Kind: emulator.KindOfficialAccount, OpenPlatformID: "op"},
			{AppID: mini, Secret: miniSecret, Kind: emulator.KindMiniProgram, OpenPlatformID: "op"},
			{AppID: mobile, Secret: "mobilesecret-0123456789", Kind: emulator.KindMobileApp},
		},
		Persons: []emulator.Person{{Name: "alice"}},
		Now:     f.Now,
	}
	for _, m := range mod {
		m(&opts)
	}
	em, err := emulator.New(opts)
	require.NoError(t, err)
	f.em = em
	f.srv = httptest.NewServer(em)
	t.Cleanup(f.srv.Close)
	return f
}

type answer struct {
	status      int
	contentType string
	raw         string
	fields      map[string]any
}

func (f *fixture) get(path string, q url.Values) answer {
	f.t.Helper()
	resp, err := http.Get(f.srv.URL + path + "?" + q.Encode())
	require.NoError(f.t, err)
	return f.read(resp)
}

func (f *fixture) post(path string, q url.Values, contentType, body string) answer {
	f.t.Helper()
	resp, err := http.Post(f.srv.URL+path+"?"+q.Encode(), contentType, strings.NewReader(body))
	require.NoError(f.t, err)
	return f.read(resp)
}

func (f *fixture) read(resp *http.Response) answer {
	f.t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	a := answer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), raw: string(b)}
	if json.Unmarshal(b, &a.fields) != nil {
		a.fields = nil
	}
	return a
}

// requireErr checks WeChat's error shape: HTTP 200, errcode, errmsg with a rid suffix.
func requireErr(t *testing.T, a answer, code int) {
	t.Helper()
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.NotNil(t, a.fields, a.raw)
	require.EqualValues(t, code, a.fields["errcode"], a.raw)
	require.Regexp(t, `, rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`, a.fields["errmsg"])
	require.Len(t, a.fields, 2, a.raw)
}

func (f *fixture) issue(appID, person, scope string) string {
	f.t.Helper()
	c, err := f.em.IssueCode(appID, person, scope)
	require.NoError(f.t, err)
	return c
}

func exchangeQuery(appID, secret, code string) url.Values {
	return url.Values{"appid": {appID}, "secret": {secret}, "code": {code}, "grant_type": {"authorization_code"}}
}

func TestAccessTokenValidation(t *testing.T) {
	f := newFixture(t)
	code := f.issue(web, "alice", "")
	tests := []struct {
		name string
		q    url.Values
		code int
	}{
		{"appid missing", url.Values{"secret": {webSecret}, "code": {code}, "grant_type": {"authorization_code"}}, 41002},
		{"appid unknown", exchangeQuery("wxunknown", webSecret, code), 40013},
		{"secret missing", url.Values{"appid": {web}, "code": {code}, "grant_type": {"authorization_code"}}, 41004},
		{"secret wrong", exchangeQuery(web, "nope", code), 40125},
		{"grant_type missing", url.Values{"appid": {web}, "secret": {webSecret}, "code": {code}}, 40002},
		{"grant_type wrong", url.Values{"appid": {web}, "secret": {webSecret}, "code": {code}, "grant_type": {"client_credential"}}, 40002},
		{"code missing", url.Values{"appid": {web}, "secret": {webSecret}, "grant_type": {"authorization_code"}}, 41008},
		{"code unknown", exchangeQuery(web, webSecret, "nosuchcode"), 40029},
		{"code of another app", exchangeQuery(oa, oaSecret, code), 40029},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { requireErr(t, f.get(emulator.PathAccessToken, tt.q), tt.code) })
	}
	// None of that consumed the code.
	a := f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, code))
	require.Nil(t, a.fields["errcode"], "success has no errcode: %s", a.raw)
	require.Equal(t, "application/json; encoding=utf-8", a.contentType)
	for _, k := range []string{"access_token", "refresh_token", "openid", "scope", "unionid"} {
		require.NotEmpty(t, a.fields[k], k)
	}
	require.EqualValues(t, 7200, a.fields["expires_in"])
	require.Equal(t, "snsapi_login", a.fields["scope"])
	require.NotContains(t, a.fields, "is_snapshotuser")
	require.Len(t, a.fields["openid"], 28)
	requireErr(t, f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, code)), 40163)
	require.Equal(t, len(tests)+2, f.em.Calls(emulator.PathAccessToken))
}

func TestCodeExpiryPerProduct(t *testing.T) {
	f := newFixture(t)
	web1, web2 := f.issue(web, "alice", ""), f.issue(web, "alice", "")
	oa1, oa2 := f.issue(oa, "alice", "snsapi_base"), f.issue(oa, "alice", "snsapi_base")
	f.advance(5*time.Minute - time.Second)
	require.Nil(t, f.get(emulator.PathAccessToken, exchangeQuery(oa, oaSecret, oa1)).fields["errcode"])
	f.advance(time.Second)
	requireErr(t, f.get(emulator.PathAccessToken, exchangeQuery(oa, oaSecret, oa2)), 40029)
	require.Nil(t, f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, web1)).fields["errcode"])
	f.advance(5 * time.Minute)
	requireErr(t, f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, web2)), 40029)
	// An expired code that was also used is still just 40029.
	requireErr(t, f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, web1)), 40029)
}

func TestUnionIDRules(t *testing.T) {
	f := newFixture(t)
	ex := func(app, secret, scope string) map[string]any {
		return f.get(emulator.PathAccessToken, exchangeQuery(app, secret, f.issue(app, "alice", scope))).fields
	}
	w := ex(web, webSecret, "")
	base := ex(oa, oaSecret, "snsapi_base")
	info := ex(oa, oaSecret, "snsapi_userinfo")
	require.NotContains(t, base, "unionid", "OA snsapi_base gives no unionid")
	require.Equal(t, w["unionid"], info["unionid"])
	require.Equal(t, base["openid"], info["openid"], "same openid in one app whatever the scope")
	require.NotEqual(t, w["openid"], info["openid"])

	// Mobile app in an account of its own.
	m := ex(mobile, "mobilesecret-0123456789", "")
	require.NotEmpty(t, m["unionid"])
	require.NotEqual(t, w["unionid"], m["unionid"])
	require.Equal(t, "snsapi_userinfo", m["scope"])

	// The exported helpers agree.
	require.Equal(t, w["openid"], f.em.OpenID(web, "alice"))
	require.Equal(t, w["unionid"], f.em.UnionID(oa, "alice"))
	require.Empty(t, f.em.UnionID("wxnope", "alice"))
}

func TestJSCode2Session(t *testing.T) {
	f := newFixture(t)
	js, err := f.em.IssueJSCode(mini, "alice")
	require.NoError(t, err)
	q := func(appID, secret, code string) url.Values {
		return url.Values{"appid": {appID}, "secret": {secret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	}
	requireErr(t, f.get(emulator.PathJSCode2Session, url.Values{"secret": {miniSecret}, "js_code": {js}}), 41002)
	requireErr(t, f.get(emulator.PathJSCode2Session, q(web, webSecret, js)), 40013)
	requireErr(t, f.get(emulator.PathJSCode2Session, q(mini, "", js)), 41004)
	requireErr(t, f.get(emulator.PathJSCode2Session, q(mini, miniSecret, "")), 41008)
	requireErr(t, f.get(emulator.PathJSCode2Session, url.Values{"appid": {mini}, "secret": {miniSecret}, "js_code": {js}}), 40002)
	requireErr(t, f.get(emulator.PathJSCode2Session, q(mini, miniSecret, f.issue(web, "alice", ""))), 40029)

	a := f.get(emulator.PathJSCode2Session, q(mini, miniSecret, js))
	require.Equal(t, "text/plain", a.contentType)
	require.NotContains(t, a.fields, "errcode", "success without errcode")
	require.NotEmpty(t, a.fields["session_key"])
	require.Equal(t, f.em.OpenID(mini, "alice"), a.fields["openid"])
	require.Equal(t, f.em.UnionID(web, "alice"), a.fields["unionid"])
	requireErr(t, f.get(emulator.PathJSCode2Session, q(mini, miniSecret, js)), 40163)

	require.NoError(t, f.em.SetPerson(emulator.Person{Name: "risky", Blocked: true}))
	js, err = f.em.IssueJSCode(mini, "risky")
	require.NoError(t, err)
	requireErr(t, f.get(emulator.PathJSCode2Session, q(mini, miniSecret, js)), 40226)

	_, err = f.em.IssueJSCode(web, "alice")
	require.Error(t, err)
}

func TestUserInfoAndAuth(t *testing.T) {
	f := newFixture(t)
	tok := func(app, secret, scope string) (string, string) {
		a := f.get(emulator.PathAccessToken, exchangeQuery(app, secret, f.issue(app, "alice", scope)))
		return a.fields["access_token"].(string), a.fields["openid"].(string)
	}
	at, openid := tok(oa, oaSecret, "snsapi_userinfo")
	ok := f.get(emulator.PathAuth, url.Values{"access_token": {at}, "openid": {openid}})
	require.Equal(t, map[string]any{"errcode": float64(0), "errmsg": "ok"}, ok.fields)

	requireErr(t, f.get(emulator.PathAuth, url.Values{"openid": {openid}}), 41001)
	requireErr(t, f.get(emulator.PathAuth, url.Values{"access_token": {at}}), 41009)
	requireErr(t, f.get(emulator.PathAuth, url.Values{"access_token": {"x"}, "openid": {openid}}), 40014)
	requireErr(t, f.get(emulator.PathAuth, url.Values{"access_token": {at}, "openid": {"oOther"}}), 40003)

	u := f.get(emulator.PathUserInfo, url.Values{"access_token": {at}, "openid": {openid}, "lang": {"en"}})
	require.Equal(t, "text/plain", u.contentType)
	require.EqualValues(t, 0, u.fields["sex"])
	require.Equal(t, "", u.fields["province"])
	require.Equal(t, "", u.fields["city"])
	require.Equal(t, "", u.fields["country"])
	require.Equal(t, []any{}, u.fields["privilege"])
	require.Equal(t, "alice 🐼", u.fields["nickname"])
	require.NotContains(t, u.fields, "language", "only mobile apps send language")
	require.Contains(t, u.raw, "🐼", "emoji sent as UTF-8")
	requireErr(t, f.get(emulator.PathUserInfo, url.Values{"access_token": {"x"}, "openid": {openid}}), 40001)

	bt, bopenid := tok(oa, oaSecret, "snsapi_base")
	requireErr(t, f.get(emulator.PathUserInfo, url.Values{"access_token": {bt}, "openid": {bopenid}}), 48001)

	f.advance(7200 * time.Second)
	requireErr(t, f.get(emulator.PathAuth, url.Values{"access_token": {at}, "openid": {openid}}), 42001)
	requireErr(t, f.get(emulator.PathUserInfo, url.Values{"access_token": {at}, "openid": {openid}}), 42001)
}

func TestRefreshValidation(t *testing.T) {
	f := newFixture(t)
	a := f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, f.issue(web, "alice", "")))
	rt := a.fields["refresh_token"].(string)
	q := func(appID, grant, rt string) url.Values {
		return url.Values{"appid": {appID}, "grant_type": {grant}, "refresh_token": {rt}}
	}
	requireErr(t, f.get(emulator.PathRefreshToken, q("", "refresh_token", rt)), 41002)
	requireErr(t, f.get(emulator.PathRefreshToken, q("wxnope", "refresh_token", rt)), 40013)
	requireErr(t, f.get(emulator.PathRefreshToken, q(web, "authorization_code", rt)), 40002)
	requireErr(t, f.get(emulator.PathRefreshToken, q(web, "refresh_token", "")), 41003)
	requireErr(t, f.get(emulator.PathRefreshToken, q(web, "refresh_token", "nope")), 40030)
	r := f.get(emulator.PathRefreshToken, q(web, "refresh_token", rt))
	require.Equal(t, a.fields["access_token"], r.fields["access_token"])
	require.NotContains(t, r.fields, "unionid")
}

func TestAppTokensAndPhone(t *testing.T) {
	f := newFixture(t)
	tq := func(appID, secret string) url.Values {
		return url.Values{"grant_type": {"client_credential"}, "appid": {appID}, "secret": {secret}}
	}
	requireErr(t, f.get(emulator.PathToken, url.Values{"appid": {mini}, "secret": {miniSecret}}), 40002)
	requireErr(t, f.get(emulator.PathToken, tq("", miniSecret)), 41002)
	requireErr(t, f.get(emulator.PathToken, tq(mini, "")), 41004)
	requireErr(t, f.get(emulator.PathToken, tq(mini, "bad")), 40125)
	t1 := f.get(emulator.PathToken, tq(mini, miniSecret))
	require.EqualValues(t, 7200, t1.fields["expires_in"])
	require.Len(t, t1.fields, 2)
	tok1 := t1.fields["access_token"].(string)

	// A new token retires the previous one after 5 minutes.
	tok2 := f.get(emulator.PathToken, tq(mini, miniSecret)).fields["access_token"].(string)
	require.NotEqual(t, tok1, tok2)
	phone := func(tok, body string) answer {
		return f.post(emulator.PathPhoneNumber, url.Values{"access_token": {tok}}, "application/json", body)
	}
	pc := func() string {
		c, err := f.em.IssuePhoneCode(mini, "alice")
		require.NoError(t, err)
		return c
	}
	ok := phone(tok1, `{"code":"`+pc()+`"}`)
	require.EqualValues(t, 0, ok.fields["errcode"], ok.raw)
	require.Equal(t, "ok", ok.fields["errmsg"])
	info := ok.fields["phone_info"].(map[string]any)
	require.Equal(t, float64(86), info["countryCode"], "countryCode is the number 86")
	require.Contains(t, ok.raw, `"countryCode":86`)
	p, _ := f.em.Person("alice")
	require.Equal(t, p.Phone, info["purePhoneNumber"])
	require.Len(t, p.Phone, 11)
	require.Equal(t, mini, info["watermark"].(map[string]any)["appid"])

	f.advance(5 * time.Minute)
	requireErr(t, phone(tok1, `{"code":"`+pc()+`"}`), 42001)
	require.EqualValues(t, 0, phone(tok2, `{"code":"`+pc()+`"}`).fields["errcode"])

	requireErr(t, phone("", `{"code":"x"}`), 41001)
	requireErr(t, phone("nope", `{"code":"x"}`), 40001)
	// Not JSON (a form body) ⇒ 47001.
	requireErr(t, f.post(emulator.PathPhoneNumber, url.Values{"access_token": {tok2}}, "application/x-www-form-urlencoded", "code="+pc()), 47001)
	requireErr(t, phone(tok2, `{}`), 47001)
	requireErr(t, f.get(emulator.PathPhoneNumber, url.Values{"access_token": {tok2}}), 47001)
	// Wrong, used or expired codes ⇒ 40029.
	used := pc()
	require.EqualValues(t, 0, phone(tok2, `{"code":"`+used+`"}`).fields["errcode"])
	requireErr(t, phone(tok2, `{"code":"`+used+`"}`), 40029)
	requireErr(t, phone(tok2, `{"code":"nope"}`), 40029)
	stale := pc()
	f.advance(5 * time.Minute)
	tok3 := f.get(emulator.PathToken, tq(mini, miniSecret)).fields["access_token"].(string)
	requireErr(t, phone(tok3, `{"code":"`+stale+`"}`), 40029)

	// stable_token: JSON body required.
	st := func(body string) answer { return f.post(emulator.PathStableToken, nil, "application/json", body) }
	requireErr(t, f.post(emulator.PathStableToken, nil, "application/x-www-form-urlencoded", "appid="+mini), 47001)
	requireErr(t, st(`{"grant_type":"client_credential","appid":"`+mini+`","secret":"bad"}`), 40125)
	requireErr(t, st(`{"grant_type":"x","appid":"`+mini+`","secret":"`+miniSecret+`"}`), 40002)
	s1 := st(`{"grant_type":"client_credential","appid":"` + mini + `","secret":"` + miniSecret + `"}`)
	s2 := st(`{"grant_type":"client_credential","appid":"` + mini + `","secret":"` + miniSecret + `"}`)
	require.Equal(t, s1.fields["access_token"], s2.fields["access_token"])
	s3 := st(`{"grant_type":"client_credential","appid":"` + mini + `","secret":"` + miniSecret + `","force_refresh":true}`)
	require.NotEqual(t, s1.fields["access_token"], s3.fields["access_token"])
	require.EqualValues(t, 0, phone(s3.fields["access_token"].(string), `{"code":"`+pc()+`"}`).fields["errcode"])
}

func TestFaults(t *testing.T) {
	f := newFixture(t)
	code := f.issue(web, "alice", "")
	f.em.InjectFault(emulator.PathAccessToken, emulator.FaultBusy, emulator.Fault{ErrCode: 45011, ErrMsg: "slow down"})
	requireErr(t, f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, code)), -1)
	a := f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, code))
	requireErr(t, a, 45011)
	require.True(t, strings.HasPrefix(a.fields["errmsg"].(string), "slow down, rid: "))
	// Faults did not consume the code.
	require.NotContains(t, f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, code)).fields, "errcode")

	// AfterProcessing consumes the code even though the caller sees an error.
	code = f.issue(web, "alice", "")
	f.em.InjectFault(emulator.PathAccessToken, emulator.Fault{AfterProcessing: true, ErrCode: -1})
	requireErr(t, f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, code)), -1)
	requireErr(t, f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, code)), 40163)

	// AfterProcessing alone delivers the real answer.
	code = f.issue(web, "alice", "")
	f.em.InjectFault(emulator.PathAccessToken, emulator.Fault{AfterProcessing: true})
	require.NotEmpty(t, f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, code)).fields["openid"])

	f.em.InjectFault(emulator.PathAuth, emulator.FaultEmptyBody, emulator.FaultHTMLBody, emulator.FaultGarbage)
	e := f.get(emulator.PathAuth, nil)
	require.Equal(t, "", e.raw)
	require.Equal(t, 200, e.status)
	h := f.get(emulator.PathAuth, nil)
	require.Equal(t, 502, h.status)
	require.Contains(t, h.raw, "<html>")
	g := f.get(emulator.PathAuth, nil)
	require.Nil(t, g.fields)
	require.Equal(t, "text/plain", g.contentType)

	f.em.InjectFault(emulator.PathAuth, emulator.FaultIPBlocked)
	ip := f.get(emulator.PathAuth, nil)
	requireErr(t, ip, 40164)
	require.Contains(t, ip.fields["errmsg"], "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist, rid: ")

	// (A fresh connection: on a reused one net/http would silently resend the GET.)
	f.em.InjectFault(emulator.PathAuth, emulator.FaultDrop)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	_, err := fresh.Get(f.srv.URL + emulator.PathAuth)
	require.Error(t, err)

	f.em.InjectFault(emulator.PathAuth, emulator.FaultDelay(50*time.Millisecond))
	start := time.Now()
	requireErr(t, f.get(emulator.PathAuth, nil), 41001)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)

	f.em.InjectFault(emulator.PathAuth, emulator.FaultBusy)
	f.em.ClearFaults()
	requireErr(t, f.get(emulator.PathAuth, nil), 41001)
}

func TestNewValidation(t *testing.T) {
	_, err := emulator.New(emulator.Options{Apps: []emulator.App{
		{AppID: "", Secret: "s", Kind: emulator.KindWebsite},
		{AppID: "a", Secret: "", Kind: emulator.KindWebsite},
		{AppID: "b", Secret: "s", Kind: "tv"},
		{AppID: "b", Secret: "s", Kind: emulator.KindWebsite},
	}, Persons: []emulator.Person{{Name: " padded"}}})
	require.Error(t, err)
	for _, want := range []string{"empty appid", "app a: empty secret", `unknown kind "tv"`, "listed twice", "person name"} {
		require.ErrorContains(t, err, want)
	}
	f := newFixture(t)
	_, err = f.em.IssueCode(oa, "alice", "snsapi_login")
	require.Error(t, err)
	_, err = f.em.IssueCode(mini, "alice", "")
	require.Error(t, err)
	_, err = f.em.IssueCode("wxnope", "alice", "")
	require.Error(t, err)
	_, err = f.em.IssueCode(web, strings.Repeat("x", 33), "")
	require.Error(t, err)
	_, err = f.em.IssueCode(web, "bad\nname", "")
	require.Error(t, err)
	require.Error(t, f.em.SetPerson(emulator.Person{Name: ""}))
}

func TestUnknownPath(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.srv.URL + "/sns/nope")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// Many clients at once against one emulator (run with -race).
func TestConcurrency(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, err := f.em.IssueCode(web, "alice", "")
			if err != nil {
				t.Error(err)
				return
			}
			resp, err := http.Get(f.srv.URL + emulator.PathAccessToken + "?" + exchangeQuery(web, webSecret, code).Encode())
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			f.em.InjectFault(emulator.PathAuth, emulator.FaultBusy)
			_ = f.em.Persons()
			_ = f.em.Calls(emulator.PathAccessToken)
		}()
	}
	wg.Wait()
	require.Equal(t, 20, f.em.Calls(emulator.PathAccessToken))
}
