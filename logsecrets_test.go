package main

// One whole session — browser login with binding, SSO, proxy tickets (a
// delivered and a failed callback), the JSON API, REST tickets, logout —
// collecting every secret issued on the way, then checking that none of them
// reached the log. The log runs at debug level, so a secret that only a debug
// line prints is caught too.

import (
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/logx"
)

// secrets collects what must never be logged, with a name for the report.
type secrets struct {
	t    *testing.T
	seen map[string]string
}

func (s *secrets) add(kind, value string) {
	s.t.Helper()
	require.NotEmpty(s.t, value, "the session issued a %s", kind)
	s.seen[value] = kind
}

// pgtCallback is a proxy's https callback: it records the pgtIou → pgtId
// pairs that wxcas delivers.
type pgtCallback struct {
	srv  *httptest.Server
	mu   sync.Mutex
	pgts map[string]string
}

func newPGTCallback(t *testing.T) *pgtCallback {
	cb := &pgtCallback{pgts: map[string]string{}}
	cb.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if iou := r.URL.Query().Get("pgtIou"); iou != "" {
			cb.mu.Lock()
			cb.pgts[iou] = r.URL.Query().Get("pgtId")
			cb.mu.Unlock()
		}
	}))
	t.Cleanup(cb.srv.Close)
	return cb
}

func (cb *pgtCallback) pgt(iou string) string {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return cb.pgts[iou]
}

// casAnswer is the part of a CAS 3 XML response the session reads.
type casAnswer struct {
	Success *struct {
		User   string `xml:"user"`
		PGTIOU string `xml:"proxyGrantingTicket"`
	} `xml:"authenticationSuccess"`
	Failure *struct {
		Code string `xml:"code,attr"`
		Text string `xml:",chardata"`
	} `xml:"authenticationFailure"`
	Proxy *struct {
		Ticket string `xml:"proxyTicket"`
	} `xml:"proxySuccess"`
}

func casGet(t *testing.T, target string) casAnswer {
	t.Helper()
	resp, err := noRedirect.Get(target)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a casAnswer
	require.NoError(t, xml.Unmarshal(raw, &a), string(raw))
	return a
}

func TestNoSecretReachesTheLog(t *testing.T) {
	cb := newPGTCallback(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadCallback := "https://" + closed.Addr().String() + "/cb" // nothing answers there
	closed.Close()

	// Single logout goes to this test's own server, so that the logout
	// messages (which carry service tickets) are sent and logged as in
	// production without leaving the machine.
	var sloMu sync.Mutex
	var slo []string
	sloSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sloMu.Lock()
		slo = append(slo, r.FormValue("logoutRequest"))
		sloMu.Unlock()
	}))
	t.Cleanup(sloSrv.Close)

	ln, base := listen(t)
	site, backend := "https://site.example.edu/app/", "https://backend.example.edu/"
	body := "server: {listen: " + ln.Addr().String() + ", public_url: '" + base + "'}\n" +
		"log: {level: debug, format: json}\n" +
		"database: {sqlite_path: " + filepath.Join(t.TempDir(), "wxcas.db") + "}\nsandbox: {enabled: true}\n" +
		"wechat: {apps: [{appid: wxa1b2c3d4e5f60001, kind: website, secret: web-secret-not-for-logs}, " +
		"{appid: wxa1b2c3d4e5f60003, kind: mini_program, secret: mini-secret-not-for-logs}]}\n" +
		"login: {website_appid: wxa1b2c3d4e5f60001}\n" +
		"cas: {services: [" +
		"{id: site, name: Site, match: prefix, url: '" + site + "', allow_proxy: true, proxy_callback_pattern: '^https://127\\.0\\.0\\.1:[0-9]+/cb$', logout_url: '" + sloSrv.URL + "/site'}, " +
		"{id: backend, name: Backend, match: prefix, url: '" + backend + "', logout_url: '" + sloSrv.URL + "/backend'}]}\n"
	logs := &logx.Buffer{}
	trust := cb.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	a := runAppWith(t, ln, body, appTest{log: logs, backChannel: &tls.Config{RootCAs: trust}})
	env := &flowEnv{t: t, a: a, base: base, service: site}
	s := &secrets{t: t, seen: map[string]string{}}

	// A browser logs in for the first time: QR, callback, phone, code.
	b := env.browser("")
	qr := b.start()
	u, err := url.Parse(qr.url)
	require.NoError(t, err)
	s.add("flow id", u.Query().Get("flow"))
	callback := b.scan(qr, "log-secrets-person")
	cbURL, err := url.Parse(callback)
	require.NoError(t, err)
	s.add("wechat state", cbURL.Query().Get("state"))
	s.add("wechat code", cbURL.Query().Get("code"))
	bind := b.get(callback)
	require.Equal(t, http.StatusOK, bind.status, bind.body)
	codePage := b.post(bind, "/login/phone", url.Values{"phone": {"13800138123"}})
	require.Equal(t, http.StatusOK, codePage.status, codePage.body)
	s.add("phone number", "13800138123")
	s.add("phone number", "+8613800138123")
	otpCode := env.smsCode("+8613800138123")
	s.add("sms code", otpCode)
	wrong := b.post(codePage, "/login/code", url.Values{"code": {wrongCode(otpCode)}})
	require.Equal(t, http.StatusBadRequest, wrong.status, "a wrong guess is refused")
	s.add("wrong sms code", wrongCode(otpCode))
	done := b.post(wrong, "/login/code", url.Values{"code": {otpCode}})
	st := ticketOf(t, done)
	s.add("service ticket", st)
	for _, c := range b.c.Jar.Cookies(u) {
		s.add("cookie "+c.Name, c.Value)
	}

	// The site validates and asks for a proxy-granting ticket.
	v := casGet(t, base+"/cas/p3/serviceValidate?"+url.Values{"service": {site}, "ticket": {st}, "pgtUrl": {cb.srv.URL + "/cb"}}.Encode())
	require.NotNil(t, v.Success, "%+v", v)
	s.add("pgtIou", v.Success.PGTIOU)
	pgt := cb.pgt(v.Success.PGTIOU)
	s.add("proxy-granting ticket", pgt)
	p := casGet(t, base+"/cas/proxy?"+url.Values{"pgt": {pgt}, "targetService": {backend + "api"}}.Encode())
	require.NotNil(t, p.Proxy, "%+v", p)
	s.add("proxy ticket", p.Proxy.Ticket)
	pv := casGet(t, base+"/cas/p3/proxyValidate?"+url.Values{"service": {backend + "api"}, "ticket": {p.Proxy.Ticket}}.Encode())
	require.NotNil(t, pv.Success, "%+v", pv)

	// Single sign-on to the site again; this time the proxy callback fails.
	sso := b.get(base + "/cas/login?service=" + url.QueryEscape(site+"again"))
	st2 := ticketOf(t, sso)
	s.add("SSO service ticket", st2)
	failed := casGet(t, base+"/cas/p3/serviceValidate?"+url.Values{"service": {site + "again"}, "ticket": {st2}, "pgtUrl": {deadCallback}}.Encode())
	require.NotNil(t, failed.Failure, "%+v", failed)

	// A mini program logs in over the JSON API, binds and uses REST tickets.
	jsCode := sandboxJSCode(t, base, "wxa1b2c3d4e5f60003", "log-secrets-api")
	s.add("mini program code", jsCode)
	_, login := apiPost(t, base, "/api/v1/login/wechat", map[string]string{"appid": "wxa1b2c3d4e5f60003", "code": jsCode})
	require.Equal(t, "binding_required", login["status"], "%v", login)
	s.add("bind token", login["bind_token"].(string))
	_, sent := apiPost(t, base, "/api/v1/bind/sms/send", map[string]string{"bind_token": login["bind_token"].(string), "phone": "13900139123"})
	s.add("bind token", sent["bind_token"].(string))
	s.add("phone number", "13900139123")
	s.add("phone number", "+8613900139123")
	apiCode := sandboxSMSCode(t, base, "+8613900139123")
	s.add("sms code", apiCode)
	status, verified := apiPost(t, base, "/api/v1/bind/sms/verify", map[string]string{"bind_token": sent["bind_token"].(string), "code": apiCode})
	require.Equal(t, http.StatusOK, status, "%v", verified)
	tgt := verified["tgt"].(string)
	s.add("REST ticket-granting ticket", tgt)

	resp, err := http.PostForm(base+"/cas/v1/tickets/"+tgt, url.Values{"service": {backend}})
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	s.add("REST service ticket", string(raw))
	require.NotNil(t, casGet(t, base+"/cas/p3/serviceValidate?"+url.Values{"service": {backend}, "ticket": {string(raw)}}.Encode()).Success)
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		req, _ := http.NewRequest(method, base+"/cas/v1/tickets/"+tgt, nil)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}

	// The browser logs out; its services hear of it.
	out := b.get(base + "/cas/logout")
	require.Equal(t, http.StatusOK, out.status)
	waitFor(t, func() bool { sloMu.Lock(); defer sloMu.Unlock(); return len(slo) >= 3 }, "single logout of the REST and browser sessions")

	// The sandbox's console SMS sender writes each code to the log on
	// purpose: that is how a sandbox user receives it. Every other line is
	// checked; so is that line's phone, which must be masked.
	var checked []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var fields map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &fields), line)
		require.Empty(t, repeatedKeys(t, line), "a key is repeated in one log line (e.g. component added twice): %s", line)
		// Numbers a line carries by nature (timestamps, latencies, sizes)
		// could contain a 6-digit code by chance.
		for _, k := range []string{"time", "latency", "bytes"} {
			delete(fields, k)
		}
		if fields["msg"] == "sandbox sms" {
			require.NotContains(t, fmt.Sprint(fields["phone"]), "138123", "the sandbox SMS line masks the phone")
			continue
		}
		clean, _ := json.Marshal(fields)
		checked = append(checked, string(clean))
	}
	text := strings.Join(checked, "\n")
	require.Greater(t, len(checked), 40, "the session was logged")
	for value, kind := range s.seen {
		require.NotContains(t, text, value, "the log contains a %s", kind)
	}
	// Secrets the test never sees (the undelivered PGT and its IOU, the SSO
	// session's TGT) must not be there in full either: log lines carry at
	// most a ticket's prefix and six characters.
	fullTicket := regexp.MustCompile(`(TGT|ST|PT|PGT|PGTIOU)-[A-Z2-7]{12,}`)
	require.Empty(t, fullTicket.FindAllString(text, -1), "a whole ticket id is in the log")
	require.NotContains(t, text, "secret-not-for-logs", "an app secret is in the log")
}

// repeatedKeys lists the top-level keys a JSON object holds more than once
// (which json.Unmarshal would silently collapse).
func repeatedKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	_, err := dec.Token() // {
	require.NoError(t, err)
	seen, repeated := map[string]bool{}, []string(nil)
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		key, _ := tok.(string)
		if seen[key] {
			repeated = append(repeated, key)
		}
		seen[key] = true
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return repeated
}

// wrongCode is a code of the same length that is not code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// sandboxJSCode asks the sandbox emulator for a wx.login code.
func sandboxJSCode(t *testing.T, base, appid, person string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/sandbox/wechat/_sandbox/code", url.Values{"appid": {appid}, "sandbox_user": {person}, "type": {"js"}})
	require.NoError(t, err)
	defer resp.Body.Close()
	var issued struct{ Code string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&issued))
	return issued.Code
}

func apiPost(t *testing.T, base, path string, body map[string]string) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(base+path, "application/json", strings.NewReader(string(raw)))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
