package api

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/journey"
	"wxcas/logx"
	"wxcas/store"
)

// An unreachable database is a passing outage, not a bug: the app gets 503
// "unavailable" (and retries), as the browser pages do; anything else
// unexpected stays 500 internal_error. Login outcomes are translated once,
// here: the journey's codes, with the API's names for its own.
func TestErrorTranslation(t *testing.T) {
	h := &Handler{log: logx.Discard()}
	three := 3
	for _, tc := range []struct {
		err          error
		status       int
		code         string
		retryAfter   string
		attemptsLeft *int
	}{
		{fmt.Errorf("journey: read: %w", driver.ErrBadConn), http.StatusServiceUnavailable, CodeUnavailable, "", nil},
		{fmt.Errorf("login: %w", store.ErrUnavailable), http.StatusServiceUnavailable, CodeUnavailable, "", nil},
		{errors.New("api: something else"), http.StatusInternalServerError, CodeInternal, "", nil},
		{&journey.Error{Code: journey.CodeInvalid}, http.StatusBadRequest, CodeInvalidBindToken, "", nil},
		{&journey.Error{Code: journey.CodeEnded}, http.StatusBadRequest, CodeInvalidBindToken, "", nil},
		{&journey.Error{Code: journey.CodeWrongStep}, http.StatusBadRequest, CodeInvalidBindToken, "", nil},
		{fmt.Errorf("wrapped: %w", &journey.Error{Code: journey.CodeExpired}), http.StatusBadRequest, CodeBindTokenExpired, "", nil},
		{&journey.Error{Code: journey.CodeRateLimited, RetryAfter: 59500 * time.Millisecond}, http.StatusTooManyRequests, CodeRateLimited, "60", nil},
		{&journey.Error{Code: journey.CodeSMSBudgetExhausted, RetryAfter: time.Hour}, http.StatusServiceUnavailable, CodeSMSBudgetExhausted, "3600", nil},
		{&journey.Error{Code: journey.CodeWrongCode, AttemptsLeft: &three}, http.StatusBadRequest, CodeWrongCode, "", &three},
		{&journey.Error{Code: journey.CodeUserBoundElsewhere}, http.StatusConflict, CodeUserBoundElsewhere, "", nil},
	} {
		w := httptest.NewRecorder()
		h.writeError(w, httptest.NewRequest(http.MethodPost, "/api/v1/login/wechat", nil), tc.err)
		require.Equal(t, tc.status, w.Code, "%v", tc.err)
		var body errorBody
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		require.Equal(t, tc.code, body.Error.Code, "%v", tc.err)
		require.NotEmpty(t, body.Error.Message, "a catalogued message")
		require.Equal(t, tc.retryAfter, w.Header().Get("Retry-After"))
		require.Equal(t, tc.attemptsLeft, body.Error.AttemptsLeft)
	}
}
