package otp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/store"
	"wxcas/store/storetest"
)

func BenchmarkIssueAndVerifyMySQL(b *testing.B)  { benchIssueAndVerify(b, storetest.MySQL(b)) }
func BenchmarkIssueAndVerifySQLite(b *testing.B) { benchIssueAndVerify(b, storetest.SQLite(b)) }

// benchIssueAndVerify measures one Send (all eight counters reserved, the code
// stored) plus one successful Verify, with a provider that does nothing.
// Every iteration uses a new phone so the per-phone limits never refuse;
// the IP, identity and global limits are set high but still counted.
func benchIssueAndVerify(b *testing.B, db *store.DB) {
	cfg := otp.DefaultConfig()
	cfg.Key = otptest.Key
	cfg.PerIPHour, cfg.PerIdentityDay, cfg.GlobalDay = 1<<30, 1<<30, 1<<30
	outbox := otptest.NewOutbox()
	// Log at Info to a discarding handler: the formatting cost stays in.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := otp.New(cfg, otp.NewSQLStore(db), outbox.Send, storetest.NewClock().Now, log)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var next atomic.Int64
	one := func() error {
		n := int(next.Add(1))
		p := otptest.Phone(n)
		req := otptest.SendReq(p)
		// Each iteration is one login (its own holder), as in production:
		// entering a code reads the codes of its login (Store.Confirm).
		req.Identity, req.Holder = "wx:bench", fmt.Sprint("flow:bench-", n)
		if _, err := svc.Send(ctx, req); err != nil {
			return err
		}
		return svc.Verify(ctx, otp.VerifyRequest{Phone: p, Purpose: otptest.Purpose, Holder: req.Holder, Code: outbox.Last(p)})
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if err := one(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := one(); err != nil {
					panic(fmt.Sprint(err))
				}
			}
		})
	})
}
