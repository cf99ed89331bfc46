package finish_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/finish"
	"wxcas/journey"
)

// A journey row keeps the CAS login request; a service URL made of &s must
// cost its own size there, not six times it (json.Marshal's \u0026).
func TestCASReturnKeepsTheServiceURLAtItsSize(t *testing.T) {
	service := "https://app.example/home?" + strings.Repeat("a=&", 1300)
	require.Greater(t, len(service), 3900)
	req := cas.LoginRequest{
		ServiceURL: service, ServiceID: "app", ServiceName: "应用 <The App> & more", Renew: true,
		Method: http.MethodPost, SessionKey: "k",
	}
	ret := finish.CASReturn(req)
	require.Less(t, len(ret), len(service)+200, "about the URL's own size")
	require.NotContains(t, ret, `\u0026`)
	require.False(t, strings.HasSuffix(ret, "\n"), "no newline from the encoder")

	got, err := finish.CASRequest(&journey.Journey{ID: "j1", Return: ret})
	require.NoError(t, err)
	require.Equal(t, req, got, "read back as written")

	// A row written before the change (HTML-escaped) still reads.
	got, err = finish.CASRequest(&journey.Journey{ID: "j2", Return: `{"service_url":"https://app.example/?a=1\u0026b=2","service_id":"app"}`})
	require.NoError(t, err)
	require.Equal(t, "https://app.example/?a=1&b=2", got.ServiceURL)
}
