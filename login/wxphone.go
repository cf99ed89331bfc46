package login

import (
	"context"
	"fmt"

	"wxcas/binding"
	"wxcas/otp"
)

// BindVerifiedPhone binds the WeChat person to the user of a phone number
// that WeChat itself vouched for, without an SMS code: the number a mini
// program's getPhoneNumber code yields when wxcas exchanges it with WeChat
// (getuserphonenumber). The directory policy is Bind's: an unknown phone
// creates a user or is refused (ErrUnknownPhone); a user bound to another
// person is refused (ErrUserBound) or re-bound.
//
// The phone must come from WeChat's answer to wxcas, never from a client:
// this method trusts it as proven.
func (s *Service) BindVerifiedPhone(ctx context.Context, id Identity, phone otp.Phone) (binding.User, error) {
	return s.BindVerifiedPhoneThen(ctx, id, phone, nil)
}

// BindVerifiedPhoneThen is BindVerifiedPhone with then run inside the
// binding's transaction (see BindThen).
func (s *Service) BindVerifiedPhoneThen(ctx context.Context, id Identity, phone otp.Phone, then func(ctx context.Context, u binding.User) error) (binding.User, error) {
	// Only E.164 numbers from otp.ParsePhone: another spelling of the same
	// number would not find the user who has it.
	if norm, err := otp.ParsePhone(phone.String(), otp.DefaultRegion); err != nil || norm != phone {
		return binding.User{}, fmt.Errorf("%w: not in E.164 form (use otp.ParsePhone)", otp.ErrInvalidPhone)
	}
	return s.bindAtomically(ctx, id, phone, "wechat_phone", nil, then)
}
