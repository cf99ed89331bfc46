package otp_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/store/storetest"
)

func TestBudgetReadsTheSharedCounter(t *testing.T) {
	ctx := context.Background()
	for _, db := range []struct {
		name string
		open func(t *testing.T) otp.Store
	}{
		{"sqlite", func(t *testing.T) otp.Store { return otp.NewSQLStore(storetest.SQLite(t)) }},
		{"mysql", func(t *testing.T) otp.Store { return otp.NewSQLStore(storetest.MySQL(t)) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			e := otptest.NewEnv(t, db.open(t), func(c *otp.Config) { c.GlobalDay = 3 })
			b, err := e.Svc.Budget(ctx)
			require.NoError(t, err)
			require.Equal(t, otp.Budget{Max: 3}, b, "no send yet: no window")

			start := e.Clock.Now()
			for i := range 2 {
				e.Send(t, otptest.SendReq(otptest.Phone(i)))
			}
			b, err = e.Svc.Budget(ctx)
			require.NoError(t, err)
			require.Equal(t, 3, b.Max)
			require.Equal(t, 2, b.Used)
			require.WithinDuration(t, start.Add(24*time.Hour), b.WindowEndsAt, time.Second)
			b, err = e.Svc.Budget(ctx)
			require.NoError(t, err)
			require.Equal(t, 2, b.Used, "reading counts nothing")

			e.Clock.Advance(24 * time.Hour)
			b, err = e.Svc.Budget(ctx)
			require.NoError(t, err)
			require.Equal(t, otp.Budget{Max: 3}, b, "the window ended")
		})
	}
	t.Run("off", func(t *testing.T) {
		e := otptest.NewEnv(t, otp.NewSQLStore(storetest.SQLite(t)), func(c *otp.Config) { c.GlobalDay = 0 })
		e.Send(t, otptest.SendReq(otptest.Phone(1)))
		b, err := e.Svc.Budget(ctx)
		require.NoError(t, err)
		require.Equal(t, otp.Budget{}, b)
	})
}
