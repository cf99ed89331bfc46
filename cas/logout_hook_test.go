package cas_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/store/storetest"
)

// TestLogoutWaitsForWhatTheSessionGranted: when what a session granted
// elsewhere (the OpenID provider's tokens) cannot be ended, the logout
// fails and the session stays, so that trying again ends both; once it
// can, the logout ends the session and tells the after-hook.
func TestLogoutWaitsForWhatTheSessionGranted(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	tgt, _, err := h.srv.CreateSession(context.Background(), alice())
	require.NoError(t, err)
	fail := true
	var ended []string
	h.srv.OnLogout(func(context.Context, string) error {
		if fail {
			return errors.New("grants not revoked")
		}
		return nil
	}, func(_ context.Context, e cas.EndedSession) { ended = append(ended, e.TGT.Key) })

	r := do(t, http.DefaultClient, http.MethodDelete, h.ts.URL+"/cas/v1/tickets/"+tgt, nil)
	require.GreaterOrEqual(t, r.StatusCode, 500, "no success while the grants live on")
	require.Equal(t, http.StatusOK, h.get(http.DefaultClient, "/cas/v1/tickets/"+tgt, nil).StatusCode, "the session stays")
	require.Empty(t, ended)

	fail = false
	r = do(t, http.DefaultClient, http.MethodDelete, h.ts.URL+"/cas/v1/tickets/"+tgt, nil)
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Equal(t, http.StatusNotFound, h.get(http.DefaultClient, "/cas/v1/tickets/"+tgt, nil).StatusCode)
	require.Len(t, ended, 1)
}
