package otp_test

import (
	"testing"

	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/store/storetest"
)

// TestSQLStore runs the conformance suite on SQLite and MySQL, each subtest
// on a fresh database.
func TestSQLStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		otptest.Run(t, func(t *testing.T) otp.Store { return otp.NewSQLStore(storetest.SQLite(t)) })
	})
	t.Run("mysql", func(t *testing.T) {
		otptest.Run(t, func(t *testing.T) otp.Store { return otp.NewSQLStore(storetest.MySQL(t)) })
	})
}
