package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/challenge"
	"wxcas/challenge/challengetest"
	"wxcas/store/storetest"
)

// TestChallengeCounts: challenges issued and solutions by result, counted
// around the real challenge service.
func TestChallengeCounts(t *testing.T) {
	ctx := context.Background()
	svc, err := challenge.New([]byte("metrics-test-challenge-key-0123456789"), challenge.SQLStore{DB: storetest.SQLite(t)}, nil)
	require.NoError(t, err)
	m := New()
	c := m.Challenges(svc)
	ch, err := c.Issue(ctx, "h", 1000, time.Minute)
	require.NoError(t, err)
	good := challengetest.Solve(ch)
	require.ErrorIs(t, c.Redeem(ctx, "h", challengetest.Payload(ch, ch.MaxNumber+1), 1), challenge.ErrInvalid)
	require.ErrorIs(t, c.Redeem(ctx, "h", good, 2000), challenge.ErrTooEasy)
	require.NoError(t, c.Redeem(ctx, "h", good, 1000))
	require.ErrorIs(t, c.Redeem(ctx, "h", good, 1000), challenge.ErrUsed)

	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	for _, want := range []string{
		`wxcas_sms_challenges_total{result="issued"} 1`,
		`wxcas_sms_challenges_total{result="invalid"} 1`,
		`wxcas_sms_challenges_total{result="solved"} 1`,
		`wxcas_sms_challenges_total{result="used"} 1`,
		`wxcas_sms_challenges_total{result="too_easy"} 1`,
	} {
		require.True(t, strings.Contains(string(body), want), "missing %s", want)
	}
}
