package api

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/logx"
	"wxcas/store"
)

// An unreachable database is a passing outage, not a bug: the app gets 503
// "unavailable" (and retries), as the browser pages do; anything else
// unexpected stays 500 internal_error.
func TestDatabaseOutageIsUnavailable(t *testing.T) {
	h := &Handler{log: logx.Discard()}
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("api: read bind token: %w", driver.ErrBadConn), http.StatusServiceUnavailable, CodeUnavailable},
		{fmt.Errorf("login: %w", store.ErrUnavailable), http.StatusServiceUnavailable, CodeUnavailable},
		{errors.New("api: something else"), http.StatusInternalServerError, CodeInternal},
	} {
		w := httptest.NewRecorder()
		h.writeError(w, httptest.NewRequest(http.MethodPost, "/api/v1/login/wechat", nil), tc.err)
		require.Equal(t, tc.status, w.Code, "%v", tc.err)
		var body errorBody
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		require.Equal(t, tc.code, body.Error.Code)
		require.NotEmpty(t, body.Error.Message, "a catalogued message")
	}
}
