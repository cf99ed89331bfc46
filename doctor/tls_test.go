package doctor_test

import (
	"context"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/doctor"
)

func TestPublicURL(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	defer srv.Close()
	trusted := x509.NewCertPool()
	trusted.AddCert(srv.Certificate())
	notAfter := srv.Certificate().NotAfter
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		return ln.Addr().String()
	}()
	at := func(t time.Time) func() time.Time { return func() time.Time { return t } }

	tests := []struct {
		name   string
		check  doctor.PublicURL
		status doctor.Status
		detail string
		fix    string
	}{
		{"trusted certificate for the host", doctor.PublicURL{URL: srv.URL, Roots: trusted},
			doctor.StatusPass, "certificate for 127.0.0.1 issued by", ""},
		{"public_url with a path", doctor.PublicURL{URL: srv.URL + "/sso/", Roots: trusted},
			doctor.StatusPass, "valid until " + notAfter.UTC().Format(time.DateOnly), ""},
		{"untrusted certificate", doctor.PublicURL{URL: srv.URL, Roots: x509.NewCertPool()},
			doctor.StatusFail, "does not trust", "full chain"},
		{"system roots do not know the test CA", doctor.PublicURL{URL: srv.URL},
			doctor.StatusFail, "does not trust", "public CA"},
		{"wrong host name", doctor.PublicURL{URL: "https://localhost:" + strconv.Itoa(port), Roots: trusted},
			doctor.StatusFail, "not localhost", "names include localhost"},
		{"expires in a day", doctor.PublicURL{URL: srv.URL, Roots: trusted, Now: at(notAfter.Add(-24 * time.Hour))},
			doctor.StatusFail, "expires in 24 hours (less than 7 days)", "renew the certificate"},
		{"expired", doctor.PublicURL{URL: srv.URL, Roots: trusted, Now: at(notAfter.Add(time.Hour))},
			doctor.StatusFail, "expired or not yet valid", "renew"},
		{"unreachable", doctor.PublicURL{URL: "https://" + closed, Roots: trusted},
			doctor.StatusFail, "cannot connect to " + closed, "listens on"},
		{"http outside the sandbox", doctor.PublicURL{URL: "http://login.example.edu"},
			doctor.StatusFail, "is not https", "https://login.example.edu"},
		{"http in the sandbox", doctor.PublicURL{URL: "http://127.0.0.1:8080", Sandbox: true},
			doctor.StatusSkip, "sandbox", ""},
		{"not a URL", doctor.PublicURL{URL: "login.example.edu"},
			doctor.StatusFail, "not an absolute URL", "server.public_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r := tt.check.Run(ctx)
			require.Equal(t, tt.status, r.Status, r.Detail)
			require.Contains(t, r.Detail, tt.detail)
			require.Contains(t, r.Fix, tt.fix)
			if tt.status == doctor.StatusFail {
				require.NotEmpty(t, r.Fix)
			}
			require.False(t, strings.Contains(r.Detail, "\n") || strings.Contains(r.Fix, "\n"), "one line each")
		})
	}
}
