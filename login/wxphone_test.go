package login_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/binding"
	"wxcas/login"
	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/store"
	"wxcas/store/storetest"
)

func TestBindVerifiedPhone(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()

		t.Run("a new phone creates the user and binds without any SMS", func(t *testing.T) {
			e := newEnv(t, db, login.DefaultConfig())
			id := ident("wxmini", "o-mini-1", "u-wx-1")
			u, err := e.svc.BindVerifiedPhone(ctx, id, otptest.Phone(101))
			require.NoError(t, err)
			require.Equal(t, string(otptest.Phone(101)), u.Phone)
			require.Zero(t, e.codes.Outbox.Count(otptest.Phone(101)), "no SMS is spent")
			got, err := e.svc.Identify(ctx, ident("wxapp", "o-app-1", "u-wx-1"))
			require.NoError(t, err)
			require.Equal(t, u.ID, got.ID, "the same person through another app")
		})

		t.Run("an existing phone links to its user", func(t *testing.T) {
			e := newEnv(t, db, login.DefaultConfig())
			existing, err := e.dir.Create(ctx, string(otptest.Phone(102)), e.codes.Clock.Now())
			require.NoError(t, err)
			u, err := e.svc.BindVerifiedPhone(ctx, ident("wxmini", "o-mini-2", "u-wx-2"), otptest.Phone(102))
			require.NoError(t, err)
			require.Equal(t, existing.ID, u.ID)
		})

		t.Run("the directory policy applies as for SMS binding", func(t *testing.T) {
			refuse := newEnv(t, db, login.Config{OnUnknownPhone: login.UnknownPhoneRefuse, OnUserBound: login.UserBoundRefuse})
			_, err := refuse.svc.BindVerifiedPhone(ctx, ident("wxmini", "o-mini-3", ""), otptest.Phone(103))
			require.ErrorIs(t, err, login.ErrUnknownPhone)
			_, err = refuse.dir.FindByPhone(ctx, string(otptest.Phone(103)))
			require.ErrorIs(t, err, binding.ErrNotFound)

			e := newEnv(t, db, login.DefaultConfig())
			_, err = e.svc.BindVerifiedPhone(ctx, ident("wxmini", "o-mini-4", "u-wx-4"), otptest.Phone(104))
			require.NoError(t, err)
			_, err = e.svc.BindVerifiedPhone(ctx, ident("wxmini", "o-mini-5", "u-wx-5"), otptest.Phone(104))
			require.ErrorIs(t, err, login.ErrUserBound)

			replace := newEnv(t, db, login.Config{OnUnknownPhone: login.UnknownPhoneCreate, OnUserBound: login.UserBoundReplace})
			_, err = replace.svc.BindVerifiedPhone(ctx, ident("wxmini", "o-mini-5", "u-wx-5"), otptest.Phone(104))
			require.NoError(t, err)
		})

		t.Run("unparsed numbers are refused", func(t *testing.T) {
			e := newEnv(t, db, login.DefaultConfig())
			_, err := e.svc.BindVerifiedPhone(ctx, ident("wxmini", "o-mini-6", ""), otp.Phone("13800138000"))
			require.ErrorIs(t, err, otp.ErrInvalidPhone)
			_, err = e.svc.BindVerifiedPhone(ctx, ident("wxmini", "o-mini-6", ""), otp.Phone(""))
			require.ErrorIs(t, err, otp.ErrInvalidPhone)
		})
	})
}
