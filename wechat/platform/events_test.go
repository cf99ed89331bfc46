package platform_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/logx"
	"wxcas/store/storetest"
	"wxcas/wechat/platform"
	"wxcas/wechat/platform/platformtest"
)

// memStore is an in-memory platform.Store that can be told to fail, for the
// receiver's tests; TestMemStore holds it to the same contract as SQLStore.
type memStore struct {
	mu      sync.Mutex
	tickets map[string]memTicket
	auths   map[[2]string]memAuth
	fail    error
	saves   int
}

type memTicket struct {
	ticket  string
	created time.Time
}

type memAuth struct {
	authorized bool
	created    time.Time
}

func newMemStore() *memStore {
	return &memStore{tickets: map[string]memTicket{}, auths: map[[2]string]memAuth{}}
}

func (m *memStore) setFail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

func (m *memStore) saveCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saves
}

func memTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func memValid(created time.Time, appIDs ...string) error {
	for _, a := range appIDs {
		if a == "" || len(a) > platform.MaxAppIDLen {
			return platform.ErrInvalid
		}
	}
	if created.Unix() <= 0 || created.Year() > 9999 {
		return platform.ErrInvalid
	}
	return nil
}

func (m *memStore) SaveTicket(_ context.Context, component, ticket string, created time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves++
	if m.fail != nil {
		return false, m.fail
	}
	if err := memValid(created, component); err != nil || ticket == "" || len(ticket) > platform.MaxTicketLen {
		return false, platform.ErrInvalid
	}
	created = memTime(created)
	if old, ok := m.tickets[component]; ok && !old.created.Before(created) {
		return false, nil
	}
	m.tickets[component] = memTicket{ticket, created}
	return true, nil
}

func (m *memStore) Ticket(_ context.Context, component string) (string, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return "", time.Time{}, m.fail
	}
	t, ok := m.tickets[component]
	if !ok {
		return "", time.Time{}, platform.ErrNoTicket
	}
	return t.ticket, t.created, nil
}

func (m *memStore) SaveAuthorization(_ context.Context, component, authorizer string, authorized bool, infoType string, created time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves++
	if m.fail != nil {
		return false, m.fail
	}
	if err := memValid(created, component, authorizer); err != nil || infoType == "" || len(infoType) > platform.MaxInfoTypeLen {
		return false, platform.ErrInvalid
	}
	created = memTime(created)
	k := [2]string{component, authorizer}
	if old, ok := m.auths[k]; ok && !old.created.Before(created) {
		return false, nil
	}
	m.auths[k] = memAuth{authorized, created}
	return true, nil
}

func (m *memStore) Authorization(_ context.Context, component, authorizer string) (platform.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return platform.StatusUnknown, m.fail
	}
	a, ok := m.auths[[2]string{component, authorizer}]
	switch {
	case !ok:
		return platform.StatusUnknown, nil
	case a.authorized:
		return platform.StatusAuthorized, nil
	default:
		return platform.StatusUnauthorized, nil
	}
}

// TestMemStore keeps the receiver tests' fake honest.
func TestMemStore(t *testing.T) {
	platformtest.Run(t, func(*testing.T) platform.Store { return newMemStore() })
}

// env is a Receiver on a memStore with a settable clock and a log buffer.
type env struct {
	clock *storetest.Clock
	store *memStore
	logs  *logx.Buffer
	rcv   *platform.Receiver
}

const (
	authorizerAppID = "wxauthorizer0000001"
	// ticket is what WeChat's tickets look like; it must never be logged.
	ticket = "ticket@@@kXq3mVbT9zR2yLw8pN4sJ6hF1dG5cA7eU0oI-_PqRsTuVwXyZ"
)

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{clock: storetest.NewClock(), store: newMemStore(), logs: &logx.Buffer{}}
	rcv, err := platform.NewReceiver(platform.ReceiverOptions{
		ComponentAppID: testAppID,
		Crypter:        newCrypter(t),
		Store:          e.store,
		Now:            e.clock.Now,
		Logger:         slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	e.rcv = rcv
	return e
}

// push describes one request to the event URL; zero fields take the values
// of a good push.
type push struct {
	inner       string // the decrypted message
	trailer     string // the appid after the message (default testAppID)
	encrypt     string // replaces the whole Encrypt text
	outerAppID  string // "-" leaves AppId out of the body
	timestamp   string
	nonce       string
	sig         string // replaces msg_signature
	encryptType string // "-" leaves encrypt_type out
	body        string // replaces the whole body
	method      string
}

// encryptText is the Encrypt text a push carries.
func (p push) encryptText(t *testing.T) string {
	if p.encrypt != "" {
		return p.encrypt
	}
	trailer := p.trailer
	if trailer == "" {
		trailer = testAppID
	}
	return wxEncrypt(t, testKey, trailer, []byte(p.inner))
}

// send makes the request and serves it.
func (e *env) send(t *testing.T, p push) *httptest.ResponseRecorder {
	t.Helper()
	enc := p.encryptText(t)
	if p.timestamp == "" {
		p.timestamp = strconv.FormatInt(e.clock.Now().Unix(), 10)
	}
	if p.nonce == "" {
		p.nonce = "1320562132"
	}
	if p.sig == "" {
		p.sig = wxSign(testToken, p.timestamp, p.nonce, enc)
	}
	q := url.Values{}
	q.Set("timestamp", p.timestamp)
	q.Set("nonce", p.nonce)
	q.Set("msg_signature", p.sig)
	// The plain signature WeChat also sends: not what is checked.
	q.Set("signature", "0000000000000000000000000000000000000000")
	switch p.encryptType {
	case "":
		q.Set("encrypt_type", "aes")
	case "-":
	default:
		q.Set("encrypt_type", p.encryptType)
	}
	body := p.body
	if body == "" {
		var b strings.Builder
		b.WriteString("<xml>")
		switch p.outerAppID {
		case "":
			fmt.Fprintf(&b, "<AppId><![CDATA[%s]]></AppId>", testAppID)
		case "-":
		default:
			fmt.Fprintf(&b, "<AppId><![CDATA[%s]]></AppId>", p.outerAppID)
		}
		fmt.Fprintf(&b, "<Encrypt><![CDATA[%s]]></Encrypt></xml>", enc)
		body = b.String()
	}
	method := p.method
	if method == "" {
		method = http.MethodPost
	}
	req := httptest.NewRequest(method, "/wechat/platform/events?"+q.Encode(), strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml")
	w := httptest.NewRecorder()
	e.rcv.ServeHTTP(w, req)
	t.Cleanup(func() { e.noSecretsLogged(t, enc) })
	return w
}

// noSecretsLogged: whatever happened, the log holds none of the secrets.
func (e *env) noSecretsLogged(t *testing.T, encrypt string) {
	logs := e.logs.String()
	for name, secret := range map[string]string{
		"ticket": ticket, "token": testToken, "EncodingAESKey": testKey, "Encrypt text": encrypt,
	} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("the log contains the %s:\n%s", name, logs)
		}
	}
	if len(encrypt) > 24 && strings.Contains(logs, encrypt[:24]) {
		t.Errorf("the log contains part of the Encrypt text:\n%s", logs)
	}
}

func ticketXML(appID string, created int64, tkt string) string {
	return fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%d</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[%s]]></ComponentVerifyTicket></xml>", appID, created, tkt)
}

func authXML(appID string, created int64, infoType, authorizer string) string {
	return fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%d</CreateTime><InfoType><![CDATA[%s]]></InfoType>"+
		"<AuthorizerAppid><![CDATA[%s]]></AuthorizerAppid><AuthorizationCode><![CDATA[queryauthcode@@@xyz]]></AuthorizationCode>"+
		"<AuthorizationCodeExpiredTime>%d</AuthorizationCodeExpiredTime><PreAuthCode><![CDATA[preauthcode@@@xyz]]></PreAuthCode></xml>",
		appID, created, infoType, authorizer, created+3600)
}

func (e *env) nowUnix() int64 { return e.clock.Now().Unix() }

func requireSuccess(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "success", w.Body.String())
	require.True(t, strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain"), w.Header().Get("Content-Type"))
}

func requireRefused(t *testing.T, w *httptest.ResponseRecorder, status int, reason string) {
	t.Helper()
	require.Equal(t, status, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), reason)
	require.NotEqual(t, "success", w.Body.String())
	require.True(t, strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain"), w.Header().Get("Content-Type"))
}

func (e *env) ticket(t *testing.T) (string, time.Time) {
	t.Helper()
	got, created, err := e.store.Ticket(context.Background(), testAppID)
	if errors.Is(err, platform.ErrNoTicket) {
		return "", time.Time{}
	}
	require.NoError(t, err)
	return got, created
}

func (e *env) status(t *testing.T, authorizer string) platform.Status {
	t.Helper()
	st, err := e.store.Authorization(context.Background(), testAppID, authorizer)
	require.NoError(t, err)
	return st
}

func TestReceiverStoresTicket(t *testing.T) {
	e := newEnv(t)
	created := e.nowUnix() - 2
	w := e.send(t, push{inner: ticketXML(testAppID, created, ticket)})
	requireSuccess(t, w)
	got, at := e.ticket(t)
	require.Equal(t, ticket, got)
	require.Equal(t, time.Unix(created, 0).UTC(), at)
	require.Contains(t, e.logs.String(), "component_verify_ticket received")
	require.Contains(t, e.logs.String(), "stored=true")

	// Ten minutes later, the next push replaces it.
	e.clock.Advance(10 * time.Minute)
	requireSuccess(t, e.send(t, push{inner: ticketXML(testAppID, e.nowUnix(), ticket+"2")}))
	got, _ = e.ticket(t)
	require.Equal(t, ticket+"2", got)
}

func TestReceiverRecordsAuthorizerEvents(t *testing.T) {
	e := newEnv(t)
	for i, step := range []struct {
		infoType string
		want     platform.Status
	}{
		{platform.InfoAuthorized, platform.StatusAuthorized},
		{platform.InfoUnauthorized, platform.StatusUnauthorized},
		{platform.InfoUpdateAuthorized, platform.StatusAuthorized},
		{platform.InfoUnauthorized, platform.StatusUnauthorized},
		{platform.InfoAuthorized, platform.StatusAuthorized},
	} {
		e.clock.Advance(time.Minute)
		requireSuccess(t, e.send(t, push{inner: authXML(testAppID, e.nowUnix(), step.infoType, authorizerAppID)}))
		require.Equal(t, step.want, e.status(t, authorizerAppID), "step %d (%s)", i, step.infoType)
	}
	require.Equal(t, platform.StatusUnknown, e.status(t, "wxauthorizer0000002"))
	require.Contains(t, e.logs.String(), "authorizer_appid="+authorizerAppID)
	_, _, err := e.store.Ticket(context.Background(), testAppID)
	require.ErrorIs(t, err, platform.ErrNoTicket)
}

// TestReceiverReplay: WeChat's retry, or an attacker replaying a captured
// push within the timestamp window, is acknowledged and changes nothing.
func TestReceiverReplay(t *testing.T) {
	e := newEnv(t)
	first := push{inner: ticketXML(testAppID, e.nowUnix(), ticket)}
	first.encrypt = first.encryptText(t)
	requireSuccess(t, e.send(t, first))
	e.clock.Advance(time.Minute)
	second := push{inner: ticketXML(testAppID, e.nowUnix(), ticket+"new")}
	requireSuccess(t, e.send(t, second))

	// The first push again, byte for byte (same signature, same timestamp).
	e.clock.Advance(time.Minute)
	first.timestamp = strconv.FormatInt(e.nowUnix()-120, 10)
	requireSuccess(t, e.send(t, first))
	got, _ := e.ticket(t)
	require.Equal(t, ticket+"new", got, "the replayed older push did not win")

	// The newest again: still success, still the same.
	requireSuccess(t, e.send(t, second))
	got, _ = e.ticket(t)
	require.Equal(t, ticket+"new", got)
	require.Contains(t, e.logs.String(), "stored=false")

	// An authorizer's withdrawal replayed after it granted again.
	e.clock.Advance(time.Minute)
	withdraw := push{inner: authXML(testAppID, e.nowUnix(), platform.InfoUnauthorized, authorizerAppID)}
	requireSuccess(t, e.send(t, withdraw))
	e.clock.Advance(time.Minute)
	requireSuccess(t, e.send(t, push{inner: authXML(testAppID, e.nowUnix(), platform.InfoAuthorized, authorizerAppID)}))
	requireSuccess(t, e.send(t, withdraw))
	require.Equal(t, platform.StatusAuthorized, e.status(t, authorizerAppID))
}

func TestReceiverRefuses(t *testing.T) {
	const created = 1795161600 // any: the timestamp, not CreateTime, is checked against the clock
	good := ticketXML(testAppID, created, ticket)
	garbage := "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2"
	now := storetest.NewClock().Now().Unix()
	ts := func(d time.Duration) string { return strconv.FormatInt(now+int64(d/time.Second), 10) }

	goodEnc := wxEncrypt(t, testKey, testAppID, []byte(good))

	for _, tc := range []struct {
		name   string
		push   push
		status int
		reason string
	}{
		{"msg_signature under another Token", push{encrypt: goodEnc, sig: wxSign("not-the-token", ts(0), "1320562132", goodEnc)}, 400, "bad msg_signature"},
		{"msg_signature of another message", push{encrypt: goodEnc, sig: wxSign(testToken, ts(0), "1320562132", garbage)}, 400, "bad msg_signature"},
		{"msg_signature of another nonce", push{encrypt: goodEnc, nonce: "42", sig: wxSign(testToken, ts(0), "1320562132", goodEnc)}, 400, "bad msg_signature"},
		{"msg_signature of another timestamp", push{encrypt: goodEnc, sig: wxSign(testToken, ts(-time.Second), "1320562132", goodEnc)}, 400, "bad msg_signature"},
		{"msg_signature not hex", push{encrypt: goodEnc, sig: "-"}, 400, "bad msg_signature"},
		{"the plain signature is not enough", push{encrypt: goodEnc, sig: "0000000000000000000000000000000000000000"}, 400, "bad msg_signature"},
		{"signature checked before decrypting", push{encrypt: garbage, sig: strings.Repeat("0", 40)}, 400, "bad msg_signature"},
		{"wrong appid after the message", push{inner: good, trailer: "wxcomponent00000002"}, 400, "another appid"},
		{"wrong AppId inside the message", push{inner: ticketXML("wxcomponent00000002", created, ticket)}, 400, "message AppId"},
		{"no AppId inside the message", push{inner: strings.Replace(good, "<AppId><![CDATA["+testAppID+"]]></AppId>", "", 1)}, 400, "message AppId"},
		{"wrong outer AppId", push{inner: good, outerAppID: "wxcomponent00000002"}, 400, "AppId is not this platform's"},
		{"timestamp too old", push{inner: good, timestamp: ts(-5*time.Minute - time.Second)}, 400, "stale timestamp"},
		{"timestamp too far ahead", push{inner: good, timestamp: ts(5*time.Minute + time.Second)}, 400, "stale timestamp"},
		{"timestamp an hour old", push{inner: good, timestamp: ts(-time.Hour)}, 400, "stale timestamp"},
		{"timestamp huge", push{inner: good, timestamp: "9223372036854775807"}, 400, "stale timestamp"},
		{"timestamp negative", push{inner: good, timestamp: "-9223372036854775808"}, 400, "stale timestamp"},
		{"timestamp not a number", push{inner: good, timestamp: "soon"}, 400, "timestamp is not a number"},
		{"encrypt_type missing", push{inner: good, encryptType: "-"}, 400, "encrypt_type must be aes"},
		{"encrypt_type raw", push{inner: good, encryptType: "raw"}, 400, "encrypt_type must be aes"},
		{"truncated ciphertext", push{encrypt: wxEncrypt(t, testKey, testAppID, []byte(good))[:64]}, 400, "cannot decrypt"},
		{"garbage ciphertext", push{encrypt: garbage}, 400, "cannot decrypt"},
		{"not base64", push{encrypt: "%%%%"}, 400, "cannot decrypt"},
		{"bad padding", push{encrypt: rawEncrypt(t, testKey, append(frame([]byte(good), testAppID), make([]byte, 32-(len(good)+20+len(testAppID))%32)...))}, 400, "cannot decrypt"},
		{"wrong length field", push{encrypt: rawEncrypt(t, testKey, pad32(append(append(make([]byte, 16), 0x7f, 0, 0, 0), good+testAppID...)))}, 400, "cannot decrypt"},
		{"another EncodingAESKey", push{encrypt: wxEncrypt(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq", testAppID, []byte(good))}, 400, "cannot decrypt"},
		{"message not XML", push{inner: "ComponentVerifyTicket=" + ticket}, 400, "message is not the expected XML"},
		{"no CreateTime", push{inner: strings.Replace(good, fmt.Sprint(created), "", 1)}, 400, "CreateTime"},
		{"CreateTime not a number", push{inner: strings.Replace(good, fmt.Sprint(created), "yesterday", 1)}, 400, "CreateTime"},
		{"CreateTime zero", push{inner: strings.Replace(good, fmt.Sprint(created), "0", 1)}, 400, "CreateTime"},
		{"CreateTime past the year 9999", push{inner: strings.Replace(good, fmt.Sprint(created), "253402300800", 1)}, 400, "CreateTime"},
		{"CreateTime in the future (it would block every real message after it)", push{inner: strings.Replace(good, fmt.Sprint(created), fmt.Sprint(now+400), 1)}, 400, "CreateTime is in the future"},
		{"CreateTime far in the future", push{inner: strings.Replace(good, fmt.Sprint(created), "253402300799", 1)}, 400, "CreateTime is in the future"},
		{"no ticket", push{inner: ticketXML(testAppID, created, "")}, 400, "ComponentVerifyTicket"},
		{"ticket too long", push{inner: ticketXML(testAppID, created, strings.Repeat("t", platform.MaxTicketLen+1))}, 400, "ComponentVerifyTicket"},
		{"authorized without AuthorizerAppid", push{inner: authXML(testAppID, created, platform.InfoAuthorized, "")}, 400, "AuthorizerAppid"},
		{"unauthorized with a bad AuthorizerAppid", push{inner: authXML(testAppID, created, platform.InfoUnauthorized, "wx auth")}, 400, "AuthorizerAppid"},
		{"body not XML", push{body: "timestamp=1&Encrypt=abc"}, 400, "body is not the expected XML"},
		{"body of another root", push{body: "<msg><Encrypt>abc</Encrypt></msg>"}, 400, "body is not the expected XML"},
		{"no Encrypt", push{body: "<xml><AppId>" + testAppID + "</AppId></xml>"}, 400, "Encrypt is missing"},
		{"empty body", push{body: " "}, 400, "body is not the expected XML"},
		{"oversized body", push{body: "<xml><Encrypt>" + strings.Repeat("A", platform.MaxBodyBytes) + "</Encrypt></xml>"}, 413, "body too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.send(t, tc.push)
			requireRefused(t, w, tc.status, tc.reason)
			require.Equal(t, 0, e.store.saveCalls(), "nothing reached the store")
			got, _ := e.ticket(t)
			require.Empty(t, got)
			require.Contains(t, e.logs.String(), "level=WARN")
			require.Contains(t, e.logs.String(), "push refused")
		})
	}
}

// TestReceiverMissingQuery: each of timestamp, nonce and msg_signature is
// required.
func TestReceiverMissingQuery(t *testing.T) {
	for _, drop := range []string{"timestamp", "nonce", "msg_signature"} {
		t.Run(drop, func(t *testing.T) {
			e := newEnv(t)
			ts := strconv.FormatInt(e.nowUnix(), 10)
			enc := wxEncrypt(t, testKey, testAppID, []byte(ticketXML(testAppID, e.nowUnix(), ticket)))
			q := url.Values{"timestamp": {ts}, "nonce": {"n"}, "encrypt_type": {"aes"}, "msg_signature": {wxSign(testToken, ts, "n", enc)}}
			q.Del(drop)
			req := httptest.NewRequest(http.MethodPost, "/?"+q.Encode(), strings.NewReader("<xml><Encrypt>"+enc+"</Encrypt></xml>"))
			w := httptest.NewRecorder()
			e.rcv.ServeHTTP(w, req)
			requireRefused(t, w, 400, "required")
			require.Equal(t, 0, e.store.saveCalls())
		})
	}
}

func TestReceiverAccepts(t *testing.T) {
	now := storetest.NewClock().Now().Unix()
	ts := func(d time.Duration) string { return strconv.FormatInt(now+int64(d/time.Second), 10) }
	for _, tc := range []struct {
		name string
		push push
	}{
		{"timestamp at the edge, behind", push{timestamp: ts(-5 * time.Minute)}},
		{"timestamp at the edge, ahead", push{timestamp: ts(5 * time.Minute)}},
		{"timestamp a little behind", push{timestamp: ts(-90 * time.Second)}},
		{"no outer AppId", push{outerAppID: "-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.push.inner = ticketXML(testAppID, now, ticket)
			requireSuccess(t, e.send(t, tc.push))
			got, _ := e.ticket(t)
			require.Equal(t, ticket, got)
		})
	}
}

func TestReceiverMaxSkewOption(t *testing.T) {
	clock := storetest.NewClock()
	rcv, err := platform.NewReceiver(platform.ReceiverOptions{
		ComponentAppID: testAppID, Crypter: newCrypter(t), Store: newMemStore(), Now: clock.Now, MaxSkew: 30 * time.Second,
	})
	require.NoError(t, err)
	e := &env{clock: clock, logs: &logx.Buffer{}, rcv: rcv}
	requireRefused(t, e.send(t, push{inner: ticketXML(testAppID, 1, ticket), timestamp: strconv.FormatInt(clock.Now().Unix()-31, 10)}), 400, "stale timestamp")
}

func TestReceiverUnknownInfoType(t *testing.T) {
	e := newEnv(t)
	inner := fmt.Sprintf("<xml><AppId>%s</AppId><CreateTime>%d</CreateTime><InfoType>notify_third_fasteregister</InfoType><appid>wx1</appid></xml>", testAppID, e.nowUnix())
	requireSuccess(t, e.send(t, push{inner: inner}))
	require.Equal(t, 0, e.store.saveCalls())
	require.Contains(t, e.logs.String(), "level=INFO")
	require.Contains(t, e.logs.String(), "info_type=notify_third_fasteregister")
}

// TestReceiverStoreFailure: 503 so that WeChat retries; the retry succeeds
// once the database is back.
func TestReceiverStoreFailure(t *testing.T) {
	e := newEnv(t)
	p := push{inner: ticketXML(testAppID, e.nowUnix(), ticket)}
	p.encrypt = p.encryptText(t)
	e.store.setFail(errors.New("database unavailable: connection refused"))
	requireRefused(t, e.send(t, p), http.StatusServiceUnavailable, "temporarily unavailable")
	require.Contains(t, e.logs.String(), "level=ERROR")

	authPush := push{inner: authXML(testAppID, e.nowUnix(), platform.InfoAuthorized, authorizerAppID)}
	requireRefused(t, e.send(t, authPush), http.StatusServiceUnavailable, "temporarily unavailable")

	// A value the store refuses is the message's fault: no retry helps.
	e.store.setFail(fmt.Errorf("%w: created out of range", platform.ErrInvalid))
	requireRefused(t, e.send(t, p), http.StatusBadRequest, "out of range")

	e.store.setFail(nil)
	requireSuccess(t, e.send(t, p))
	got, _ := e.ticket(t)
	require.Equal(t, ticket, got)
}

// TestReceiverLayout: WeChat's documentation shows messages laid out over
// several lines; whitespace between and around values is accepted.
func TestReceiverLayout(t *testing.T) {
	e := newEnv(t)
	inner := fmt.Sprintf("<xml>\n  <AppId><![CDATA[%s]]></AppId>\n  <CreateTime> %d\n</CreateTime>\n  <InfoType>\n    component_verify_ticket </InfoType>\n  <ComponentVerifyTicket><![CDATA[%s]]></ComponentVerifyTicket>\n</xml>\n", testAppID, e.nowUnix(), ticket)
	requireSuccess(t, e.send(t, push{inner: inner}))
	got, _ := e.ticket(t)
	require.Equal(t, ticket, got)
}

// TestReceiverNilBody: a handler called directly with a request without a
// body refuses it and does not panic.
func TestReceiverNilBody(t *testing.T) {
	e := newEnv(t)
	ts := strconv.FormatInt(e.nowUnix(), 10)
	req := httptest.NewRequest(http.MethodPost, "/?encrypt_type=aes&nonce=n&msg_signature=x&timestamp="+ts, nil)
	req.Body = nil
	w := httptest.NewRecorder()
	e.rcv.ServeHTTP(w, req)
	requireRefused(t, w, http.StatusBadRequest, "body")
}

func TestReceiverMethods(t *testing.T) {
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		t.Run(m, func(t *testing.T) {
			e := newEnv(t)
			w := e.send(t, push{inner: ticketXML(testAppID, e.nowUnix(), ticket), method: m})
			require.Equal(t, http.StatusMethodNotAllowed, w.Code)
			require.Equal(t, http.MethodPost, w.Header().Get("Allow"))
			require.Equal(t, 0, e.store.saveCalls())
		})
	}
}

func TestNewReceiverChecksOptions(t *testing.T) {
	c := newCrypter(t)
	other, err := platform.NewCrypter(testToken, testKey, "wxcomponent00000002")
	require.NoError(t, err)
	s := newMemStore()
	for name, o := range map[string]platform.ReceiverOptions{
		"no appid":          {Crypter: c, Store: s},
		"appid with spaces": {ComponentAppID: "wx component", Crypter: c, Store: s},
		"no crypter":        {ComponentAppID: testAppID, Store: s},
		"another crypter":   {ComponentAppID: testAppID, Crypter: other, Store: s},
		"no store":          {ComponentAppID: testAppID, Crypter: c},
		"negative skew":     {ComponentAppID: testAppID, Crypter: c, Store: s, MaxSkew: -time.Second},
	} {
		_, err := platform.NewReceiver(o)
		require.Error(t, err, name)
	}
	_, err = platform.NewReceiver(platform.ReceiverOptions{ComponentAppID: testAppID, Crypter: c, Store: s})
	require.NoError(t, err, "the clock, skew and logger have defaults")
}

// TestReceiverOnSQLStore runs a push end to end into the database.
func TestReceiverOnSQLStore(t *testing.T) {
	clock := storetest.NewClock()
	st := newSQLStore(t, storetest.SQLite(t), sealKey)
	logs := &logx.Buffer{}
	rcv, err := platform.NewReceiver(platform.ReceiverOptions{
		ComponentAppID: testAppID, Crypter: newCrypter(t), Store: st, Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	require.NoError(t, err)
	e := &env{clock: clock, logs: logs, rcv: rcv}
	requireSuccess(t, e.send(t, push{inner: ticketXML(testAppID, clock.Now().Unix(), ticket)}))
	requireSuccess(t, e.send(t, push{inner: ticketXML(testAppID, clock.Now().Unix()-600, ticket+"old")}))
	got, created, err := st.Ticket(context.Background(), testAppID)
	require.NoError(t, err)
	require.Equal(t, ticket, got)
	require.Equal(t, clock.Now().Unix(), created.Unix())
	requireSuccess(t, e.send(t, push{inner: authXML(testAppID, clock.Now().Unix(), platform.InfoUnauthorized, authorizerAppID)}))
	status, err := st.Authorization(context.Background(), testAppID, authorizerAppID)
	require.NoError(t, err)
	require.Equal(t, platform.StatusUnauthorized, status)
	require.False(t, bytes.Contains([]byte(logs.String()), []byte(ticket)))
}
