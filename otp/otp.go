// Package otp sends one-time codes by SMS and verifies them, for binding a
// phone number to a WeChat identity.
//
// Codes are N random digits (crypto/rand, no modulo bias), stored only as
// HMAC-SHA256(key, purpose|holder|phone|code), valid for a TTL, and burned
// after MaxAttempts verification attempts. An attempt is counted atomically
// before the comparison, the comparison is constant-time, and consuming a
// code is a conditional update only one caller can win. A submission that
// cannot be a code (empty, not digits, wrong length) is refused before any of
// that and uses no attempt.
//
// A code belongs to the login that asked for it (its holder: a browser login
// flow, an API bind-token chain), not just to the phone: it verifies only
// for that holder, and wrong guesses count against that holder's code alone.
// Otherwise anyone starting a login aimed at the same phone could use a code
// sent for someone else's login, or burn it with wrong guesses.
//
// Sending is limited per phone (cooldown, per hour, per day), per client IP,
// per WeChat identity and by a global daily budget. All counters live in the
// database (see Store.Reserve), so every instance sees the same limits. The
// counters are reserved before the provider is called; if the provider fails,
// the per-user counters are given back and no code is stored, while the
// global budget keeps the attempt: it caps what is asked of the provider.
// A send the caller's Eligible check refuses (e.g. a number the directory
// does not know) is the opposite: nothing was asked of the provider, so the
// budget is given back, but the per-user counters keep it. The refusal
// itself answers a question, whether the number is known, and must cost as
// much as a send, or anyone could ask it without limit.
package otp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"wxcas/ratelimit"
	"wxcas/store"
)

// SendFunc delivers code to phone by SMS; ttl is the code's validity, for
// the message text. A nil error means the provider accepted the message.
type SendFunc func(ctx context.Context, phone Phone, code string, ttl time.Duration) error

// SendRequest asks for a code.
type SendRequest struct {
	Phone    Phone  // from ParsePhone
	IP       string // client IP as seen by the HTTP layer (trusted-proxy aware); required
	Identity string // WeChat identity key; empty skips the per-identity limit
	Purpose  string // what the code is for, e.g. "bind"; a code only verifies for its purpose
	// Holder is an opaque id of the login asking for the code (e.g. a login
	// flow's id); required. The code verifies only for the same Holder. It
	// is stored only as a keyed hash (HolderKey), so it may be a secret.
	Holder string
	// Eligible, when set, decides whether the phone may get a code at all.
	// It runs once the send is counted against every limit and before a
	// code is made, so that asking costs a send: a refusal keeps the
	// per-phone, per-IP and per-identity counts and gives the global budget
	// back (no SMS went out). Its error is returned as it is.
	Eligible func(ctx context.Context) error
	// Solution is the person's answer to a challenge (the ALTCHA payload),
	// when a send asked for one (see ChallengeError); empty otherwise.
	Solution string
	// SignedIn: the asker is a person signed in to wxcas (the account
	// page): no challenge is asked. Every hard limit still counts the send.
	SignedIn bool
}

// SendResult describes a sent code.
type SendResult struct {
	ExpiresAt time.Time
	// ResendAfter is how long until this phone can get another code: the
	// cooldown, or longer if this send used up another limit's window.
	ResendAfter time.Duration
}

// VerifyRequest checks a code.
type VerifyRequest struct {
	Phone   Phone
	Purpose string
	Holder  string // as in the SendRequest of the code
	Code    string // as typed; surrounding spaces are ignored
}

// Service issues and verifies codes. It is safe for concurrent use, and
// several instances may share one Store.
type Service struct {
	cfg   Config
	store Store
	send  SendFunc
	now   func() time.Time
	log   *slog.Logger

	chal    Challenger
	chalCfg ChallengeConfig

	mu sync.Mutex
	// budgetLoggedUntil is the end of the budget window this instance last
	// reported as exhausted, so the alarm is logged once per window, not
	// once per refused request.
	budgetLoggedUntil time.Time
}

// cleanupTimeout bounds the database work done after the caller's context
// may have ended (storing a code that was sent, giving back counters).
const cleanupTimeout = 5 * time.Second

// New returns a Service. now defaults to time.Now and log to slog.Default().
func New(cfg Config, st Store, send SendFunc, now func() time.Time, log *slog.Logger) (*Service, error) {
	if problems := cfg.Validate(); len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	if st == nil || send == nil {
		return nil, errors.New("otp: store and send function are required")
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	cfg.Key = append([]byte(nil), cfg.Key...)
	return &Service{cfg: cfg, store: st, send: send, now: now, log: log}, nil
}

// Send reserves the send against every limit, generates a code, has the
// provider deliver it and then stores its HMAC, replacing any earlier code
// of the same holder for the phone and purpose (other holders' codes stay).
// The limits are per phone, IP, identity and global, never per holder: a
// new login must not mean a fresh allowance. A refused send returns a *LimitError
// (ErrRateLimited or ErrBudgetExhausted) saying when to retry. A provider
// failure returns ErrSendFailed; the previous code, if any, stays as it was.
// An error of req.Eligible is returned unchanged, nothing sent or stored.
func (s *Service) Send(ctx context.Context, req SendRequest) (SendResult, error) {
	if err := checkRequest(req.Phone, req.Purpose, req.Holder); err != nil {
		return SendResult{}, err
	}
	ip, err := ratelimit.IPSubject(req.IP)
	if err != nil {
		return SendResult{}, err
	}
	log := s.log.With("phone", req.Phone.Masked(), "purpose", req.Purpose, "ip", req.IP)
	if !s.regionAllowed(req.Phone) {
		log.Info("otp: send refused: the number's region is not served")
		return SendResult{}, ErrRegionNotAllowed
	}
	solved, err := s.gate(ctx, req)
	if err != nil {
		logChallenge(log, err)
		return SendResult{}, err
	}
	now := s.now()

	holds, err := s.store.Reserve(ctx, now, append(s.loginGap(req.Holder), s.limits(req.Phone, ip, req.Identity)...))
	if le := (*LimitError)(nil); errors.As(err, &le) {
		s.logRefusal(log, le, now)
		return SendResult{}, err
	}
	if err != nil {
		return SendResult{}, err
	}
	if !solved {
		if err := s.raced(ctx, req, holds); err != nil {
			s.release(ctx, log, holds) // nothing is sent: every count goes back
			logChallenge(log, err)
			return SendResult{}, err
		}
	}
	if req.Eligible != nil {
		if err := req.Eligible(ctx); err != nil {
			// No SMS is spent, so the budget gets its unit back; the user's
			// counters keep theirs (see package doc), except the login's
			// gap: the person may type another number at once.
			s.release(ctx, log, append(pick(holds, true), named(holds, LimitLoginGap)...))
			log.Info("otp: send refused: phone not eligible", "err", err)
			return SendResult{}, err
		}
	}
	// After the eligibility check: a unit given back did not reach the budget.
	s.noteBudgetReached(holds)

	code, err := s.newCode()
	if err != nil {
		s.release(ctx, log, holds)
		return SendResult{}, err
	}
	holder := s.HolderKey(req.Holder)
	c := Code{
		CodeRef:     CodeRef{Holder: holder, Phone: req.Phone, Purpose: req.Purpose, IssueID: randomID()},
		Hash:        s.hash(holder, req.Phone, req.Purpose, code),
		MaxAttempts: s.cfg.MaxAttempts,
		CreatedAt:   now,
		ExpiresAt:   store.Time(now.Add(s.cfg.TTL)),
	}
	for _, h := range holds {
		if h.Name == LimitIPUnconfirmed {
			// Entering a code of this login gives this send back (Check).
			c.ConfirmKey, c.ConfirmEnds, c.ConfirmSends = h.Key, h.WindowEndsAt, 1
			if old, err := s.store.GetCode(ctx, holder, req.Phone, req.Purpose); err == nil &&
				old.ConfirmKey == h.Key && old.ConfirmEnds.Equal(h.WindowEndsAt) {
				c.ConfirmSends += old.ConfirmSends // a resend replaces the code, not the count
			}
		}
	}

	if err := s.send(ctx, req.Phone, code, s.cfg.TTL); err != nil {
		// Nothing was stored, so no valid code is left behind. The user's
		// counters go back; the budget keeps the attempt (see package doc).
		s.release(ctx, log, pick(holds, false))
		log.Warn("otp: provider did not send the code", "err", err)
		return SendResult{}, fmt.Errorf("%w: %w", ErrSendFailed, err)
	}

	// The SMS is out: store it even if the client went away meanwhile.
	putCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.store.PutCode(putCtx, c); err != nil {
		log.Error("otp: code sent but not stored; it will not verify", "err", err)
		return SendResult{}, err
	}
	log.Info("otp: code sent", "expires_at", c.ExpiresAt)
	return SendResult{ExpiresAt: c.ExpiresAt, ResendAfter: resendAfter(holds, now)}, nil
}

// Verify checks req.Code against the code sent to req.Phone for req.Holder.
// nil means the code was right and is now used up; otherwise the error
// matches ErrMalformedCode (no attempt used), ErrNoCode, ErrExpired,
// ErrMismatch (a *MismatchError with the attempts left) or
// ErrTooManyAttempts.
func (s *Service) Verify(ctx context.Context, req VerifyRequest) error {
	proof, err := s.Check(ctx, req)
	if err != nil {
		return err
	}
	return s.Spend(ctx, proof)
}

// Proof is a code Check found right, not yet used up: Spend uses it up.
type Proof struct {
	ref  CodeRef
	code Code
}

// Check counts one attempt against the code sent to req.Phone for req.Holder
// and compares it, without using the code up: the caller spends it with
// Spend, in the same transaction as what the code authorises (a binding), so
// that a failure there leaves the code usable. The attempt is counted in its
// own statement before the comparison, whatever the caller's transaction
// does later: rolling back a binding must never give a guesser attempts
// back. Errors are Verify's.
func (s *Service) Check(ctx context.Context, req VerifyRequest) (Proof, error) {
	if err := checkRequest(req.Phone, req.Purpose, req.Holder); err != nil {
		return Proof{}, err
	}
	log := s.log.With("phone", req.Phone.Masked(), "purpose", req.Purpose)
	now := s.now()

	// A typo such as an empty field or a letter is not a guess: refusing it
	// before the attempt is counted keeps it from costing the person an
	// attempt, and it cannot help anyone guess since it can never match.
	code := strings.TrimSpace(req.Code)
	if !s.wellFormed(code) {
		log.Info("otp: malformed code refused; no attempt used", "length", len(code))
		return Proof{}, ErrMalformedCode
	}

	holder := s.HolderKey(req.Holder)
	c, err := s.store.GetCode(ctx, holder, req.Phone, req.Purpose)
	if errors.Is(err, store.ErrNotFound) {
		log.Info("otp: verification without a pending code")
		return Proof{}, ErrNoCode
	}
	if err != nil {
		return Proof{}, err
	}
	if err := deadReason(c, now); err != nil {
		log.Info("otp: verification refused", "reason", err)
		return Proof{}, err
	}

	// Count first: the attempt is spent whatever the comparison says, so
	// the right code cannot slip through once the attempts are used up.
	attempts, counted, err := s.store.CountAttempt(ctx, c.CodeRef, now)
	if err != nil {
		return Proof{}, err
	}
	if !counted {
		err := s.whyRefused(ctx, c.CodeRef, now)
		log.Info("otp: verification refused", "reason", err)
		return Proof{}, err
	}

	if !hmac.Equal([]byte(s.hash(holder, req.Phone, req.Purpose, code)), []byte(c.Hash)) {
		left := max(c.MaxAttempts-attempts, 0)
		if left == 0 {
			log.Warn("otp: wrong code, attempts used up; code burned", "attempts", attempts)
		} else {
			log.Info("otp: wrong code", "attempts", attempts, "left", left)
		}
		return Proof{}, &MismatchError{AttemptsLeft: left}
	}
	c.Attempts = attempts
	// The code reached its person: the sends to this number (resends
	// too) no longer count as codes nobody entered (LimitIPUnconfirmed).
	// Only this number's: its codes went to whoever typed this one in, so
	// giving them back frees nothing for strangers' numbers. The login's
	// other numbers wait for ConfirmLogin. Failing only over-counts.
	if _, err := s.store.Confirm(context.WithoutCancel(ctx), holder, req.Purpose, req.Phone, confirmPerLogin); err != nil {
		log.Error("otp: entered code not confirmed; its address may be limited early", "err", err)
	}
	return Proof{ref: c.CodeRef, code: c}, nil
}

// PendingTo is the number holder's newest code for purpose went to, while
// that code can still verify (store.ErrNotFound when none): a page shown
// again (its language link, a reload) finds its code step without the
// number in its URL.
func (s *Service) PendingTo(ctx context.Context, holder, purpose string) (Phone, error) {
	return s.store.PendingTo(ctx, s.HolderKey(holder), purpose, s.now())
}

// ConfirmLogin gives back the sends of holder's codes for purpose to its
// other numbers (a mistyped one, then "change number"), at most
// typosPerLogin, once the code it checked has done its work — the login
// bound a phone, committed.
//
// Not at Check: a login that only enters its own phone's code and is then
// refused (the number belongs to someone else's binding) would free sends
// to strangers' numbers each time, and an SMS pump with one phone of its
// own would pass the unconfirmed-codes limit (outside probe: 26 codes to
// strangers against a limit of 20). And one send: a person notices a wrong
// number on the code page and changes it, while a pump that binds its own
// phone, unbinds it and binds it again frees one stranger's send a binding,
// within the phone's own hourly limit (a second probe freed three a
// binding). Failing only over-counts.
func (s *Service) ConfirmLogin(ctx context.Context, holder, purpose string) {
	if _, err := s.store.Confirm(context.WithoutCancel(ctx), s.HolderKey(holder), purpose, "", typosPerLogin); err != nil {
		s.log.ErrorContext(ctx, "otp: a login's other sends not confirmed; its address may be limited early", "err", err)
	}
}

// Spend uses up a code Check found right. Of concurrent spenders of one code
// exactly one succeeds; the others get why it no longer verifies (ErrNoCode
// once used, ErrExpired, ...). Inside store.Atomic it is part of the
// caller's transaction.
func (s *Service) Spend(ctx context.Context, p Proof) error {
	if p.ref.Holder == "" {
		return ErrNoCode
	}
	now := s.now()
	won, err := s.store.MarkVerified(ctx, p.ref, now)
	if err != nil {
		return err
	}
	log := s.log.With("phone", p.ref.Phone.Masked(), "purpose", p.ref.Purpose)
	if !won {
		// A concurrent request verified the same code first, a newer code
		// replaced it, or it expired meanwhile.
		err := s.whyRefused(ctx, p.ref, now)
		log.Info("otp: right code, but not verified", "reason", err)
		return err
	}
	log.Info("otp: code verified", "attempts", p.code.Attempts)
	return nil
}

// regionAllowed says whether phone's region may get codes (Config.Regions).
func (s *Service) regionAllowed(phone Phone) bool {
	if len(s.cfg.Regions) == 0 {
		return true
	}
	region := phone.Region()
	for _, r := range s.cfg.Regions {
		if strings.EqualFold(r, region) {
			return true
		}
	}
	return false
}

// confirmPerLogin caps the sends Check gives back to the number whose code
// was entered (its resends); typosPerLogin those ConfirmLogin gives back to
// a login's other numbers.
const (
	confirmPerLogin = 3
	typosPerLogin   = 1
)

// cleanupGrace keeps expired codes a while, so a user who comes back late is
// told "expired" rather than "no code".
const cleanupGrace = time.Hour

// Cleanup deletes codes that expired over an hour ago and counter windows
// that ended as long ago; run it now and then (e.g. hourly). It uses the
// Service's clock.
func (s *Service) Cleanup(ctx context.Context) (int64, error) {
	return s.store.Cleanup(ctx, s.now().Add(-cleanupGrace))
}

// loginGap is the send's LimitLoginGap, first in every reservation: its
// row is the login's own, so the shared rows after it are locked no longer
// than before. No longer than the cooldown: with none (Cooldown 0), no gap.
// Shorter than anyone takes to type another number after a send, longer
// than a double submission.
func (s *Service) loginGap(holder string) []Limit {
	window := min(s.cfg.LoginGap, s.cfg.Cooldown)
	if window <= 0 {
		return nil
	}
	return []Limit{{Name: LimitLoginGap, Key: ratelimit.Key(LimitLoginGap, s.HolderKey(holder)), Max: 1, Window: window}}
}

// limits lists the limits for a send, in the one fixed order every
// reservation locks counters in (the global budget last: it is the hottest
// row and should be held the shortest).
func (s *Service) limits(phone Phone, ip, identity string) []Limit {
	const day = 24 * time.Hour
	var ls []Limit
	add := func(name, subject string, max int, window time.Duration, budget bool) {
		if max <= 0 || window <= 0 {
			return
		}
		ls = append(ls, Limit{Name: name, Key: ratelimit.Key(name, subject), Max: max, Window: window, Budget: budget})
	}
	// The cooldown is a limit of one send per window: since every send opens
	// a new window, it means "Cooldown since the last send".
	add(LimitCooldown, string(phone), 1, s.cfg.Cooldown, false)
	add(LimitPhoneHour, string(phone), s.cfg.PerPhoneHour, time.Hour, false)
	add(LimitPhoneDay, string(phone), s.cfg.PerPhoneDay, day, false)
	if identity != "" {
		add(LimitIdentityDay, identity, s.cfg.PerIdentityDay, day, false)
	}
	add(LimitIPHour, ip, s.cfg.PerIPHour, time.Hour, false)
	add(LimitIPUnconfirmed, ip, s.cfg.PerIPUnconfirmedHour, time.Hour, false)
	if s.chal != nil && s.chalCfg.GlobalHour > 0 {
		add(LimitGlobalHour, "", unlimited, time.Hour, true)
	}
	add(LimitGlobalDay, "", s.cfg.GlobalDay, day, true)
	return ls
}

func (s *Service) logRefusal(log *slog.Logger, le *LimitError, now time.Time) {
	if le.Limit != LimitGlobalDay {
		log.Info("otp: send refused by rate limit", "limit", le.Limit, "retry_after", le.RetryAfter)
		return
	}
	ends := now.Add(le.RetryAfter)
	s.mu.Lock()
	first := !s.budgetLoggedUntil.Equal(ends)
	s.budgetLoggedUntil = ends
	s.mu.Unlock()
	if first {
		s.log.Error("otp: GLOBAL SMS BUDGET EXHAUSTED — no codes are sent until the window ends; raise otp global_day if this is legitimate traffic",
			"limit", s.cfg.GlobalDay, "window_ends_at", ends, "retry_after", le.RetryAfter)
	}
}

// noteBudgetReached logs when this send took the last unit of the budget:
// exactly one send per window does, across all instances.
func (s *Service) noteBudgetReached(holds []Hold) {
	for _, h := range holds {
		if h.Budget && h.Used == h.Max {
			s.log.Error("otp: GLOBAL SMS BUDGET REACHED — this was the last code until the window ends",
				"limit", h.Max, "window_ends_at", h.WindowEndsAt)
		}
	}
}

// release gives counters back after a send that did not happen; failing to
// do so only over-counts, so it is logged rather than returned.
func (s *Service) release(ctx context.Context, log *slog.Logger, holds []Hold) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.store.Release(ctx, holds); err != nil {
		log.Error("otp: could not give back send counters; the user may be limited early", "err", err)
	}
}

// logChallenge logs a send refused for a challenge (other errors are
// logged where they are handled).
func logChallenge(log *slog.Logger, err error) {
	if ce := (*ChallengeError)(nil); errors.As(err, &ce) {
		log.Info("otp: send needs a challenge", "signals", ce.Signals, "solution_refused", ce.Failed)
	}
}

// pick returns the budget holds (budget true) or the user's holds: a failed
// provider call gives the user's back and keeps the budget's, a refused
// eligibility check the other way round.
func pick(holds []Hold, budget bool) []Hold {
	return holdsWhere(holds, func(h Hold) bool { return h.Budget == budget })
}

// named returns the holds of the named limit.
func named(holds []Hold, name string) []Hold {
	return holdsWhere(holds, func(h Hold) bool { return h.Name == name })
}

func holdsWhere(holds []Hold, keep func(Hold) bool) []Hold {
	var out []Hold
	for _, h := range holds {
		if keep(h) {
			out = append(out, h)
		}
	}
	return out
}

// resendAfter is the longest wait among the limits this send used up.
func resendAfter(holds []Hold, now time.Time) time.Duration {
	var wait time.Duration
	for _, h := range holds {
		if h.Used >= h.Max {
			wait = max(wait, h.WindowEndsAt.Sub(now))
		}
	}
	return wait
}

// deadReason says why c can no longer verify, or nil if it still can.
func deadReason(c Code, now time.Time) error {
	switch {
	case !c.VerifiedAt.IsZero():
		return ErrNoCode // already used
	case c.Attempts >= c.MaxAttempts:
		return ErrTooManyAttempts
	case !now.Before(c.ExpiresAt):
		return ErrExpired
	}
	return nil
}

// whyRefused re-reads a code the store declined to count or consume.
func (s *Service) whyRefused(ctx context.Context, ref CodeRef, now time.Time) error {
	c, err := s.store.GetCode(ctx, ref.Holder, ref.Phone, ref.Purpose)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.IssueID != ref.IssueID) {
		return ErrNoCode // replaced or cleaned up
	}
	if err != nil {
		return err
	}
	if err := deadReason(c, now); err != nil {
		return err
	}
	return ErrNoCode
}

// newCode returns Digits uniformly random decimal digits.
func (s *Service) newCode() (string, error) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s.cfg.Digits)), nil)
	n, err := rand.Int(rand.Reader, limit) // uniform in [0, limit): no modulo bias
	if err != nil {
		return "", fmt.Errorf("otp: generate code: %w", err)
	}
	return fmt.Sprintf("%0*d", s.cfg.Digits, n), nil
}

// wellFormed reports whether code could be an issued code: exactly Digits
// ASCII digits.
func (s *Service) wellFormed(code string) bool {
	if len(code) != s.cfg.Digits {
		return false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// HolderKey is the id under which the store keeps holder's codes (CodeRef.
// Holder): a keyed hash, so that the database never holds the raw holder
// (a login flow id may be as good as a bearer token) and nobody without the
// key can compute another login's key from a guessed id.
func (s *Service) HolderKey(holder string) string {
	m := hmac.New(sha256.New, s.cfg.Key)
	// The prefix separates this use of the key from the code hashes.
	m.Write([]byte("holder|" + holder))
	return hex.EncodeToString(m.Sum(nil))
}

// hash binds the code to its holder, phone and purpose, so a stored hash is
// useless for any other row and reveals nothing without the key. The parts
// cannot run into each other: holderKey is hex, purpose has no '|' and the
// phone is E.164.
func (s *Service) hash(holderKey string, phone Phone, purpose, code string) string {
	m := hmac.New(sha256.New, s.cfg.Key)
	m.Write([]byte(purpose + "|" + holderKey + "|" + string(phone) + "|" + code))
	return hex.EncodeToString(m.Sum(nil))
}

// randomID returns a positive random int64 telling one issuance from the next.
func randomID() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return int64(binary.BigEndian.Uint64(b[:]) >> 1)
}

// checkRequest rejects phones that did not come from ParsePhone (they would
// make separate counters), malformed purposes (they are part of the HMAC
// input and of the row key) and a missing holder (every code must belong to
// one login; an empty holder would be one shared by all such callers).
func checkRequest(phone Phone, purpose, holder string) error {
	if !phone.wellFormed() {
		return fmt.Errorf("%w: not in E.164 form (use ParsePhone)", ErrInvalidPhone)
	}
	if holder == "" {
		return errors.New("otp: holder is required")
	}
	if purpose == "" || len(purpose) > 32 {
		return fmt.Errorf("otp: purpose must be 1 to 32 characters")
	}
	for _, c := range purpose {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("otp: purpose %q may only use a-z, 0-9, '_', '-', '.'", purpose)
		}
	}
	return nil
}
