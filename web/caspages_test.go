package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/templates"
)

// A CAS page for a database outage says the service is briefly away, not
// "contact the administrator"; other internal errors keep that text.
func TestCASPagesUnavailable(t *testing.T) {
	pages, err := NewPages(templates.FS, false)
	require.NoError(t, err)
	for _, tc := range []struct {
		status int
		want   string
	}{
		{http.StatusServiceUnavailable, "服务暂时不可用"},
		{http.StatusInternalServerError, "请联系管理员"},
	} {
		w := httptest.NewRecorder()
		CASPages{Pages: pages}.Error(w, httptest.NewRequest(http.MethodGet, "/cas/login", nil), tc.status, cas.ReasonInternal)
		require.Equal(t, tc.status, w.Code)
		require.Contains(t, w.Body.String(), tc.want)
	}
}
