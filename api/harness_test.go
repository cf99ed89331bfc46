package api_test

import (
	"bytes"
	"crypto/rand"
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
	gocas "gopkg.in/cas.v2"

	"wxcas/api"
	"wxcas/audit"
	"wxcas/binding"
	"wxcas/cas"
	"wxcas/challenge"
	"wxcas/finish"
	"wxcas/journey"
	"wxcas/login"
	"wxcas/logx"
	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/store"
	"wxcas/store/storetest"
	"wxcas/wechat"
	"wxcas/wechat/apptoken"
	"wxcas/wechat/emulator"
)

// Test apps: all in one open-platform account, so a person has one unionid.
const (
	mini   = "wxmini0000000001"
	mobile = "wxapp00000000001"
	web    = "wxweb00000000001"
)

var emApps = []emulator.App{
	{AppID: mini, Secret: "S3cr3t-mini-0123456789", Kind: emulator.KindMiniProgram, OpenPlatformID: "op-main"},
	{AppID: mobile, Secret: "S3cr3t-mobile-0123456789", Kind: emulator.KindMobileApp, OpenPlatformID: "op-main"},
	{AppID: web, Secret: "S3cr3t-web-0123456789", Kind: emulator.KindWebsite, OpenPlatformID: "op-main"},
}

// env is the API, the CAS server and WeChat (the emulator) over one
// database, served together as wxcas serves them, plus a CAS client
// application that records single logout.
type env struct {
	t      *testing.T
	db     *store.DB
	clock  *storetest.Clock
	em     *emulator.Emulator
	wx     *wechat.Client
	codes  *otptest.Env
	dir    *binding.SQLStore
	casSrv *cas.Server
	h      *api.Handler
	// journeys is the journey store the API's journeys live in.
	journeys *journey.SQLStore
	ts       *httptest.Server
	app      *recorder
	log      *logx.Buffer
	audit    *audit.SQL
}

type envOpts struct {
	login func(*login.Config)
	api   func(*api.Config)
	// deps adds to the handler's collaborators (the account's).
	deps func(*env, *api.Deps)
	// challenge turns the adaptive challenge on with these thresholds.
	challenge *otp.ChallengeConfig
	// otp tunes the SMS codes' configuration (otptest's by default).
	otp func(*otp.Config)
}

func newEnv(t *testing.T, db *store.DB, o envOpts) *env {
	t.Helper()
	e := &env{t: t, db: db, clock: storetest.NewClock(), log: &logx.Buffer{}}
	logger, err := logx.New(io.MultiWriter(e.log, t.Output()), "text", "debug")
	require.NoError(t, err)

	e.em, err = emulator.New(emulator.Options{
		Apps: emApps, Now: e.clock.Now, Seed: "api-test",
		Persons: []emulator.Person{
			{Name: "alice", Phone: "13800138000"},
			{Name: "bob", Phone: "13900139000"},
			{Name: "risky", Blocked: true},
		},
	})
	require.NoError(t, err)
	wxSrv := httptest.NewServer(e.em)
	t.Cleanup(wxSrv.Close)
	var apps []wechat.App
	for _, a := range emApps {
		apps = append(apps, wechat.App{AppID: a.AppID, Secret: a.Secret, Kind: wechat.Kind(a.Kind)})
	}
	e.wx, err = wechat.New(wechat.Config{
		OpenBaseURL: wxSrv.URL, APIBaseURL: wxSrv.URL, Apps: apps, HTTPClient: wxSrv.Client(),
		Now: e.clock.Now, RetryBackoff: time.Millisecond,
	})
	require.NoError(t, err)

	e.codes = otptest.NewEnvWithClock(t, otp.NewSQLStore(db), e.clock, o.otp)
	if o.challenge != nil {
		chal, err := challenge.New([]byte("api-test-challenge-key-0123456789ab"), challenge.SQLStore{DB: db}, e.clock.Now)
		require.NoError(t, err)
		e.codes.Svc.UseChallenges(chal, *o.challenge)
	}
	e.dir = binding.NewSQLStore(db)
	lcfg := login.DefaultConfig()
	if o.login != nil {
		o.login(&lcfg)
	}
	svc := login.New(lcfg, e.dir, e.dir, e.codes.Svc, db, e.clock.Now, logger)

	e.app = newRecorder(t)
	e.ts = httptest.NewUnstartedServer(nil)
	t.Cleanup(e.ts.Close)
	pub, _ := url.Parse("http://" + e.ts.Listener.Addr().String())
	ccfg := cas.DefaultConfig()
	ccfg.Services = []cas.Service{{
		ID: "app", Match: cas.MatchPrefix, URL: e.app.URL + "/app/",
		Attributes: []string{"userId", "phone", "loginChannel"}, AttributesOnServiceValidate: true,
	}}
	e.casSrv, err = cas.NewServer(ccfg, cas.Deps{
		DB: db, Now: e.clock.Now, Logger: logger, PublicURL: pub,
		CookieKey: []byte("0123456789abcdef0123456789abcdef"),
	})
	require.NoError(t, err)
	t.Cleanup(e.casSrv.WaitIdle)

	e.audit = audit.NewSQL(db)
	acfg := api.DefaultConfig()
	if o.api != nil {
		o.api(&acfg)
	}
	tokens, err := apptoken.New(db, e.wx, apptoken.Options{Key: []byte("api-test-apptoken-key-0123456789"), Now: e.clock.Now, Logger: logger})
	require.NoError(t, err)
	e.journeys = journey.NewSQLStore(db)
	engine, err := journey.New(journey.Config{TTL: 30 * time.Minute, PhoneRegion: "CN"}, journey.Deps{
		Store: e.journeys, Login: svc, WeChat: journey.WeChatClient{Client: e.wx, Tokens: tokens, Log: logger},
		Audit: audit.Best(e.audit, logger), Now: e.clock.Now, Log: logger,
	})
	require.NoError(t, err)
	deps := api.Deps{
		Engine: engine, Finisher: finish.Session{Sessions: e.casSrv}, WeChat: e.wx, DB: db,
		Now: e.clock.Now, Logger: logger.With("component", "api"),
	}
	if o.deps != nil {
		o.deps(e, &deps)
	}
	e.h, err = api.New(acfg, deps)
	require.NoError(t, err)

	// As wxcas mounts them; the front middleware sets the request id and
	// resolves the client IP (here from a test header), handing it over
	// with api.WithClientIP.
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.ToLower(rand.Text()[:16])
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(logx.WithRequestID(r.Context(), id))
		if ip := r.Header.Get("X-Test-Client-IP"); ip != "" {
			r = r.WithContext(api.WithClientIP(r.Context(), ip))
		}
		e.h.ServeHTTP(w, r)
	}))
	mux.Handle("/cas/", e.casSrv)
	e.ts.Config.Handler = mux
	e.ts.Start()
	return e
}

// result is an API answer.
type result struct {
	Status int
	Header http.Header
	Raw    []byte
	OK     api.Response
	Err    struct {
		Code              string               `json:"code"`
		Message           string               `json:"message"`
		Detail            string               `json:"detail"`
		RequestID         string               `json:"request_id"`
		AttemptsLeft      *int                 `json:"attempts_left"`
		Challenge         *challenge.Challenge `json:"challenge"`
		RetryAfterSeconds int                  `json:"retry_after_seconds"`
	}
}

// send posts a raw body with headers (name, value pairs).
func (e *env) send(method, path, contentType string, body []byte, headers ...string) result {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(body))
	require.NoError(e.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	r := result{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if resp.Header.Get("Content-Type") == "application/json; charset=utf-8" {
		if resp.StatusCode == http.StatusOK {
			require.NoError(e.t, json.Unmarshal(raw, &r.OK), "%s", raw)
		} else {
			var eb struct {
				Error *json.RawMessage `json:"error"`
			}
			require.NoError(e.t, json.Unmarshal(raw, &eb), "%s", raw)
			require.NotNil(e.t, eb.Error, "%s", raw)
			require.NoError(e.t, json.Unmarshal(*eb.Error, &r.Err), "%s", raw)
		}
	}
	return r
}

// post sends v as JSON.
func (e *env) post(path string, v any, headers ...string) result {
	e.t.Helper()
	b, err := json.Marshal(v)
	require.NoError(e.t, err)
	return e.send(http.MethodPost, "/api/v1"+path, "application/json", b, headers...)
}

// requireError asserts an error answer.
func requireError(t *testing.T, r result, status int, code string) {
	t.Helper()
	require.Equal(t, status, r.Status, "%s", r.Raw)
	require.Equal(t, code, r.Err.Code, "%s", r.Raw)
	require.NotEmpty(t, r.Err.Message)
	require.NotEmpty(t, r.Err.RequestID)
	require.Equal(t, "no-store", r.Header.Get("Cache-Control"))
}

func (e *env) jsCode(person string) string {
	e.t.Helper()
	c, err := e.em.IssueJSCode(mini, person)
	require.NoError(e.t, err)
	return c
}

func (e *env) appCode(person string) string {
	e.t.Helper()
	c, err := e.em.IssueCode(mobile, person, "")
	require.NoError(e.t, err)
	return c
}

func (e *env) phoneCode(person string) string {
	e.t.Helper()
	c, err := e.em.IssuePhoneCode(mini, person)
	require.NoError(e.t, err)
	return c
}

// login logs in with a code and expects an answer with status.
func (e *env) login(appid, code, status string) api.Response {
	e.t.Helper()
	r := e.post("/login/wechat", api.LoginRequest{AppID: appid, Code: code})
	require.Equal(e.t, http.StatusOK, r.Status, "%s", r.Raw)
	require.Equal(e.t, status, r.OK.Status, "%s", r.Raw)
	return r.OK
}

// sendCode asks for an SMS code and returns the next bind token and the code.
func (e *env) sendCode(token, phone string) (string, string) {
	e.t.Helper()
	r := e.post("/bind/sms/send", api.SMSSendRequest{BindToken: token, Phone: phone})
	require.Equal(e.t, http.StatusOK, r.Status, "%s", r.Raw)
	require.Equal(e.t, api.StatusCodeSent, r.OK.Status)
	p, err := otp.ParsePhone(phone, "CN")
	require.NoError(e.t, err)
	code := e.codes.Outbox.Last(p)
	require.NotEmpty(e.t, code)
	return r.OK.BindToken, code
}

// restClient is a gopkg.in/cas.v2 REST client for the test application.
func (e *env) restClient(path string) *gocas.RestClient {
	casURL, _ := url.Parse(e.ts.URL + "/cas/")
	svcURL, _ := url.Parse(e.app.URL + path)
	return gocas.NewRestClient(&gocas.RestOptions{CasURL: casURL, ServiceURL: svcURL, Client: &http.Client{Timeout: 5 * time.Second}})
}

// recorder is a CAS client application that records what it is sent
// (single logout).
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	Method, Path string
	Form         url.Values
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.Path, form})
		rec.mu.Unlock()
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}
