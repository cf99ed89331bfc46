package web

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"wxcas/logx"
	"wxcas/store/storetest"
	"wxcas/templates"
)

func newTestServer(t *testing.T, mod func(*Options)) (*Server, *logx.Buffer) {
	t.Helper()
	pages, err := NewPages(templates.FS, true)
	require.NoError(t, err)
	logs := &logx.Buffer{}
	log, err := logx.New(logs, "json", "debug")
	require.NoError(t, err)
	opts := Options{Logger: log, DB: storetest.SQLite(t), Pages: pages}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	require.NoError(t, err)
	return s, logs
}

func do(s http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestHealth(t *testing.T) {
	s, _ := newTestServer(t, nil)
	require.Equal(t, http.StatusOK, do(s, "GET", "/healthz", nil).Code)
	require.Equal(t, http.StatusOK, do(s, "GET", "/readyz", nil).Code)

	s.opts.DB.Close()
	w := do(s, "GET", "/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	var body map[string]string
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.Equal(t, "unavailable", body["status"])
	require.Equal(t, "database unreachable", body["reason"], "no database names for whoever asks: the log has them")
	require.Equal(t, http.StatusOK, do(s, "GET", "/healthz", nil).Code, "the process is still alive")
}

func TestErrorPages(t *testing.T) {
	s, logs := newTestServer(t, nil)
	e := s.Echo()
	e.GET("/boom", func(echo.Context) error { panic("kaboom") })
	e.GET("/dbdown", func(echo.Context) error { return fmt.Errorf("load flow: %w", driver.ErrBadConn) })
	e.GET("/api/v1/dbdown", func(echo.Context) error { return fmt.Errorf("load: %w", driver.ErrBadConn) })

	tests := []struct {
		name, path, lang string
		status           int
		want             []string
	}{
		{"panic gives a clean 500 page", "/boom", "", 500, []string{"系统暂时出现问题", "请求编号", "沙箱环境"}},
		{"database down gives 503", "/dbdown", "en", 503, []string{"temporarily unavailable", "Request ID"}},
		{"not found in English", "/nope", "en-US,en;q=0.9", 404, []string{"This page does not exist."}},
		{"not found defaults to Chinese", "/nope", "fr", 404, []string{"页面不存在"}},
		{"explicit lang wins", "/nope?lang=en", "zh-CN", 404, []string{"This page does not exist."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(s, "GET", tc.path, map[string]string{"Accept-Language": tc.lang})
			require.Equal(t, tc.status, w.Code)
			require.Contains(t, w.Header().Get("Content-Type"), "text/html")
			for _, want := range tc.want {
				require.Contains(t, w.Body.String(), want)
			}
			require.Contains(t, w.Body.String(), w.Header().Get("X-Request-Id"), "the page shows the request id")
		})
	}

	w := do(s, "GET", "/api/v1/dbdown", map[string]string{"Accept-Language": "en"})
	require.Equal(t, 503, w.Code)
	var body struct{ Error map[string]string }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.Equal(t, "unavailable", body.Error["code"])
	require.Equal(t, w.Header().Get("X-Request-Id"), body.Error["request_id"])
	require.Contains(t, logs.String(), "kaboom", "the panic is logged")
}

func TestRequestIDAndRedactedAccessLog(t *testing.T) {
	s, logs := newTestServer(t, nil)
	w := do(s, "GET", "/healthz?code=SECRETCODE&state=S1&service=https%3A%2F%2Fapp%2F%3Fticket%3DST-LEAK", map[string]string{"X-Request-Id": "front-proxy-id-1"})
	require.Equal(t, "front-proxy-id-1", w.Header().Get("X-Request-Id"))
	w = do(s, "GET", "/healthz", map[string]string{"X-Request-Id": "bad id with spaces"})
	require.NotEqual(t, "bad id with spaces", w.Header().Get("X-Request-Id"))
	require.Len(t, w.Header().Get("X-Request-Id"), 16)

	out := logs.String()
	require.Contains(t, out, `"request_id":"front-proxy-id-1"`)
	for _, secret := range []string{"SECRETCODE", "S1", "ST-LEAK"} {
		require.NotContains(t, out, secret)
	}
}

func TestRedactQuery(t *testing.T) {
	tests := map[string]string{
		"":                           "",
		"code=abc&state=xyz":         "code=_&state=_",
		"service=https%3A%2F%2Fa%2F": "service=https%3A%2F%2Fa%2F",
		"ticket=ST-1&renew=true":     "renew=true&ticket=_",
		"%zz":                        "_unparseable_",
	}
	for in, want := range tests {
		require.Equal(t, want, redactQuery(in), in)
	}
}

func TestRedactPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/cas/login", "/cas/login"},
		{"/cas/v1/tickets", "/cas/v1/tickets"},
		{"/cas/v1/tickets/", "/cas/v1/tickets/"},
		{"/cas/v1/tickets/TGT-3-abcdefghijklmnop", "/cas/v1/tickets/TGT-_"},
		{"/cas/v1/tickets/opaque-credential", "/cas/v1/tickets/_"},
		{"/cas/v1/tickets/TGT-1-x/extra", "/cas/v1/tickets/TGT-_/extra"},
		{"/anything/ST-1-secret", "/anything/ST-_"},
		{"/x/PGTIOU-9-secret/PT-2-y", "/x/PGTIOU-_/PT-_"},
		{"/static/wxcas.css", "/static/wxcas.css"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, redactPath(tt.in), tt.in)
	}
}

func TestAccessLogHidesRESTTicketGrantingTicket(t *testing.T) {
	s, logs := newTestServer(t, nil)
	s.Echo().Any("/cas/*", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	for _, method := range []string{"GET", "POST", "DELETE"} {
		do(s, method, "/cas/v1/tickets/TGT-7-SECRETSECRETSECRET", nil)
	}
	out := logs.String()
	require.NotContains(t, out, "SECRETSECRETSECRET")
	require.Equal(t, 3, strings.Count(out, `"path":"/cas/v1/tickets/TGT-_"`), out)
}

func TestClientIP(t *testing.T) {
	route := func(s *Server) {
		s.Echo().GET("/ip", func(c echo.Context) error { return c.String(200, c.RealIP()) })
	}
	direct, _ := newTestServer(t, nil)
	route(direct)
	w := do(direct, "GET", "/ip", map[string]string{"X-Forwarded-For": "6.6.6.6"})
	require.Equal(t, "192.0.2.1", w.Body.String(), "X-Forwarded-For is ignored unless a proxy is trusted")

	proxied, _ := newTestServer(t, func(o *Options) { o.TrustedProxies = []string{"192.0.2.0/24"} })
	route(proxied)
	w = do(proxied, "GET", "/ip", map[string]string{"X-Forwarded-For": "6.6.6.6"})
	require.Equal(t, "6.6.6.6", w.Body.String())
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	s, _ := newTestServer(t, nil)
	started := make(chan struct{})
	s.Echo().GET("/slow", func(c echo.Context) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return c.String(200, "finished")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx, ln, 5*time.Second) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	require.Equal(t, "finished", <-got, "the in-flight request completes")
	require.NoError(t, <-runErr)
	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	require.Error(t, err, "no new connections after shutdown")
}

func TestPagesRequireTemplates(t *testing.T) {
	_, err := NewPages(emptyFS{}, false)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "layout.html") || strings.Contains(err.Error(), "templates"))
}

type emptyFS struct{}

func (emptyFS) Open(string) (fs.File, error) { return nil, fs.ErrNotExist }
