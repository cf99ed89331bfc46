package platform_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/logx"
	"wxcas/store"
	"wxcas/store/storetest"
	"wxcas/wechat/platform"
	"wxcas/wechat/platform/platformtest"
)

// sealKey is the key the tests' stores seal with.
var sealKey = []byte("platform-seal-key-0123456789abcd")

func newSQLStore(t *testing.T, db *store.DB, key []byte) *platform.SQLStore {
	t.Helper()
	s, err := platform.NewSQLStore(db, key, storetest.NewClock().Now)
	require.NoError(t, err)
	return s
}

// TestSQLStore runs the conformance suite on SQLite and MySQL, each subtest
// on a fresh database.
func TestSQLStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		platformtest.Run(t, func(t *testing.T) platform.Store { return newSQLStore(t, storetest.SQLite(t), sealKey) })
	})
	t.Run("mysql", func(t *testing.T) {
		platformtest.Run(t, func(t *testing.T) platform.Store { return newSQLStore(t, storetest.MySQL(t), sealKey) })
	})
}

func TestNewSQLStoreChecksItsArguments(t *testing.T) {
	db := storetest.SQLite(t)
	for _, key := range [][]byte{nil, []byte("short"), append(sealKey, 'x')} {
		_, err := platform.NewSQLStore(db, key, nil)
		require.Error(t, err, "key of %d bytes", len(key))
		require.NotContains(t, err.Error(), string(sealKey))
	}
	_, err := platform.NewSQLStore(nil, sealKey, nil)
	require.Error(t, err)
}

// TestTicketSealedAtRest: the column never holds the ticket in clear, and a
// row does not open under another key or in another platform's row; such a
// row reads as no ticket, with a warning that does not show it.
func TestTicketSealedAtRest(t *testing.T) {
	const ticket = "ticket@@@Zr4C8vPm1qLx0aB7nW3eYtUuKsJdHgFfEc9-2_"
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		created := time.Unix(storetest.T0.Unix(), 0)
		s := newSQLStore(t, db, sealKey)
		_, err := s.SaveTicket(ctx, platformtest.Component, ticket, created)
		require.NoError(t, err)

		var raw string
		require.NoError(t, db.GetContext(ctx, &raw, db.Rebind(`SELECT verify_ticket FROM wechat_platform_tickets WHERE component_appid = ?`), platformtest.Component))
		require.True(t, strings.HasPrefix(raw, "v1."), "stored %q", raw)
		require.NotContains(t, raw, ticket)
		require.NotContains(t, raw, "Zr4C8vPm1qLx0aB7")

		got, _, err := s.Ticket(ctx, platformtest.Component)
		require.NoError(t, err)
		require.Equal(t, ticket, got)

		// Another master secret: the row does not open.
		logs := &logx.Buffer{}
		other := newSQLStore(t, db, []byte("another-seal-key-0123456789abcde")).WithLogger(slog.New(slog.NewTextHandler(logs, nil)))
		_, _, err = other.Ticket(ctx, platformtest.Component)
		require.ErrorIs(t, err, platform.ErrNoTicket)
		require.Contains(t, logs.String(), "level=WARN")
		require.Contains(t, logs.String(), "does not open")
		require.NotContains(t, logs.String(), ticket)
		require.NotContains(t, logs.String(), raw)

		// The sealed value copied to another platform's row does not open
		// there: the appid is bound in.
		_, err = db.ExecContext(ctx, db.Rebind(`INSERT INTO wechat_platform_tickets (component_appid, verify_ticket, created_at, received_at) VALUES (?, ?, ?, ?)`),
			platformtest.OtherComponent, raw, store.Time(created), store.Time(created))
		require.NoError(t, err)
		_, _, err = s.Ticket(ctx, platformtest.OtherComponent)
		require.ErrorIs(t, err, platform.ErrNoTicket)

		// A value in clear (or anything else) does not count either.
		_, err = db.ExecContext(ctx, db.Rebind(`UPDATE wechat_platform_tickets SET verify_ticket = ? WHERE component_appid = ?`), ticket, platformtest.OtherComponent)
		require.NoError(t, err)
		_, _, err = s.Ticket(ctx, platformtest.OtherComponent)
		require.ErrorIs(t, err, platform.ErrNoTicket)

		// The next push repairs the row.
		ok, err := s.SaveTicket(ctx, platformtest.OtherComponent, "fresh", created.Add(10*time.Minute))
		require.NoError(t, err)
		require.True(t, ok)
		got, _, err = s.Ticket(ctx, platformtest.OtherComponent)
		require.NoError(t, err)
		require.Equal(t, "fresh", got)
	})
}

// TestTwoInstancesRace: two stores on two handles of one database, as two
// wxcas instances have, racing pushes of different ages; the newest stays.
func TestTwoInstancesRace(t *testing.T) {
	for _, backend := range []string{"sqlite", "mysql"} {
		t.Run(backend, func(t *testing.T) {
			a, b := storetest.TwoHandles(t, backend)
			stores := []*platform.SQLStore{newSQLStore(t, a, sealKey), newSQLStore(t, b, sealKey)}
			ctx := context.Background()
			base := time.Unix(storetest.T0.Unix(), 0)
			const n = 12
			for round := range 3 {
				errs := storetest.Race(n, func(i int) error {
					// The newest is saved by one instance, on an odd index,
					// so that either order of arrival is exercised.
					created := base.Add(time.Duration(round*100+(i*7)%n) * time.Second)
					_, err := stores[i%2].SaveTicket(ctx, platformtest.Component, fmt.Sprintf("t-%d", created.Unix()), created)
					return err
				})
				for i, err := range errs {
					require.NoError(t, err, "saver %d", i)
				}
				newest := base.Add(time.Duration(round*100+n-1) * time.Second)
				for _, s := range stores {
					got, created, err := s.Ticket(ctx, platformtest.Component)
					require.NoError(t, err)
					require.Equal(t, fmt.Sprintf("t-%d", newest.Unix()), got)
					require.True(t, created.Equal(newest))
				}
			}
		})
	}
}
