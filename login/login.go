// Package login is what every WeChat entry point shares once WeChat has named
// the person: find who they are, and on a first login bind them to a user by
// a phone number proven with an SMS code, following the operator's policy.
// The browser flow and the JSON API for mini programs and apps both call it,
// so a person is treated the same whichever way they arrive.
package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"wxcas/binding"
	"wxcas/cas"
	"wxcas/otp"
)

// Policies for a phone number unknown to the directory, and for a user that
// is already bound to another WeChat person.
const (
	UnknownPhoneCreate = "create"
	UnknownPhoneRefuse = "refuse"
	UserBoundRefuse    = "refuse"
	UserBoundReplace   = "replace"
)

// Config is the binding policy.
type Config struct {
	// OnUnknownPhone: create a user with the phone (default) or refuse.
	OnUnknownPhone string `yaml:"on_unknown_phone"`
	// OnUserBound: refuse (default) or replace the user's previous WeChat binding.
	OnUserBound string `yaml:"on_user_bound"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{OnUnknownPhone: UnknownPhoneCreate, OnUserBound: UserBoundRefuse}
}

// Validate lists problems with key paths under "login.".
func (c Config) Validate() []string {
	var p []string
	if c.OnUnknownPhone != UnknownPhoneCreate && c.OnUnknownPhone != UnknownPhoneRefuse {
		p = append(p, fmt.Sprintf("login.on_unknown_phone: %q must be create or refuse", c.OnUnknownPhone))
	}
	if c.OnUserBound != UserBoundRefuse && c.OnUserBound != UserBoundReplace {
		p = append(p, fmt.Sprintf("login.on_user_bound: %q must be refuse or replace", c.OnUserBound))
	}
	return p
}

// Errors callers turn into messages for the person.
var (
	// ErrUnbound: the WeChat person has no user yet; binding is required.
	ErrUnbound = errors.New("login: WeChat account not bound")
	// ErrUnknownPhone: the phone belongs to no user and the policy refuses to create one.
	ErrUnknownPhone = errors.New("login: phone number not known")
	// ErrUserBound: the phone's user is bound to another WeChat account.
	ErrUserBound = binding.ErrUserBound
	// ErrPersonBound: this WeChat account got bound to another user meanwhile.
	ErrPersonBound = binding.ErrPersonBound
	// ErrSnapshot: a WeChat "snapshot page" virtual user, never bound.
	ErrSnapshot = errors.New("login: snapshot-mode WeChat user cannot be bound")
)

// PurposeBind is the OTP purpose for phone binding.
const PurposeBind = "bind"

// Service resolves and binds identities.
type Service struct {
	cfg       Config
	bindings  binding.Store
	directory binding.Directory
	otp       *otp.Service
	now       func() time.Time
	log       *slog.Logger
}

// New returns a Service.
func New(cfg Config, bindings binding.Store, directory binding.Directory, codes *otp.Service, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{cfg: cfg, bindings: bindings, directory: directory, otp: codes, now: now, log: log.With("component", "login")}
}

// Identity is a WeChat person as WeChat reported them in one login.
type Identity struct {
	binding.Account
	// Snapshot marks an Official Account snapshot-page virtual user.
	Snapshot bool
	// Holder is an opaque id of this one login (a browser login flow, an
	// API bind-token chain), which SendCode and Bind require: an SMS code
	// belongs to the login that asked for it, so another login aimed at the
	// same phone can neither use nor burn it. Callers prefix it by kind
	// ("flow:", "api:") so ids of different kinds never meet.
	Holder string
}

// Identify records the sighting and returns the bound user, or ErrUnbound.
func (s *Service) Identify(ctx context.Context, id Identity) (binding.User, error) {
	if id.Snapshot {
		return binding.User{}, ErrSnapshot
	}
	userID, err := s.bindings.Seen(ctx, id.Account, s.now())
	if errors.Is(err, binding.ErrNotFound) {
		return binding.User{}, ErrUnbound
	}
	if err != nil {
		return binding.User{}, err
	}
	u, err := s.directory.FindByID(ctx, userID)
	if errors.Is(err, binding.ErrNotFound) {
		// The directory no longer knows the user (deleted upstream): the
		// stale binding must not log anyone in; bind again.
		s.log.WarnContext(ctx, "bound user missing from the directory; binding again", "user", userID)
		if err := s.bindings.Unbind(ctx, id.Account); err != nil {
			return binding.User{}, err
		}
		return binding.User{}, ErrUnbound
	}
	return u, err
}

// SendCode sends a binding code to phone for the login id.Holder, counted
// against the phone, the client IP and the WeChat person.
func (s *Service) SendCode(ctx context.Context, id Identity, phone otp.Phone, clientIP string) (otp.SendResult, error) {
	if id.Snapshot {
		return otp.SendResult{}, ErrSnapshot
	}
	if s.cfg.OnUnknownPhone == UnknownPhoneRefuse {
		// Refuse before spending an SMS on a number that cannot bind.
		if _, err := s.directory.FindByPhone(ctx, phone.String()); errors.Is(err, binding.ErrNotFound) {
			return otp.SendResult{}, ErrUnknownPhone
		} else if err != nil {
			return otp.SendResult{}, err
		}
	}
	return s.otp.Send(ctx, otp.SendRequest{Phone: phone, IP: clientIP, Identity: id.Key(), Purpose: PurposeBind, Holder: id.Holder})
}

// Bind checks the code sent to phone in the login id.Holder and binds the
// WeChat person to the phone's user,
// creating the user when the policy allows. Concurrent binds are safe: the
// directory never creates two users for one phone and the binding store lets
// only one binding per person and per user exist.
func (s *Service) Bind(ctx context.Context, id Identity, phone otp.Phone, code string) (binding.User, error) {
	if id.Snapshot {
		return binding.User{}, ErrSnapshot
	}
	if err := s.otp.Verify(ctx, otp.VerifyRequest{Phone: phone, Purpose: PurposeBind, Holder: id.Holder, Code: code}); err != nil {
		return binding.User{}, err
	}
	return s.bindPhone(ctx, id, phone, "sms")
}

// bindPhone binds the WeChat person to the user of a proven phone number,
// following the directory policy (create or refuse an unknown phone; refuse
// or replace a user bound to another person). proof says how the phone was
// proven, for the log.
func (s *Service) bindPhone(ctx context.Context, id Identity, phone otp.Phone, proof string) (binding.User, error) {
	now := s.now()
	u, err := s.directory.FindByPhone(ctx, phone.String())
	switch {
	case errors.Is(err, binding.ErrNotFound) && s.cfg.OnUnknownPhone == UnknownPhoneCreate:
		if u, err = s.directory.Create(ctx, phone.String(), now); err != nil {
			return binding.User{}, fmt.Errorf("create user: %w", err)
		}
		s.log.InfoContext(ctx, "user created at first WeChat login", "user", u.ID, "phone", phone.Masked())
	case errors.Is(err, binding.ErrNotFound):
		return binding.User{}, ErrUnknownPhone
	case err != nil:
		return binding.User{}, err
	}
	if err := s.bindings.Bind(ctx, id.Account, u.ID, s.cfg.OnUserBound == UserBoundReplace, now); err != nil {
		return binding.User{}, err
	}
	s.log.InfoContext(ctx, "WeChat account bound", "user", u.ID, "appid", id.AppID, "phone", phone.Masked(), "proof", proof)
	return u, nil
}

// Principal is the CAS principal for a user logged in with WeChat. The
// attributes are offered to services, which release only those listed in
// their registry entry.
func Principal(u binding.User, id Identity, at time.Time) cas.Principal {
	attrs := map[string][]string{
		"userId":       {u.ID},
		"phone":        {u.Phone},
		"loginChannel": {"wechat"},
	}
	if id.Nickname != "" {
		attrs["nickname"] = []string{id.Nickname}
	}
	if id.UnionID != "" {
		attrs["wechatUnionId"] = []string{id.UnionID}
	}
	for k, v := range u.Attributes {
		attrs[k] = []string{v}
	}
	principal := u.Principal
	if principal == "" {
		principal = u.ID
	}
	return cas.Principal{ID: principal, Attributes: attrs, AuthenticatedAt: at}
}
