package openid_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/openid"
	"wxcas/openid/openidtest"
	"wxcas/store"
	"wxcas/store/storetest"
)

// TestCleanupUsesIndexes checks on MariaDB/MySQL that the provider's
// clean-up and its logout read through an index, never a whole table, so
// neither stalls token requests on large tables.
func TestCleanupUsesIndexes(t *testing.T) {
	db := storetest.MySQL(t)
	s := openid.NewSQLStore(db)
	ctx := context.Background()
	now := openidtest.T0
	for i := range 3000 {
		a := openidtest.SampleAuthRequest(fmt.Sprintf("ar-%d", i), i)
		a.ExpiresAt = now.Add(time.Duration(i%200)*time.Minute + time.Second - 2*time.Minute)
		require.NoError(t, s.CreateAuthRequest(ctx, a))
		g := openidtest.SampleGrant(fmt.Sprintf("g-%d", i), fmt.Sprintf("session-%d", i%500), i)
		g.ExpiresAt = now.Add(time.Duration(i%200)*time.Hour + time.Second - 2*time.Hour)
		require.NoError(t, s.CreateGrant(ctx, g))
		rt := openidtest.SampleRefreshToken(fmt.Sprintf("%064d", i), g.ID)
		rt.ExpiresAt = g.ExpiresAt
		require.NoError(t, s.CreateRefreshToken(ctx, rt))
	}
	_, err := db.Exec(`ANALYZE TABLE oidc_auth_requests, oidc_grants, oidc_refresh_tokens, oidc_signing_keys, oidc_rate_counters`)
	require.NoError(t, err)

	tests := []struct {
		name, stmt, index string
		args              []any
	}{
		{"expired requests", `DELETE FROM oidc_auth_requests WHERE expires_at <= ? LIMIT 1000`, "oidc_auth_requests_expires_at", []any{store.Time(now)}},
		{"expired grants", `DELETE FROM oidc_grants WHERE expires_at <= ? LIMIT 1000`, "oidc_grants_expires_at", []any{store.Time(now)}},
		{"expired refresh tokens", `DELETE FROM oidc_refresh_tokens WHERE expires_at <= ? LIMIT 1000`, "oidc_refresh_tokens_expires_at", []any{store.Time(now)}},
		{"expired keys", `DELETE FROM oidc_signing_keys WHERE expires_at <= ? LIMIT 1000`, "oidc_signing_keys_expires_at", []any{store.Time(now)}},
		{"expired rate counters", `DELETE FROM oidc_rate_counters WHERE window_ends_at < ? LIMIT 1000`, "oidc_rate_counters_window_ends_at", []any{store.Time(now)}},
		{"a session's grants (logout)", `UPDATE oidc_grants SET revoked = 1 WHERE session_key = ? AND revoked = 0`, "oidc_grants_session_key", []any{"session-7"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { storetest.RequireIndexed(t, db, tc.stmt, tc.index, tc.args...) })
	}
}
