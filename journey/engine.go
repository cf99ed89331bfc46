package journey

import (
	"cmp"
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"wxcas/audit"
	"wxcas/binding"
	"wxcas/login"
	"wxcas/metrics"
	"wxcas/otp"
	"wxcas/wechat"
)

// Config shapes every journey.
type Config struct {
	// TTL bounds a whole journey, from the start to the finish.
	TTL time.Duration
	// PhoneRegion is the region of phone numbers typed without a country
	// code (e.g. "CN").
	PhoneRegion string
	// UnionIDApp is the Official Account bound to the open-platform account
	// (the unionid chain's step-up): an Official Account login with the
	// silent snsapi_base scope that finds an unbound person without a
	// unionid asks WeChat once more, with snsapi_userinfo on this account,
	// which reveals it: the person may already be bound through another app
	// of the same open-platform account. Empty: no step-up.
	UnionIDApp string
}

// Deps are the engine's collaborators.
type Deps struct {
	Store  Store
	Login  *login.Service
	WeChat WeChat
	// Audit records logins, bindings and refusals (never fails a login).
	Audit audit.Log
	// Funnel counts the steps journeys take (nil: none).
	Funnel metrics.Funnel
	Now    func() time.Time
	Log    *slog.Logger
}

// Engine applies events to journeys. It is safe for concurrent use, and any
// number of instances may share one Store.
type Engine struct {
	cfg Config
	d   Deps
}

// New checks the transition table and builds the engine.
func New(cfg Config, d Deps) (*Engine, error) {
	if err := CheckTable(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Login == nil || d.WeChat == nil {
		return nil, errors.New("journey: Deps.Store, Login and WeChat are required")
	}
	if cfg.TTL <= 0 {
		return nil, errors.New("journey: Config.TTL must be positive")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Audit == nil {
		d.Audit = audit.Best(nil, d.Log)
	}
	return &Engine{cfg: cfg, d: d}, nil
}

// Start describes a new journey.
type Start struct {
	ID        string // random, from the transport (it may be part of a token)
	Transport Transport
	// EntryAppID: the Official Account a login inside WeChat starts from.
	EntryAppID string
	Channel    string
	Service    string
	Return     string
	SecretHash string
	// TTL bounds the journey; 0: Config.TTL.
	TTL time.Duration
	// StepTTL bounds the first step (the API's bind token); 0: the journey's TTL.
	StepTTL time.Duration
	// WeChatStateHash, with Channel and WeChatAppID: the journey starts with
	// its first WeChat state already issued (as a WeChatStart would), so
	// that its page writes nothing to show it.
	WeChatStateHash, WeChatAppID string
}

// Start stores a new journey waiting for WeChat.
func (e *Engine) Start(ctx context.Context, s Start) (*Journey, error) {
	if s.ID == "" || s.SecretHash == "" || s.Transport == "" {
		return nil, errors.New("journey: Start needs an ID, a SecretHash and a Transport")
	}
	now := e.d.Now()
	ttl := e.cfg.TTL
	if s.TTL > 0 {
		ttl = s.TTL
	}
	j := &Journey{
		ID: s.ID, State: WeChatPending, Transport: s.Transport, Channel: s.Channel, Service: s.Service,
		Return: s.Return, SecretHash: s.SecretHash, CreatedAt: now, ExpiresAt: now.Add(ttl), EntryAppID: s.EntryAppID,
		WeChatStateHash: s.WeChatStateHash, WeChatAppID: s.WeChatAppID,
	}
	if s.StepTTL > 0 {
		j.StepExpiresAt = minTime(now.Add(s.StepTTL), j.ExpiresAt)
	}
	if err := e.d.Store.Create(ctx, j); err != nil {
		return nil, err
	}
	return j, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// From is who sends an event.
type From struct {
	// SecretHash proves the sender holds the journey (see Transport); it
	// must equal the journey's.
	SecretHash string
	// NextSecretHash, when set, becomes the journey's secret if the event
	// succeeds (the API's per-step secret), with NextStepTTL to use it.
	NextSecretHash string
	NextStepTTL    time.Duration
	ClientIP       string
}

// Event is something a transport asks of a journey.
type Event interface{ Kind() EventKind }

// The events, with what they carry.
type (
	// WeChatStart: StateHash is the keyed hash of the WeChat state just
	// issued for Channel, to the app AppID.
	WeChatStart struct{ Channel, StateHash, AppID string }
	// WeChatCode: WeChat's code for the app AppID. StateHash, for a
	// browser callback, is the keyed hash of the state it came with; an
	// empty Code means the person declined in WeChat. Finish: a person
	// WeChat names who is bound finishes at once, in the same write
	// (the transport would send Finish next anyway).
	WeChatCode struct {
		AppID, Code, StateHash string
		Finish                 bool
	}
	// PhoneEntered: the number as typed.
	// PhoneEntered and Resend carry the answer to a challenge the last send
	// asked for (otp.SendRequest.Solution), if any.
	PhoneEntered struct{ Number, Solution string }
	Resend       struct{ Solution string }
	ChangeNumber struct{}
	// CodeEntered: the SMS code as typed.
	CodeEntered struct{ Code string }
	// WeChatPhone: a mini program's getPhoneNumber code.
	WeChatPhone struct{ PhoneCode string }
	Cancel      struct{}
	// Finish: the transport is about to issue the result. Person, when the
	// transport has it from the answer that led here, saves a lookup.
	Finish struct{ Person *Person }
)

func (WeChatStart) Kind() EventKind  { return EvWeChatStart }
func (WeChatCode) Kind() EventKind   { return EvWeChatCode }
func (PhoneEntered) Kind() EventKind { return EvPhone }
func (Resend) Kind() EventKind       { return EvResend }
func (ChangeNumber) Kind() EventKind { return EvChangeNumber }
func (CodeEntered) Kind() EventKind  { return EvCode }
func (WeChatPhone) Kind() EventKind  { return EvWeChatPhone }
func (Cancel) Kind() EventKind       { return EvCancel }
func (Finish) Kind() EventKind       { return EvFinish }

// Answer is where an event left the journey.
type Answer struct {
	Journey *Journey
	// Person is set in Identified, Bound and Finished.
	Person *Person
	// Sent describes the code just sent (EvPhone, EvResend).
	Sent *otp.SendResult
	// Replay: the event repeated one that already succeeded (a double
	// submission, a callback delivered twice): the transport finishes again.
	Replay bool
	// Repeat: a WeChat callback that did not make the journey's move
	// itself: its state had been used, or another callback with it wrote
	// first. It answers with that one's result, but may have asked WeChat
	// and waited for it: a browser transport counts it against the
	// sender's limits, since its state paid for one exchange only.
	Repeat bool
	// StepUpAppID: ask WeChat again, with the userinfo scope on this
	// Official Account (see Config.UnionIDApp).
	StepUpAppID string
}

// Handle applies ev to the journey id, sent by from. A refusal is an
// *Error (see AsError); other errors are internal.
func (e *Engine) Handle(ctx context.Context, id string, ev Event, from From) (Answer, error) {
	j, err := e.load(ctx, id, from)
	if err != nil {
		// An expired journey comes back with the refusal, so the transport
		// can offer to start again for its service (load gives none to a
		// sender who does not hold it).
		return Answer{Journey: j}, err
	}
	return e.handleLoaded(ctx, j, ev, from)
}

// HandleLoaded is Handle for a journey the transport has just loaded for
// the same sender (Load) in this request: it is not read again. The update
// still checks, by its compare-and-swap on the version, that nobody changed
// it since; and on the journey in hand, that
// the sender holds it and that it has not expired.
func (e *Engine) HandleLoaded(ctx context.Context, j *Journey, ev Event, from From) (Answer, error) {
	return e.handleLoaded(ctx, j, ev, from)
}

func (e *Engine) handleLoaded(ctx context.Context, j *Journey, ev Event, from From) (Answer, error) {
	a, err := e.handle(ctx, j, ev, from)
	if errors.Is(err, errChanged) {
		// Lost a race with another request on the journey (two tabs
		// loading its page at once, a cancel during a send): a refusal
		// the transport answers with the journey as it is now, not an
		// internal error.
		err = fail(CodeWrongStep, err)
	}
	if err != nil {
		audited := *j
		if wc, ok := ev.(WeChatCode); ok && audited.AppID == "" {
			// Refused before WeChat named anyone: the app still says
			// which door was knocked on.
			audited.AppID = wc.AppID
		}
		e.auditRefusal(ctx, &audited, from, err)
		return Answer{Journey: j, Repeat: a.Repeat}, err
	}
	return a, nil
}

// Forget ends the journey id for its holder whatever its state, by making
// it expire now: the holder logged out, and nothing of a login it finished
// may be repeated (FinishGrace) nor carried on. Its state stays as it was
// (an expiry is no transition); an unknown, foreign or expired journey is
// left alone.
func (e *Engine) Forget(ctx context.Context, id string, from From) error {
	j, err := e.load(ctx, id, from)
	if AsError(err) != nil {
		return nil
	}
	if err != nil {
		return err
	}
	now := e.d.Now()
	_, err = e.d.Store.Update(ctx, j.ID, func(cur *Journey) error {
		if e.check(cur, from, now) != nil {
			return nil // expired or changed hands meanwhile: nothing to end
		}
		cur.ExpiresAt, cur.StepExpiresAt = now, time.Time{}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Load returns the journey id if from holds it and it has not expired. An
// expired journey that from holds comes back too, with CodeExpired, so the
// transport can offer to start again for its service; one that from does
// not hold never does.
func (e *Engine) Load(ctx context.Context, id string, from From) (*Journey, error) {
	return e.load(ctx, id, from)
}

// StateElsewhere ends journey id when a browser that does not hold it
// presents the WeChat state it issued (stateHash) and has not used yet:
// WeChat sends its callback to the browser the authorization ran in, so a
// state (and the code with it) showing up anywhere else has left that
// browser — a link passed on, to be replayed later in the journey's own
// browser. Ending it makes that replay worthless (for the unionid chain it
// would join two people's accounts for good). It reports whether it ended
// one; the cancel transition of the table decides what can end.
func (e *Engine) StateElsewhere(ctx context.Context, id, stateHash string, from From) (bool, error) {
	if id == "" || stateHash == "" {
		return false, nil
	}
	// A read, then a compare-and-swap: a stray callback naming no journey
	// (or not its state) costs one SELECT by primary key.
	cur, err := e.d.Store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if cur.State != WeChatPending || cur.WeChatStateUsed || cur.WeChatStateHash == "" ||
		!hmac.Equal([]byte(cur.WeChatStateHash), []byte(stateHash)) || cur.Expired(e.d.Now()) {
		return false, nil
	}
	if _, err := allowed(cur, EvCancel, e.d.Now()); err != nil {
		return false, nil
	}
	ended := *cur
	ended.State, ended.WeChatStateHash = Failed, ""
	e.end(&ended)
	if err := e.d.Store.Replace(ctx, &ended); errors.Is(err, ErrConflict) {
		return false, nil // moved on meanwhile: its own callback came first
	} else if err != nil {
		return false, err
	}
	// The journey's person as far as it got (the entry account's answer,
	// for a chain stopped at its step-up).
	e.record(ctx, &Journey{AppID: cmp.Or(ended.AppID, ended.EntryAppID), OpenID: cmp.Or(ended.OpenID, ended.EntryOpenID), UnionID: ended.UnionID,
		Channel: ended.Channel, Service: ended.Service}, from, audit.KindRefusal, audit.StateElsewhere)
	return true, nil
}

func (e *Engine) load(ctx context.Context, id string, from From) (*Journey, error) {
	j, err := e.d.Store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fail(CodeInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	if err := e.check(j, from, e.d.Now()); err != nil {
		if AsError(err).Code == CodeInvalid {
			return nil, err // not the sender's: nothing of it leaves
		}
		return j, err
	}
	return j, nil
}

// check refuses a journey from does not hold, or that has expired.
func (e *Engine) check(j *Journey, from From, now time.Time) error {
	if from.SecretHash == "" || !hmac.Equal([]byte(from.SecretHash), []byte(j.SecretHash)) {
		return fail(CodeInvalid, errors.New("not the journey's holder"))
	}
	if j.Expired(now) {
		return fail(CodeExpired, nil)
	}
	return nil
}

func (e *Engine) handle(ctx context.Context, j *Journey, ev Event, from From) (Answer, error) {
	if _, err := allowed(j, ev.Kind(), e.d.Now()); err != nil {
		if wc, ok := ev.(WeChatCode); ok && wc.StateHash != "" {
			// A callback for a journey that moved on: WeChat (or an
			// impatient person) sent it twice.
			return e.afterDuplicateCallback(ctx, j, wc, from)
		}
		return Answer{}, err
	}
	switch ev := ev.(type) {
	case WeChatStart:
		j, err := e.update(ctx, j, from, ev.Kind(), func(j *Journey) {
			j.WeChatStateHash, j.WeChatStateUsed, j.Channel, j.WeChatAppID = ev.StateHash, false, ev.Channel, ev.AppID
		}, WeChatPending)
		return Answer{Journey: j}, err
	case WeChatCode:
		return e.wechatCode(ctx, j, ev, from)
	case PhoneEntered:
		phone, err := otp.ParsePhone(strings.TrimSpace(ev.Number), e.cfg.PhoneRegion)
		if err != nil {
			return Answer{}, fail(CodeInvalidPhone, err)
		}
		return e.send(ctx, j, phone, ev.Solution, from)
	case Resend:
		return e.send(ctx, j, otp.Phone(j.Phone), ev.Solution, from)
	case ChangeNumber:
		j, err := e.update(ctx, j, from, ev.Kind(), func(j *Journey) { j.Phone = "" }, PhoneRequested)
		if err == nil {
			e.count(metrics.StepPhoneRequested, j)
		}
		return Answer{Journey: j}, err
	case CodeEntered:
		return e.code(ctx, j, ev, from)
	case WeChatPhone:
		return e.wechatPhone(ctx, j, ev, from)
	case Cancel:
		j, err := e.update(ctx, j, from, ev.Kind(), e.end, Failed)
		return Answer{Journey: j}, err
	case Finish:
		return e.finish(ctx, j, ev, from)
	}
	return Answer{}, fmt.Errorf("journey: unknown event %T", ev)
}

// errChanged: the journey changed between the load and the update.
var errChanged = errors.New("journey: changed by another request")

// update saves the journey in state to after fn, if nobody changed it since
// j was loaded and the table allows the move; from's next secret takes
// effect with it. j is not changed: the journey saved is returned.
//
// j was read in this request (load, or an earlier update's answer), so
// the checks run on it and the write is one compare-and-swap on its
// version (Store.Replace): whoever changed the journey since then bumped
// the version, and this write finds nothing to replace (errChanged).
func (e *Engine) update(ctx context.Context, j *Journey, from From, ev EventKind, fn func(*Journey), to State) (*Journey, error) {
	next := *j
	if err := e.step(&next, from, ev, fn, to); err != nil {
		return nil, err
	}
	return e.save(ctx, &next)
}

// step applies one transition of the table to next, in memory.
func (e *Engine) step(next *Journey, from From, ev EventKind, fn func(*Journey), to State) error {
	now := e.d.Now()
	if err := e.check(next, from, now); err != nil {
		return err
	}
	t, err := allowed(next, ev, now)
	if err != nil {
		return err
	}
	if !slices.Contains(t.To, to) {
		// The effects and the table disagree: a bug, never the person's
		// doing.
		return fmt.Errorf("journey: %s --%s--> %s is not in the transition table", next.State, ev, to)
	}
	if fn != nil {
		fn(next)
	}
	next.State = to
	if from.NextSecretHash != "" {
		next.SecretHash = from.NextSecretHash
		next.StepExpiresAt = time.Time{}
		if from.NextStepTTL > 0 {
			next.StepExpiresAt = minTime(now.Add(from.NextStepTTL), next.ExpiresAt)
		}
	}
	return nil
}

// save writes the steps taken on next since it was read (Store.Replace).
func (e *Engine) save(ctx context.Context, next *Journey) (*Journey, error) {
	if err := e.d.Store.Replace(ctx, next); errors.Is(err, ErrConflict) {
		if _, gerr := e.d.Store.Get(ctx, next.ID); errors.Is(gerr, ErrNotFound) {
			return nil, fail(CodeInvalid, ErrNotFound)
		}
		return nil, errChanged
	} else if err != nil {
		return nil, err
	}
	return next, nil
}

// end shortens a failed journey's life to FinishGrace: it stays only to
// say how it ended to a reload, then goes with the next clean-up.
func (e *Engine) end(j *Journey) {
	j.ExpiresAt, j.StepExpiresAt = minTime(e.d.Now().Add(FinishGrace), j.ExpiresAt), time.Time{}
}

// identity is the journey's WeChat person, holding the codes it asks for.
func identity(j *Journey) login.Identity {
	return login.Identity{Account: j.Account(), Holder: j.holder()}
}

func (e *Engine) wechatCode(ctx context.Context, j *Journey, ev WeChatCode, from From) (a Answer, err error) {
	var loaded *Journey
	if ev.StateHash == "" && j.WeChatStateHash != "" {
		// A journey that issued a WeChat state (the browser's guard against
		// login CSRF) takes only callbacks bearing it; without this a
		// callback stripped of its state would skip the check below.
		return Answer{}, fail(CodeStateInvalid, errors.New("callback without the state issued"))
	}
	if ev.StateHash == "" && j.State != WeChatPending {
		// Past WeChatPending the table lets only a finished journey take a
		// code (an app sending it again): finish again. Asking WeChat would
		// burn the code, and moving to Identified is not allowed from
		// Finished (it was an internal error, found by the table walk).
		return e.finish(ctx, j, Finish{}, from)
	}
	if ev.StateHash != "" {
		if j.WeChatStateHash == "" || !hmac.Equal([]byte(j.WeChatStateHash), []byte(ev.StateHash)) {
			return Answer{}, fail(CodeStateInvalid, errors.New("state not issued for this journey"))
		}
		if j.WeChatStateUsed {
			return e.afterDuplicateCallback(ctx, j, ev, from)
		}
		// The state is used up by the write that ends this callback (a
		// compare-and-swap on the version read): of two callbacks with it,
		// the first to write goes on and the other answers as a repeat.
		// Nothing is written before asking WeChat: a second exchange of
		// the same code is refused by WeChat (40163), and that answer
		// waits for the first callback's result.
		claimed := *j
		claimed.WeChatStateUsed = true
		loaded, j = j, &claimed
		defer func() {
			if errors.Is(err, errChanged) {
				a, err = e.afterLostRace(ctx, loaded.ID, ev, from)
			}
		}()
	}
	e.count(metrics.StepWeChatCallback, j)
	if ev.Code == "" {
		return e.ledNowhere(ctx, j, ev, from, fail(CodeWeChatRefused, nil))
	}
	appID := ev.AppID
	if j.WeChatAppID != "" {
		// The state was issued for this app: its code is exchanged with it.
		appID = j.WeChatAppID
	}
	acct, err := e.d.WeChat.Identify(ctx, appID, ev.Code)
	if errors.Is(err, wechat.ErrCodeUsed) && loaded != nil {
		// Exchanged by another callback with this state (WeChat or the
		// person sent it twice): its result is this one's too.
		return e.afterDuplicateCallback(ctx, loaded, ev, from)
	}
	if err != nil {
		return e.ledNowhere(ctx, j, ev, from, outcomeOf(err))
	}
	id := login.Identity{Account: acct, Holder: j.holder()}
	user, err := e.d.Login.Identify(ctx, id)
	switch {
	case err == nil:
		if acct.Nickname == "" {
			// snsapi_base names nobody: keep the name the person had, for
			// the sites' nickname attribute. Not worth failing a login.
			if n, err := e.d.Login.LastNickname(ctx, acct); err == nil {
				acct.Nickname = n
			} else {
				e.d.Log.WarnContext(ctx, "journey: last nickname not read", "err", err)
			}
		}
		next := *j
		if err := e.step(&next, from, EvWeChatCode, func(j *Journey) { j.setAccount(acct); j.UserID = user.ID }, Identified); err != nil {
			return Answer{}, err
		}
		if ev.Finish {
			// Identified and finished in one write.
			a, err := e.finished(ctx, &next, from, e.person(&next, user, false))
			if err == nil && !a.Replay {
				e.count(metrics.StepIdentifiedReturning, &next)
			}
			return a, err
		}
		j, err := e.save(ctx, &next)
		if err != nil {
			return Answer{}, err
		}
		e.count(metrics.StepIdentifiedReturning, j)
		return Answer{Journey: j, Person: e.person(j, user, false)}, nil
	case errors.Is(err, login.ErrUnbound) && j.Channel == ChannelOABase && e.cfg.UnionIDApp != "" && acct.UnionID == "":
		// The unionid chain: the entry account does not know the person;
		// the unionid account may. Its openid is kept for the step-up's
		// answer (linkEntry).
		j, err := e.update(ctx, j, from, EvWeChatCode, func(j *Journey) {
			j.EntryOpenID = ""
			if acct.AppID != e.cfg.UnionIDApp {
				j.EntryAppID, j.EntryOpenID = acct.AppID, acct.OpenID
			}
		}, WeChatPending)
		if err != nil {
			return Answer{}, err
		}
		return Answer{Journey: j, StepUpAppID: e.cfg.UnionIDApp}, nil
	case errors.Is(err, login.ErrUnbound):
		j, err := e.update(ctx, j, from, EvWeChatCode, func(j *Journey) { j.setAccount(acct) }, PhoneRequested)
		if err == nil {
			e.count(metrics.StepIdentifiedNew, j)
			e.count(metrics.StepPhoneRequested, j)
		}
		return Answer{Journey: j}, err
	}
	return Answer{}, err
}

// linkEntry records, when a journey of the unionid chain binds the person
// by phone, the entry account's openid under the unionid the step-up
// revealed, so that the next login from the entry account is recognised at
// once (silently). Only then: WeChat offers no proof that the entry
// account's answer and the step-up's came from one person, and a code can
// be passed from one person's WeChat into another's journey (a link sent to
// someone and the resulting URL sent back). A link recorded on that alone
// would let one person's entry account log in to another's account for
// good; tied to this journey's phone proof it gives nothing the binding
// did not. A person already bound is recognised through the step-up each
// time instead (silent once they consented).
func (e *Engine) linkEntry(ctx context.Context, j *Journey, from From) error {
	if j.EntryOpenID == "" || j.Channel != ChannelOAUserinfo {
		return nil
	}
	if j.UnionID == "" {
		e.d.Log.WarnContext(ctx, "the unionid Official Account revealed no unionid; is it bound to the open-platform account?", "appid", j.AppID)
		return nil
	}
	entry := binding.Account{AppID: j.EntryAppID, OpenID: j.EntryOpenID, UnionID: j.UnionID}
	if _, err := e.d.Login.Identify(ctx, login.Identity{Account: entry, Holder: j.holder()}); err != nil && !errors.Is(err, login.ErrUnbound) {
		return err
	}
	// Audited: it decides who the entry account logs in from now on.
	e.record(ctx, &Journey{UserID: j.UserID, AppID: entry.AppID, OpenID: entry.OpenID, UnionID: entry.UnionID,
		Channel: j.Channel, Service: j.Service}, from, audit.KindLink, audit.OK)
	return nil
}

// ledNowhere records a WeChat answer that named nobody (declined, refused,
// unreachable) and returns err. A snapshot-page user is virtual: nothing in
// this journey can make them a person, so it fails. Otherwise a spent state
// is forgotten, so that a repeat of the callback is refused at once instead
// of waiting for a first callback that is no longer running; the journey's
// page issues a new one.
func (e *Engine) ledNowhere(ctx context.Context, j *Journey, ev WeChatCode, from From, err error) (Answer, error) {
	var uerr error
	switch oe := AsError(err); {
	case oe != nil && oe.Code == CodeSnapshotUser:
		_, uerr = e.update(ctx, j, from, EvWeChatCode, e.end, Failed)
	case ev.StateHash != "":
		_, uerr = e.update(ctx, j, from, EvWeChatCode, func(j *Journey) { j.WeChatStateHash = "" }, WeChatPending)
	}
	if uerr != nil && AsError(uerr) == nil && !errors.Is(uerr, errChanged) {
		return Answer{}, uerr
	}
	// Another callback with the state moved the journey first: this one
	// asked WeChat beyond what the state paid for (Answer.Repeat).
	return Answer{Repeat: errors.Is(uerr, errChanged)}, err
}

// afterLostRace answers a callback whose write found the journey changed
// since it was read: another callback with the state wrote first.
func (e *Engine) afterLostRace(ctx context.Context, id string, ev WeChatCode, from From) (Answer, error) {
	cur, err := e.load(ctx, id, from)
	if err != nil {
		return Answer{Journey: cur}, err
	}
	return e.afterDuplicateCallback(ctx, cur, ev, from)
}

// afterDuplicateCallback answers a WeChat callback whose state was already
// used: it waits (up to ~3 s) for the first callback to move the journey on,
// then shows where it stands; a journey the first one finished finishes
// again (within FinishGrace), so the person lands on the service.
func (e *Engine) afterDuplicateCallback(ctx context.Context, j *Journey, ev WeChatCode, from From) (Answer, error) {
	a, err := e.awaitFirstCallback(ctx, j, ev, from)
	a.Repeat = true
	return a, err
}

// awaitFirstCallback is afterDuplicateCallback's wait for the first.
func (e *Engine) awaitFirstCallback(ctx context.Context, j *Journey, ev WeChatCode, from From) (Answer, error) {
	if ev.StateHash == "" || !hmac.Equal([]byte(j.WeChatStateHash), []byte(ev.StateHash)) {
		return Answer{}, fail(CodeStateInvalid, errors.New("state not issued for this journey"))
	}
	for range 30 {
		switch j.State {
		case Finished:
			return e.finish(ctx, j, Finish{}, from)
		case PhoneRequested, CodeSent, Bound:
			return Answer{Journey: j}, nil
		case Failed:
			return Answer{}, fail(CodeEnded, nil)
		}
		select {
		case <-ctx.Done():
			return Answer{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		cur, err := e.load(ctx, j.ID, from)
		if err != nil {
			return Answer{}, err
		}
		if cur.State == WeChatPending && !hmac.Equal([]byte(cur.WeChatStateHash), []byte(ev.StateHash)) {
			// The first callback failed (its state is forgotten) or a
			// new state was issued: nothing to wait for.
			return Answer{}, fail(CodeStateInvalid, errors.New("state used by a callback that failed"))
		}
		j = cur
	}
	return Answer{}, fail(CodeStateInvalid, errors.New("state replayed"))
}

// SendState reads, without counting anything, how long until j can get a
// code and whether its next send needs a challenge. Only a journey at the
// phone or code step has an answer; any other gets the zero SendState.
func (e *Engine) SendState(ctx context.Context, j *Journey, from From) (SendState, error) {
	if j.State != PhoneRequested && j.State != CodeSent {
		return SendState{}, nil
	}
	w, c, err := e.d.Login.SendState(ctx, identity(j), otp.Phone(j.Phone), from.ClientIP)
	return SendState{Waits: w, Challenge: c}, err
}

func (e *Engine) send(ctx context.Context, j *Journey, phone otp.Phone, solution string, from From) (Answer, error) {
	res, err := e.d.Login.SendCode(ctx, identity(j), phone, from.ClientIP, solution)
	if err != nil {
		out := outcomeOf(err)
		if le := (*otp.LimitError)(nil); errors.As(err, &le) && le.Gap > 0 {
			// Another send of this login began a moment ago (a double
			// click) and may still be with the SMS provider.
			AsError(out).SentMeanwhile = e.sentMeanwhile(ctx, j, phone, from, le.Gap)
		}
		return Answer{}, out
	}
	e.count(metrics.StepCodeSent, j)
	id := j.ID // update returns no journey on errChanged (j.ID after it was a nil dereference)
	j, err = e.update(ctx, j, from, EvPhone, func(j *Journey) { j.Phone = string(phone) }, CodeSent)
	if errors.Is(err, errChanged) {
		// Changed meanwhile (another tab): the code went out; show the
		// journey as it is now.
		j, err = e.load(ctx, id, from)
	}
	if err != nil {
		return Answer{}, err
	}
	return Answer{Journey: j, Sent: &res}, nil
}

// sentMeanwhile reports whether the code this request asked for is on its
// way, sent by another request of the login: the journey is, or within
// wait becomes, CodeSent for phone. It stops looking once the journey moves
// elsewhere.
func (e *Engine) sentMeanwhile(ctx context.Context, j *Journey, phone otp.Phone, from From, wait time.Duration) bool {
	deadline := time.Now().Add(wait) // real time: the other request's SMS call
	for now := j; ; {
		if now.State == CodeSent && now.Phone == string(phone) {
			return true
		}
		if now.Version != j.Version || !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
		var err error
		if now, err = e.load(ctx, j.ID, from); err != nil {
			return false
		}
	}
}

func (e *Engine) code(ctx context.Context, j *Journey, ev CodeEntered, from From) (Answer, error) {
	if j.State == Bound || j.State == Finished {
		return e.replay(ctx, j, from)
	}
	phone := otp.Phone(j.Phone)
	return e.bind(ctx, j, from, EvCode, phone, func(then thenFunc) (binding.User, error) {
		u, err := e.d.Login.BindThen(ctx, identity(j), phone, ev.Code, then)
		if codeAccepted(err) {
			e.count(metrics.StepCodeVerified, j)
		}
		return u, err
	})
}

func (e *Engine) wechatPhone(ctx context.Context, j *Journey, ev WeChatPhone, from From) (Answer, error) {
	phone, err := e.d.WeChat.PhoneNumber(ctx, j.AppID, ev.PhoneCode)
	if err != nil {
		return Answer{}, outcomeOf(err)
	}
	return e.bind(ctx, j, from, EvWeChatPhone, phone, func(then thenFunc) (binding.User, error) {
		return e.d.Login.BindVerifiedPhoneThen(ctx, identity(j), phone, then)
	})
}

// thenFunc runs inside a binding's transaction (login.Service.BindThen).
type thenFunc = func(ctx context.Context, u binding.User) error

// bind runs a binding (an SMS code or a phone WeChat vouches for) whose
// transaction also moves the journey to Bound: both commit or neither.
func (e *Engine) bind(ctx context.Context, j *Journey, from From, ev EventKind, phone otp.Phone, run func(then thenFunc) (binding.User, error)) (Answer, error) {
	var bound *Journey
	user, err := run(func(ctx context.Context, u binding.User) error {
		var err error
		bound, err = e.update(ctx, j, from, ev, func(j *Journey) { j.Phone, j.UserID = string(phone), u.ID }, Bound)
		return err
	})
	if err != nil {
		return e.unlessDone(ctx, j, from, err)
	}
	e.record(ctx, bound, from, audit.KindBind, audit.OK)
	e.count(metrics.StepBound, bound)
	if err := e.linkEntry(ctx, bound, from); err != nil {
		// The person is bound; the entry account finds them through the
		// (silent) step-up until a later binding links it.
		e.d.Log.WarnContext(ctx, "entry account not linked to the unionid", "journey", j.ID, "err", err)
	}
	return Answer{Journey: bound, Person: e.person(bound, user, true)}, nil
}

// unlessDone turns a failed binding into a replay when a concurrent request
// of the same holder bound the journey meanwhile (a double submission):
// its code was used up by the winner, or the journey changed under it.
func (e *Engine) unlessDone(ctx context.Context, j *Journey, from From, err error) (Answer, error) {
	err = outcomeOf(err)
	if oe := AsError(err); errors.Is(err, errChanged) || (oe != nil && oe.Code == CodeNoCode) {
		if cur, lerr := e.load(ctx, j.ID, from); lerr == nil && (cur.State == Bound || cur.State == Finished) {
			return e.replay(ctx, cur, from)
		}
	}
	if errors.Is(err, errChanged) {
		return Answer{}, fail(CodeWrongStep, err)
	}
	return Answer{}, err
}

// replay answers a repeat of a step that succeeded: the journey's person,
// to be finished again.
//
// The holder proved the person moments ago in this very journey (the
// replay window is FinishGrace, and logging out drops the browser's
// journeys), so no code is asked again; but the person must still be bound
// to the same user — a binding removed meanwhile ends the journey — and
// the repeat is audited as the login it is. The person keeps the time they
// were authenticated at, not now: a renew login must not look fresher.
func (e *Engine) replay(ctx context.Context, j *Journey, from From) (Answer, error) {
	user, err := e.d.Login.Identify(ctx, identity(j))
	if errors.Is(err, login.ErrUnbound) || (err == nil && user.ID != j.UserID) {
		return Answer{}, fail(CodeExpired, fmt.Errorf("journey %s: the binding changed since it was made", j.ID))
	}
	if err != nil {
		return Answer{}, err
	}
	p := e.person(j, user, false)
	if j.State == Finished {
		// Finished journeys expire FinishGrace after they finished.
		if at := j.ExpiresAt.Add(-FinishGrace); !at.Before(j.CreatedAt) && at.Before(p.AuthenticatedAt) {
			p.AuthenticatedAt = at
		}
	}
	e.record(ctx, j, from, audit.KindLogin, audit.OK)
	return Answer{Journey: j, Person: p, Replay: true}, nil
}

func (e *Engine) finish(ctx context.Context, j *Journey, ev Finish, from From) (Answer, error) {
	if j.State == Finished {
		return e.replay(ctx, j, from)
	}
	p := ev.Person
	if p == nil || p.User.ID != j.UserID {
		user, err := e.d.Login.User(ctx, j.UserID)
		if err != nil {
			return Answer{}, err
		}
		p = e.person(j, user, j.State == Bound)
	}
	next := *j
	return e.finished(ctx, &next, from, p)
}

// finished takes the Finish step on next (read, perhaps stepped, in this
// request), saves it and records the login.
func (e *Engine) finished(ctx context.Context, next *Journey, from From, p *Person) (Answer, error) {
	if from.NextSecretHash != "" && next.SecretHash == from.NextSecretHash {
		// A step before this one in the same write handed the journey to
		// the sender's next secret.
		from.SecretHash = from.NextSecretHash
	}
	now := e.d.Now()
	err := e.step(next, from, EvFinish, func(j *Journey) {
		// Kept only to absorb repeats; the login is over.
		j.ExpiresAt, j.StepExpiresAt = minTime(now.Add(FinishGrace), j.ExpiresAt.Add(FinishGrace)), time.Time{}
	}, Finished)
	if err != nil {
		return Answer{}, err
	}
	done, err := e.save(ctx, next)
	if errors.Is(err, errChanged) {
		// Finished by a concurrent repeat: finish again.
		cur, lerr := e.load(ctx, next.ID, from)
		if lerr == nil && cur.State == Finished {
			return e.replay(ctx, cur, from)
		}
		return Answer{}, fail(CodeWrongStep, err)
	}
	if err != nil {
		return Answer{}, err
	}
	e.record(ctx, done, from, audit.KindLogin, audit.OK)
	return Answer{Journey: done, Person: p}, nil
}

func (e *Engine) person(j *Journey, u binding.User, newlyBound bool) *Person {
	return &Person{User: u, Account: j.Account(), Channel: j.Channel, NewlyBound: newlyBound, AuthenticatedAt: e.d.Now()}
}

// auditChannel is the audit log's name for a journey channel.
func auditChannel(channel string) string {
	switch channel {
	case ChannelOABase, ChannelOAUserinfo:
		return audit.ChannelOA
	case "":
		return audit.ChannelAPI
	}
	return channel
}

func (e *Engine) record(ctx context.Context, j *Journey, from From, kind, outcome string) {
	_ = e.d.Audit.Record(ctx, audit.Event{
		At: e.d.Now(), Kind: kind, Outcome: outcome, UserID: j.UserID, AppID: j.AppID, OpenID: j.OpenID,
		UnionID: j.UnionID, Channel: auditChannel(j.Channel), ClientIP: from.ClientIP, Service: j.Service, Phone: j.Phone,
	})
}

// auditRefusal records a refusal worth recording (see Code.Audit).
func (e *Engine) auditRefusal(ctx context.Context, j *Journey, from From, err error) {
	oe := AsError(err)
	if oe == nil || oe.Code.Audit() == "" || j == nil {
		return
	}
	e.record(ctx, &Journey{
		AppID: j.AppID, OpenID: j.OpenID, UnionID: j.UnionID, Channel: j.Channel, Service: j.Service, Phone: j.Phone,
	}, from, audit.KindRefusal, oe.Code.Audit())
}
