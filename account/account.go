// Package account is the binding's life after the first login: a person
// seeing and changing their own binding (unbind, new phone, new WeChat
// account), and an operator unbinding someone. Every change is confirmed as
// the protocol of its caller requires (an SMS code for the person; the
// caller's own sign-in for an operator), written to the audit log, and ends
// the person's other SSO sessions: a session must not outlive the facts it
// was opened with (its attributes carry the phone and the WeChat identity),
// and whoever asked for the change may be locking someone else out.
//
// The HTTP layer (the /account page, the JSON API, the admin console) and
// the command line all go through Service, so each decision is made here
// once.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"wxcas/audit"
	"wxcas/binding"
	"wxcas/otp"
	"wxcas/ratelimit"
)

// Purposes of the codes Service sends: a code verifies only for its own.
const (
	PurposeUnbind  = "account_unbind"
	PurposePhone   = "account_phone"
	PurposeReplace = "account_replace"
)

// Channels the person changes their account through, as the audit log
// records them.
const (
	ChannelPage = "account_page"
	ChannelAPI  = audit.ChannelAPI
)

// Actor kinds.
const (
	ActorSelf  = "self"  // the person, signed in to their account page or app
	ActorAdmin = "admin" // an operator in the admin console
	ActorCLI   = "cli"   // an operator at the command line
)

// Actor is who asks for a change.
type Actor struct {
	Kind string // ActorSelf, ActorAdmin or ActorCLI
	Name string // the admin's principal, the OS user; empty for the person
	// KeepSession is the key of the SSO session that asked (the person's
	// own): it is not ended with the others.
	KeepSession string
	// ClientIP is where an operator in the console asked from (the audit
	// log's client_ip); empty at the command line.
	ClientIP string
}

// auditActor is the actor as the audit log records it: empty for the
// person themself.
func (a Actor) auditActor() string {
	if a.Kind == ActorSelf || a.Kind == "" {
		return ""
	}
	return a.Kind + ":" + a.Name
}

// Person is someone signed in, acting on their own account.
type Person struct {
	UserID     string
	SessionKey string // the SSO session they are signed in with
	// AuthenticatedAt is when the session's person last logged in with
	// WeChat (not when the session was last used).
	AuthenticatedAt time.Time
	ClientIP        string
	Channel         string // audit.Channel* of the caller (web page or API)
}

func (p Person) actor() Actor { return Actor{Kind: ActorSelf, KeepSession: p.SessionKey} }

// Errors.
var (
	// ErrNotBound: the user has no WeChat binding.
	ErrNotBound = errors.New("account: no WeChat account is bound")
	// ErrPhoneManaged: phone numbers belong to the organisation's directory
	// and are changed there.
	ErrPhoneManaged = errors.New("account: the phone number is managed by the organisation's directory")
	// ErrPhoneTaken: the new number belongs to another user.
	ErrPhoneTaken = binding.ErrPhoneTaken
	// ErrSamePhone: the new number is the one the user has.
	ErrSamePhone = errors.New("account: this is already the account's phone number")
	// ErrPersonBound: the new WeChat account is bound to another user.
	ErrPersonBound = binding.ErrPersonBound
	// ErrSameWeChat: the new WeChat account is the one already bound.
	ErrSameWeChat = errors.New("account: this WeChat account is already the bound one")
	// ErrLoginTooOld: a phone change needs a WeChat login within
	// FreshLogin; the person logs in again first.
	ErrLoginTooOld = errors.New("account: a phone change needs a fresh WeChat login")
	// ErrRecentPhoneChange: the WeChat account is not replaced within
	// PhoneChangeHold of a phone change.
	ErrRecentPhoneChange = errors.New("account: the phone number changed recently; the WeChat account cannot be replaced yet")
	// ErrNoUser: the directory does not know the user.
	ErrNoUser = errors.New("account: no such user")
	// ErrSessionsRemain: the change was made but some other sessions could
	// not be ended; the person should log out on their other devices.
	ErrSessionsRemain = errors.New("account: the change was made, but other sessions could not all be ended")
)

// FreshLogin is how recent the WeChat login of a session that changes the
// phone number must be. The phone is one of the two facts that vouch for
// the person (with the bound WeChat account): a session alone — a borrowed
// browser, an app's stolen session token — must not replace it, or it
// could then prove "the phone" to replace the WeChat account as well and
// own the account for good. A code to the new number proves only that
// number; the fresh login proves the WeChat account.
const FreshLogin = 10 * time.Minute

// PhoneChangeHold is how long after a phone change the WeChat account
// cannot be replaced. Within FreshLogin of a WeChat login a session can
// change the phone; the hold keeps it from then proving that new phone to
// replace the WeChat account as well, which would hand the account to
// whoever held the session (the rightful person has a day to notice and
// ask an operator).
const PhoneChangeHold = 24 * time.Hour

// Phone-change probes: asking whether a number is someone else's costs the
// asker, not the number (a refused probe sends nothing, so charging the
// number's SMS limits would let anyone lock another person's number out of
// its codes).
var (
	probesPerUser = ratelimit.Limit{Max: 5, Window: 24 * time.Hour}
	probesPerIP   = ratelimit.Limit{Max: 30, Window: time.Hour}
)

// Counters counts phone-change probes (ratelimit.Limiter).
type Counters interface {
	Hit(ctx context.Context, key string, lim ratelimit.Limit, now time.Time) (time.Duration, error)
}

// Bindings is what Service needs of the binding store.
type Bindings interface {
	BindingOf(ctx context.Context, userID string) (binding.Binding, error)
	UnbindUser(ctx context.Context, userID string) (binding.Binding, error)
	Bind(ctx context.Context, acct binding.Account, userID string, replace bool, now time.Time) error
}

// Phones changes a user's phone number (the built-in users table).
type Phones interface {
	ChangePhone(ctx context.Context, userID, phone string) error
}

// Sessions ends SSO sessions (cas.Server).
type Sessions interface {
	EndSessionsOf(ctx context.Context, principalID, keep string) (int, error)
}

// Codes sends and checks SMS codes (otp.Service).
type Codes interface {
	Send(ctx context.Context, req otp.SendRequest) (otp.SendResult, error)
	Check(ctx context.Context, req otp.VerifyRequest) (otp.Proof, error)
	Spend(ctx context.Context, p otp.Proof) error
	WaitFor(ctx context.Context, phone otp.Phone, clientIP, identity string) (otp.Waits, error)
	PendingTo(ctx context.Context, holder, purpose string) (otp.Phone, error)
}

// Transactor runs fn in one transaction (store.DB.Atomic).
type Transactor interface {
	Atomic(ctx context.Context, fn func(ctx context.Context) error) error
}

// Deps are Service's parts.
type Deps struct {
	Bindings  Bindings
	Directory binding.Directory
	// Phones is nil when the organisation's directory holds the phone
	// numbers: wxcas does not write to it.
	Phones       Phones
	Sessions     Sessions
	Codes        Codes
	Tx           Transactor
	Replacements ReplacementStore
	Probes       Counters
	Audit        audit.Log
	// Events reads the audit log back (the last phone change, for
	// PhoneChangeHold); nil: no hold.
	Events audit.Store
	Now    func() time.Time
	Log    *slog.Logger
}

// Service changes bindings. It holds no state of its own: every instance
// behind a load balancer sees the same database.
type Service struct{ d Deps }

// New returns a Service.
func New(d Deps) (*Service, error) {
	if d.Bindings == nil || d.Directory == nil || d.Sessions == nil || d.Codes == nil || d.Tx == nil || d.Replacements == nil || d.Probes == nil || d.Audit == nil {
		return nil, errors.New("account: Bindings, Directory, Sessions, Codes, Tx, Replacements, Probes and Audit are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &Service{d: d}, nil
}

// PhonesEditable reports whether wxcas may change phone numbers (the
// built-in users table), not the organisation's directory.
func (s *Service) PhonesEditable() bool { return s.d.Phones != nil }

// Profile is what the account page shows.
type Profile struct {
	User    binding.User
	Binding binding.Binding // IdentityKey empty when not bound
	Logins  []audit.Event   // recent logins, newest first
}

// Bound reports whether a WeChat account is bound.
func (p Profile) Bound() bool { return p.Binding.IdentityKey != "" }

// recentLogins is how many logins the account page lists.
const recentLogins = 10

// Profile returns the user, their binding and recent logins (when the
// audit log can be read).
func (s *Service) Profile(ctx context.Context, userID string, logins audit.Store) (Profile, error) {
	u, err := s.user(ctx, userID)
	if err != nil {
		return Profile{}, err
	}
	p := Profile{User: u}
	switch b, err := s.d.Bindings.BindingOf(ctx, userID); {
	case err == nil:
		p.Binding = b
	case !errors.Is(err, binding.ErrNotFound):
		return Profile{}, err
	}
	if logins != nil {
		events, err := logins.List(ctx, audit.Filter{UserID: userID, Kind: audit.KindLogin, Limit: recentLogins})
		if err != nil {
			return Profile{}, err
		}
		p.Logins = events
	}
	return p, nil
}

func (s *Service) user(ctx context.Context, userID string) (binding.User, error) {
	u, err := s.d.Directory.FindByID(ctx, userID)
	if errors.Is(err, binding.ErrNotFound) {
		return binding.User{}, ErrNoUser
	}
	return u, err
}

// Result is what a change did.
type Result struct {
	Removed       binding.Binding // the binding an unbind or replacement removed
	EndedSessions int
}

// Unbind removes the user's binding for an operator (by.Kind admin or cli),
// with the reason in the audit log, and ends all the user's sessions.
func (s *Service) Unbind(ctx context.Context, userID string, by Actor, reason string) (Result, error) {
	u, err := s.user(ctx, userID)
	if err != nil {
		return Result{}, err
	}
	removed, err := s.d.Bindings.UnbindUser(ctx, userID)
	if errors.Is(err, binding.ErrNotFound) {
		return Result{}, ErrNotBound
	}
	if err != nil {
		return Result{}, err
	}
	s.record(ctx, audit.Event{Kind: audit.KindUnbind, Outcome: audit.OK, UserID: userID, Phone: u.Phone, Detail: reason}, removed, by, Person{ClientIP: by.ClientIP})
	return s.endOthers(ctx, u, by, Result{Removed: removed})
}

// ResendWait is how long until a phone could get another code for the
// person (read from the send counters, nothing counted): to, the new number
// of a phone change, or "" for the bound phone. The page's countdown after
// a wrong code or a reload is the server's own answer.
func (s *Service) ResendWait(ctx context.Context, p Person, to otp.Phone) (time.Duration, error) {
	u, err := s.user(ctx, p.UserID)
	if err != nil {
		return 0, err
	}
	if to == "" {
		to = otp.Phone(u.Phone)
	}
	w, err := s.d.Codes.WaitFor(ctx, to, p.ClientIP, "user:"+u.ID)
	return w.Phone, err
}

// PendingPhone is the new number this session's phone-change code went to,
// while that code can still verify (store.ErrNotFound when none).
func (s *Service) PendingPhone(ctx context.Context, p Person) (otp.Phone, error) {
	return s.d.Codes.PendingTo(ctx, holder(p), PurposePhone)
}

// SendCode sends the person a code for purpose: to the bound phone for an
// unbind or a new WeChat account, to the new number (to) for a phone change.
// The code belongs to the person's session: another session cannot use it.
func (s *Service) SendCode(ctx context.Context, p Person, purpose string, to otp.Phone) (otp.SendResult, error) {
	u, err := s.user(ctx, p.UserID)
	if err != nil {
		return otp.SendResult{}, err
	}
	// SignedIn: the person is behind an SSO session, and their sends count
	// per user; the challenge guards the anonymous first login.
	req := otp.SendRequest{Phone: otp.Phone(u.Phone), IP: p.ClientIP, Identity: "user:" + u.ID, Purpose: purpose, Holder: holder(p), SignedIn: true}
	switch purpose {
	case PurposeUnbind:
		if _, err := s.d.Bindings.BindingOf(ctx, u.ID); errors.Is(err, binding.ErrNotFound) {
			return otp.SendResult{}, ErrNotBound
		} else if err != nil {
			return otp.SendResult{}, err
		}
	case PurposeReplace:
		if err := s.notJustChangedPhone(ctx, u.ID); err != nil {
			return otp.SendResult{}, err
		}
	case PurposePhone:
		if err := s.phoneChangeable(p, u, to); err != nil {
			return otp.SendResult{}, err
		}
		if err := s.probe(ctx, p, u, to); err != nil {
			return otp.SendResult{}, err
		}
		req.Phone = to
	default:
		return otp.SendResult{}, fmt.Errorf("account: unknown purpose %q", purpose)
	}
	return s.d.Codes.Send(ctx, req)
}

func (s *Service) phoneChangeable(p Person, u binding.User, to otp.Phone) error {
	switch {
	case s.d.Phones == nil:
		return ErrPhoneManaged
	case !s.freshLogin(p):
		return ErrLoginTooOld
	case to == "":
		return errors.New("account: the new phone number is required")
	case string(to) == u.Phone:
		return ErrSamePhone
	}
	return nil
}

// FreshLoginNeeded reports whether p must log in with WeChat again before
// changing the phone number.
func (s *Service) FreshLoginNeeded(p Person) bool { return !s.freshLogin(p) }

func (s *Service) freshLogin(p Person) bool {
	return !p.AuthenticatedAt.IsZero() && s.d.Now().Sub(p.AuthenticatedAt) <= FreshLogin
}

// probe counts the question whether to is free against the person and
// their address, then asks it.
func (s *Service) probe(ctx context.Context, p Person, u binding.User, to otp.Phone) error {
	now := s.d.Now()
	for _, c := range []struct {
		key string
		lim ratelimit.Limit
	}{
		// The address first: a refusal there must not use up the person's
		// own allowance (people behind one NAT share the address's).
		{ratelimit.Key("account_phone_probe_ip", ratelimit.ClientSubject(p.ClientIP)), probesPerIP},
		{ratelimit.Key("account_phone_probe", u.ID), probesPerUser},
	} {
		wait, err := s.d.Probes.Hit(ctx, c.key, c.lim, now)
		if err != nil {
			return err
		}
		if wait > 0 {
			return &otp.LimitError{Limit: "account_phone_probe", RetryAfter: wait}
		}
	}
	return s.phoneFree(ctx, u, to)
}

func (s *Service) phoneFree(ctx context.Context, u binding.User, to otp.Phone) error {
	other, err := s.d.Directory.FindByPhone(ctx, to.String())
	switch {
	case errors.Is(err, binding.ErrNotFound):
		return nil
	case err != nil:
		return err
	case other.ID != u.ID:
		return ErrPhoneTaken
	}
	return nil
}

// notJustChangedPhone refuses a replacement within PhoneChangeHold of the
// user's last phone change (read from the audit log).
func (s *Service) notJustChangedPhone(ctx context.Context, userID string) error {
	if s.d.Events == nil {
		return nil
	}
	events, err := s.d.Events.List(ctx, audit.Filter{UserID: userID, Kind: audit.KindPhoneChange, Outcome: audit.OK,
		Since: s.d.Now().Add(-PhoneChangeHold), Limit: 1})
	if err != nil {
		return err
	}
	if len(events) > 0 {
		return ErrRecentPhoneChange
	}
	return nil
}

// holder binds a code to the session that asked for it.
func holder(p Person) string { return "account:" + p.SessionKey }

// check verifies code for purpose against phone without spending it.
func (s *Service) check(ctx context.Context, p Person, purpose string, phone otp.Phone, code string) (otp.Proof, error) {
	return s.d.Codes.Check(ctx, otp.VerifyRequest{Phone: phone, Purpose: purpose, Holder: holder(p), Code: code})
}

// UnbindSelf removes the person's own binding, confirmed by the code sent
// to their phone, and ends their other sessions (this one stays: the person
// is still signed in, now without WeChat until they log in and bind again).
func (s *Service) UnbindSelf(ctx context.Context, p Person, code string) (Result, error) {
	u, err := s.user(ctx, p.UserID)
	if err != nil {
		return Result{}, err
	}
	proof, err := s.check(ctx, p, PurposeUnbind, otp.Phone(u.Phone), code)
	if err != nil {
		return Result{}, err
	}
	var removed binding.Binding
	err = s.d.Tx.Atomic(ctx, func(ctx context.Context) error {
		if err := s.d.Codes.Spend(ctx, proof); err != nil {
			return err
		}
		var err error
		removed, err = s.d.Bindings.UnbindUser(ctx, u.ID)
		if errors.Is(err, binding.ErrNotFound) {
			return ErrNotBound
		}
		return err
	})
	if err != nil {
		return Result{}, err
	}
	s.record(ctx, audit.Event{Kind: audit.KindUnbind, Outcome: audit.OK, UserID: u.ID, Phone: u.Phone}, removed, p.actor(), p)
	return s.endOthers(ctx, u, p.actor(), Result{Removed: removed})
}

// ChangePhone gives the person the new number the code was sent to, and
// ends their other sessions (which carry the old number).
func (s *Service) ChangePhone(ctx context.Context, p Person, to otp.Phone, code string) (Result, error) {
	u, err := s.user(ctx, p.UserID)
	if err != nil {
		return Result{}, err
	}
	if err := s.phoneChangeable(p, u, to); err != nil {
		return Result{}, err
	}
	proof, err := s.check(ctx, p, PurposePhone, to, code)
	if err != nil {
		return Result{}, err
	}
	err = s.d.Tx.Atomic(ctx, func(ctx context.Context) error {
		if err := s.d.Codes.Spend(ctx, proof); err != nil {
			return err
		}
		return s.d.Phones.ChangePhone(ctx, u.ID, to.String())
	})
	if errors.Is(err, binding.ErrPhoneTaken) {
		s.record(ctx, audit.Event{Kind: audit.KindPhoneChange, Outcome: "phone_taken", UserID: u.ID, Phone: to.String()}, binding.Binding{}, p.actor(), p)
		return Result{}, ErrPhoneTaken
	}
	if err != nil {
		return Result{}, err
	}
	s.record(ctx, audit.Event{Kind: audit.KindPhoneChange, Outcome: audit.OK, UserID: u.ID, Phone: to.String(),
		Detail: "from " + otp.Phone(u.Phone).Masked()}, binding.Binding{}, p.actor(), p)
	return s.endOthers(ctx, u, p.actor(), Result{})
}

// Replace binds the person to the WeChat account acct (logged in just now by
// the caller) in place of the bound one, confirmed by the code sent to the
// person's phone: the JSON API's replacement, in one request.
func (s *Service) Replace(ctx context.Context, p Person, acct binding.Account, code string) (Result, error) {
	u, err := s.user(ctx, p.UserID)
	if err != nil {
		return Result{}, err
	}
	proof, err := s.check(ctx, p, PurposeReplace, otp.Phone(u.Phone), code)
	if err != nil {
		return Result{}, err
	}
	return s.replace(ctx, p, u, acct, func(ctx context.Context) error { return s.d.Codes.Spend(ctx, proof) })
}

// replace binds acct to u in place of the bound account, after spend (the
// proof that the person asked) in the same transaction.
func (s *Service) replace(ctx context.Context, p Person, u binding.User, acct binding.Account, spend func(ctx context.Context) error) (Result, error) {
	if err := s.notJustChangedPhone(ctx, u.ID); err != nil {
		return Result{}, err
	}
	var old binding.Binding
	err := s.d.Tx.Atomic(ctx, func(ctx context.Context) error {
		if err := spend(ctx); err != nil {
			return err
		}
		var err error
		old, err = s.d.Bindings.BindingOf(ctx, u.ID)
		if err != nil && !errors.Is(err, binding.ErrNotFound) {
			return err
		}
		if old.IdentityKey != "" && old.IdentityKey == acct.Key() {
			return ErrSameWeChat
		}
		return s.d.Bindings.Bind(ctx, acct, u.ID, true, s.d.Now())
	})
	e := audit.Event{Kind: audit.KindBind, Outcome: audit.OK, UserID: u.ID, AppID: acct.AppID, OpenID: acct.OpenID, UnionID: acct.UnionID, Phone: u.Phone, Detail: "replaced the bound WeChat account"}
	switch {
	case errors.Is(err, ErrSameWeChat):
		return Result{}, err
	case errors.Is(err, binding.ErrPersonBound):
		e.Outcome, e.Detail = "person_bound", "replacement refused: that WeChat account is bound to another user"
		s.record(ctx, e, binding.Binding{}, p.actor(), p)
		return Result{}, ErrPersonBound
	case err != nil:
		return Result{}, err
	}
	if old.IdentityKey != "" {
		e.Detail += " (" + old.IdentityKey + ")"
	}
	s.record(ctx, e, binding.Binding{}, p.actor(), p)
	return s.endOthers(ctx, u, p.actor(), Result{Removed: old})
}

// record writes e with the actor and the caller's request facts; the
// removed binding's first account names the WeChat identity when e has none.
func (s *Service) record(ctx context.Context, e audit.Event, removed binding.Binding, by Actor, p Person) {
	e.Actor = by.auditActor()
	e.At = s.d.Now() // the service's clock, as the hold reads it back
	e.ClientIP, e.Channel = p.ClientIP, p.Channel
	if e.OpenID == "" && len(removed.Accounts) > 0 {
		a := removed.Accounts[0]
		e.AppID, e.OpenID, e.UnionID = a.AppID, a.OpenID, a.UnionID
	}
	if err := s.d.Audit.Record(ctx, e); err != nil {
		s.d.Log.ErrorContext(ctx, "account: audit event not recorded", "kind", e.Kind, "err", err)
	}
}

// endOthers ends the user's sessions but the one that asked.
func (s *Service) endOthers(ctx context.Context, u binding.User, by Actor, r Result) (Result, error) {
	principal := u.Principal
	if principal == "" {
		principal = u.ID
	}
	n, err := s.d.Sessions.EndSessionsOf(ctx, principal, by.KeepSession)
	r.EndedSessions = n
	if err != nil {
		s.d.Log.ErrorContext(ctx, "account: other sessions not all ended", "user", u.ID, "ended", n, "err", err)
		return r, fmt.Errorf("%w: %v", ErrSessionsRemain, err)
	}
	return r, nil
}
