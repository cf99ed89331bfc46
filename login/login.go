// Package login is what every WeChat entry point shares once WeChat has named
// the person: find who they are, and on a first login bind them to a user by
// a phone number proven with an SMS code, following the operator's policy.
// The login journey (package journey) calls it for every transport, so a
// person is treated the same whichever way they arrive.
package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"wxcas/binding"
	"wxcas/challenge"
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
)

// PurposeBind is the OTP purpose for phone binding.
const PurposeBind = "bind"

// Transactor runs fn in one database transaction that the stores given
// fn's context join; *store.DB is one (store.DB.Atomic).
type Transactor interface {
	Atomic(ctx context.Context, fn func(ctx context.Context) error) error
}

// Service resolves and binds identities.
type Service struct {
	cfg       Config
	bindings  binding.Store
	directory binding.Directory
	otp       *otp.Service
	tx        Transactor
	now       func() time.Time
	log       *slog.Logger
}

// New returns a Service. tx makes a binding atomic: spending the code,
// creating the user (built-in directory) and writing the binding commit
// together or not at all.
func New(cfg Config, bindings binding.Store, directory binding.Directory, codes *otp.Service, tx Transactor, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{cfg: cfg, bindings: bindings, directory: directory, otp: codes, tx: tx, now: now, log: log}
}

// Identity is a WeChat person as WeChat reported them in one login.
type Identity struct {
	binding.Account
	// Holder is an opaque id of this one login (a browser login flow, an
	// which SendCode and Bind require: an SMS code belongs to the login
	// that asked for it, so another login aimed at the same phone can
	// neither use nor burn it.
	Holder string
}

// Identify records the sighting and returns the bound user, or ErrUnbound.
func (s *Service) Identify(ctx context.Context, id Identity) (binding.User, error) {
	if both, ok := s.bindings.(userSeer); ok && any(s.directory) == any(s.bindings) {
		// The bindings' store is the directory: one read finds both.
		u, ok, err := both.SeenUser(ctx, id.Account, s.now())
		if errors.Is(err, binding.ErrNotFound) {
			return binding.User{}, ErrUnbound
		}
		if ok || err != nil {
			return u, err
		}
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

// userSeer is a bindings store that is the directory too
// (binding.SQLStore.SeenUser).
type userSeer interface {
	SeenUser(ctx context.Context, a binding.Account, now time.Time) (binding.User, bool, error)
}

// LastNickname is the nickname the person behind acct was last seen with
// in any app ("" when none): an Official Account's silent snsapi_base
// login tells us nobody's nickname, but the person has one.
func (s *Service) LastNickname(ctx context.Context, acct binding.Account) (string, error) {
	seen, err := s.bindings.Accounts(ctx, acct)
	if err != nil {
		return "", err
	}
	var last binding.SeenAccount
	for _, a := range seen {
		if a.Nickname != "" && !a.LastSeen.Before(last.LastSeen) {
			last = a
		}
	}
	return last.Nickname, nil
}

// SendCode sends a binding code to phone for the login id.Holder, counted
// against the phone, the client IP and the WeChat person. Under the refuse
// policy an unknown number gets ErrUnknownPhone and no SMS.
func (s *Service) SendCode(ctx context.Context, id Identity, phone otp.Phone, clientIP, solution string) (otp.SendResult, error) {
	req := otp.SendRequest{Phone: phone, IP: clientIP, Identity: id.Key(), Purpose: PurposeBind, Holder: id.Holder, Solution: solution}
	if s.cfg.OnUnknownPhone == UnknownPhoneRefuse {
		// Refuse before spending an SMS on a number that cannot bind, but
		// only once the send is counted: the answer tells whether the
		// number is in the directory, so each question must use up the
		// same limits as a send, or anyone could test numbers endlessly.
		req.Eligible = func(ctx context.Context) error {
			_, err := s.directory.FindByPhone(ctx, phone.String())
			if errors.Is(err, binding.ErrNotFound) {
				return ErrUnknownPhone
			}
			return err
		}
	}
	return s.otp.Send(ctx, req)
}

// SendState is what a page needs before a send: how long until a code can
// go to phone (or to any other number), and a challenge when the next send
// would need one (nil: none). An empty phone: the number is not typed yet.
func (s *Service) SendState(ctx context.Context, id Identity, phone otp.Phone, clientIP string) (otp.Waits, *challenge.Challenge, error) {
	return s.otp.Outlook(ctx, otp.SendRequest{Phone: phone, IP: clientIP, Identity: id.Key(), Purpose: PurposeBind, Holder: id.Holder})
}

// Bind checks the code sent to phone in the login id.Holder and binds the
// WeChat person to the phone's user, creating the user when the policy
// allows (see BindThen).
func (s *Service) Bind(ctx context.Context, id Identity, phone otp.Phone, code string) (binding.User, error) {
	return s.BindThen(ctx, id, phone, code, nil)
}

// BindThen is Bind with then run inside the binding's transaction (the
// login journey records its new state there). The attempt is counted first,
// on its own; then spending the code, creating the user (built-in
// directory), writing the binding and then commit together: a failure
// anywhere leaves the code usable and no user without a binding. Two logins
// of one person racing end bound to the same user: the loser's transaction
// runs again and finds the winner's binding.
func (s *Service) BindThen(ctx context.Context, id Identity, phone otp.Phone, code string, then func(ctx context.Context, u binding.User) error) (binding.User, error) {
	proof, err := s.otp.Check(ctx, otp.VerifyRequest{Phone: phone, Purpose: PurposeBind, Holder: id.Holder, Code: code})
	if err != nil {
		return binding.User{}, err
	}
	u, err := s.bindAtomically(ctx, id, phone, "sms", func(ctx context.Context) error { return s.otp.Spend(ctx, proof) }, then)
	if err == nil {
		// Bound: the login's sends to other numbers (a typo first) were
		// a person's, not a pump's.
		s.otp.ConfirmLogin(ctx, id.Holder, PurposeBind)
	}
	return u, err
}

func (s *Service) bindAtomically(ctx context.Context, id Identity, phone otp.Phone, proof string, spend func(ctx context.Context) error, then func(ctx context.Context, u binding.User) error) (binding.User, error) {
	var u binding.User
	err := s.tx.Atomic(ctx, func(ctx context.Context) error {
		if spend != nil {
			if err := spend(ctx); err != nil {
				return err
			}
		}
		var err error
		if u, err = s.bindPhone(ctx, id, phone); err != nil {
			return err
		}
		if then != nil {
			return then(ctx, u)
		}
		return nil
	})
	if err != nil {
		return binding.User{}, err
	}
	s.log.InfoContext(ctx, "WeChat account bound", "user", u.ID, "appid", id.AppID, "phone", phone.Masked(), "proof", proof)
	return u, nil
}

// bindPhone binds the WeChat person to the user of a proven phone number,
// following the directory policy (create or refuse an unknown phone; refuse
// or replace a user bound to another person).
func (s *Service) bindPhone(ctx context.Context, id Identity, phone otp.Phone) (binding.User, error) {
	now := s.now()
	u, err := s.directory.FindByPhone(ctx, phone.String())
	switch {
	case errors.Is(err, binding.ErrNotFound) && s.cfg.OnUnknownPhone == UnknownPhoneCreate:
		// The built-in directory creates the user in the binding's
		// transaction; an organisation's directory creates it in its own
		// database, idempotently by phone, so a binding that then fails
		// finds the same user next time.
		if u, err = s.directory.Create(ctx, phone.String(), now); err != nil {
			return binding.User{}, fmt.Errorf("create user: %w", err)
		}
	case errors.Is(err, binding.ErrNotFound):
		return binding.User{}, ErrUnknownPhone
	case err != nil:
		return binding.User{}, err
	}
	if err := s.bindings.Bind(ctx, id.Account, u.ID, s.cfg.OnUserBound == UserBoundReplace, now); err != nil {
		return binding.User{}, err
	}
	return u, nil
}

// User returns the directory user with id (a journey that bound or
// identified them earlier asks again when it finishes once more).
func (s *Service) User(ctx context.Context, id string) (binding.User, error) {
	return s.directory.FindByID(ctx, id)
}
