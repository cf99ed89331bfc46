package otp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"wxcas/challenge"
	"wxcas/ratelimit"
)

// The adaptive challenge. Below its thresholds a send is just a send. When
// the address, the phone or the WeChat person comes near one of its limits,
// or the whole service sends more than normal in the hour, a send first
// needs a solved proof-of-work challenge (ALTCHA, see package challenge):
// cheap for one person, costly for whoever sends hundreds. The hard limits
// stay behind it as a last resort, the per-address one set high enough for a
// campus behind one NAT; what stops an SMS pump from one address is the
// count of its codes nobody entered (LimitIPUnconfirmed), which people who
// receive their codes keep low.

// ChallengeConfig sets when a send needs a challenge; a threshold of 0 never
// asks. A count is the sends already made in the limit's current window.
type ChallengeConfig struct {
	IPHour        int // sends from the address this hour
	IPUnconfirmed int // codes from the address not entered yet
	PhoneHour     int // sends to the phone this hour
	IdentityDay   int // sends for the WeChat person today
	GlobalHour    int // sends by the whole service this hour ("normal" is below)
	// Difficulty is the ALTCHA maxnumber when one signal is up; it doubles
	// with each further signal, up to 8 times.
	Difficulty int64
	TTL        time.Duration // how long a challenge can be solved
}

// DefaultChallengeConfig: a challenge from the 11th code an hour from one
// address, the 3rd unconfirmed one, the 3rd to one phone in an hour, the 4th
// for one person in a day, or when the service sends over 200 an hour
// (5000 a day is about 200 an hour). 50,000 hashes is a fraction of a second
// on a phone's browser.
func DefaultChallengeConfig() ChallengeConfig {
	return ChallengeConfig{IPHour: 10, IPUnconfirmed: 2, PhoneHour: 2, IdentityDay: 3, GlobalHour: 200,
		Difficulty: 50_000, TTL: 10 * time.Minute}
}

// Challenger issues and redeems challenges (challenge.Service).
type Challenger interface {
	Issue(ctx context.Context, holder string, difficulty int64, ttl time.Duration) (challenge.Challenge, error)
	Redeem(ctx context.Context, holder, payload string, minDifficulty int64) error
}

// ErrChallengeRequired: this send needs a solved challenge first. The error
// is a *ChallengeError carrying a new one.
var ErrChallengeRequired = errors.New("challenge required")

// ChallengeError asks for the challenge to be solved and the send repeated
// with the solution. Failed says a solution was given and refused (wrong,
// expired or used); the challenge is a new one either way.
type ChallengeError struct {
	Challenge challenge.Challenge
	Failed    bool
	Signals   []string // the limits near their end, for the log
}

func (e *ChallengeError) Error() string {
	if e.Failed {
		return fmt.Sprintf("challenge solution refused; new challenge (signals %v)", e.Signals)
	}
	return fmt.Sprintf("challenge required (signals %v)", e.Signals)
}

func (e *ChallengeError) Unwrap() error { return ErrChallengeRequired }

// UseChallenges turns the adaptive challenge on (before the Service is
// used).
func (s *Service) UseChallenges(c Challenger, cfg ChallengeConfig) { s.chal, s.chalCfg = c, cfg }

// Waits says how long until a login can get a code: Phone for the number it
// has (cooldown and every other limit), NewNumber for any other number (the
// limits that do not depend on the number).
type Waits struct{ Phone, NewNumber time.Duration }

// WaitFor reads the counters a send would use, without counting anything.
// The code page shows it, so its countdown is the server's real answer.
func (s *Service) WaitFor(ctx context.Context, phone Phone, clientIP, identity string) (Waits, error) {
	r, err := s.read(ctx, phone, clientIP, identity, "")
	return r.waits(), err
}

// Outlook is what a page shows before a send, from one read of the
// counters: the waits (WaitFor) and, when the next send would need one, a
// challenge (ChallengeFor). An empty req.Phone leaves out the phone's
// counters (the number is not typed yet).
func (s *Service) Outlook(ctx context.Context, req SendRequest) (Waits, *challenge.Challenge, error) {
	r, err := s.read(ctx, req.Phone, req.IP, req.Identity, req.Holder)
	if err != nil {
		return Waits{}, nil, err
	}
	if s.chal == nil || req.SignedIn {
		return r.waits(), nil, nil
	}
	// The cooldown ends within the minute, before the page's challenge
	// does: the widget can solve while the resend button counts down.
	signals := r.signals(s.chalCfg, true)
	if len(signals) == 0 {
		return r.waits(), nil, nil
	}
	c, err := s.chal.Issue(ctx, s.HolderKey(req.Holder), s.difficulty(signals), s.chalCfg.TTL)
	if err != nil {
		return r.waits(), nil, err
	}
	return r.waits(), &c, nil
}

// reading is the counters a send would use, read without counting.
type reading struct {
	now    time.Time
	limits []Limit
	counts map[string]Count
}

// read reads the counters of a send for phone ("" leaves the phone's
// counters out), clientIP, identity and holder (the login's gap; "" leaves
// it out).
func (s *Service) read(ctx context.Context, phone Phone, clientIP, identity, holder string) (reading, error) {
	ip, err := ratelimit.IPSubject(clientIP)
	if err != nil {
		return reading{}, err
	}
	r := reading{now: s.now()}
	limits := s.limits(phone, ip, identity)
	if holder != "" {
		limits = append(s.loginGap(holder), limits...)
	}
	for _, l := range limits {
		if phone != "" || !phoneLimit(l.Name) {
			r.limits = append(r.limits, l)
		}
	}
	r.counts, err = s.store.Counts(ctx, r.now, keysOf(r.limits))
	return r, err
}

// waits: for each full counter, until its window ends.
func (r reading) waits() Waits {
	var w Waits
	for _, l := range r.limits {
		c, ok := r.counts[l.Key]
		if !ok || c.Used < l.Max || l.Name == LimitLoginGap {
			continue // the gap is a few seconds against a double submission: no wait to show
		}
		wait := c.WindowEndsAt.Sub(r.now)
		w.Phone = max(w.Phone, wait)
		if !phoneLimit(l.Name) {
			w.NewNumber = max(w.NewNumber, wait)
		}
	}
	return w
}

func phoneLimit(name string) bool {
	return name == LimitCooldown || name == LimitPhoneHour || name == LimitPhoneDay
}

// ChallengeFor returns a challenge when a send for req would need one now,
// so a page can offer it before the person presses "send"; nil when none is
// needed or challenges are off. An empty req.Phone leaves out the phone's
// counters (the number is not typed yet).
func (s *Service) ChallengeFor(ctx context.Context, req SendRequest) (*challenge.Challenge, error) {
	_, c, err := s.Outlook(ctx, req)
	return c, err
}

// gate is the challenge check of a send: nil when none is needed or the
// solution is good (and now used up), else a *ChallengeError. solved says
// a solution was redeemed; a send let through without one is checked again
// once counted (raced).
func (s *Service) gate(ctx context.Context, req SendRequest) (solved bool, err error) {
	if s.chal == nil || req.SignedIn {
		return false, nil
	}
	r, err := s.read(ctx, req.Phone, req.IP, req.Identity, req.Holder)
	if err != nil {
		return false, err
	}
	signals := r.signals(s.chalCfg, false)
	if len(signals) == 0 {
		return false, nil
	}
	failed := false
	if req.Solution != "" {
		// The work asked for now: a challenge solved while fewer signals
		// were on (a page's, the login's earlier one) asks for a new one,
		// which is not a wrong answer.
		err := s.chal.Redeem(ctx, s.HolderKey(req.Holder), req.Solution, s.difficulty(signals))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, challenge.ErrTooEasy):
		case errors.Is(err, challenge.ErrInvalid), errors.Is(err, challenge.ErrExpired), errors.Is(err, challenge.ErrUsed):
			failed = true
		default:
			return false, err
		}
	}
	return false, s.challengeError(ctx, req, signals, failed)
}

// raced checks a send that gate let through without a solution against the
// counters as this send left them: sends racing past the same reading
// (which counts nothing) are each counted atomically, so the ones counted
// at or beyond a threshold get a *ChallengeError here, as they would have
// one at a time. The caller gives their counts back.
func (s *Service) raced(ctx context.Context, req SendRequest, holds []Hold) error {
	if s.chal == nil || req.SignedIn {
		return nil
	}
	var signals []string
	for _, h := range holds {
		// Used includes this send: the count gate read was Used-1.
		if t := s.chalCfg.threshold(h.Name); t > 0 && h.Used-1 >= t {
			signals = append(signals, h.Name)
		}
	}
	if len(signals) == 0 {
		return nil
	}
	return s.challengeError(ctx, req, signals, false)
}

// challengeError hands out a challenge for the signals.
func (s *Service) challengeError(ctx context.Context, req SendRequest, signals []string, failed bool) error {
	c, err := s.chal.Issue(ctx, s.HolderKey(req.Holder), s.difficulty(signals), s.chalCfg.TTL)
	if err != nil {
		return err
	}
	return &ChallengeError{Challenge: c, Failed: failed, Signals: signals}
}

// threshold is the count of the named limit at which a send needs a
// challenge; 0 for a limit without one.
func (cfg ChallengeConfig) threshold(limit string) int {
	switch limit {
	case LimitIPHour:
		return cfg.IPHour
	case LimitIPUnconfirmed:
		return cfg.IPUnconfirmed
	case LimitPhoneHour:
		return cfg.PhoneHour
	case LimitIdentityDay:
		return cfg.IdentityDay
	case LimitGlobalHour:
		return cfg.GlobalHour
	}
	return 0
}

// signals names the thresholds a send would be at or over. None when a
// hard limit would refuse the send anyway: solving a challenge only to be
// told to wait would waste the person's time (and the refusal costs an
// abuser nothing to learn).
//
// pastCooldown reads the send as if the phone's cooldown were over: what a
// page shows during the cooldown is for the resend after it.
func (r reading) signals(cfg ChallengeConfig, pastCooldown bool) []string {
	var out []string
	for _, l := range r.limits {
		used := r.counts[l.Key].Used
		// The login's gap is never longer than the cooldown.
		if used >= l.Max && !(pastCooldown && (l.Name == LimitCooldown || l.Name == LimitLoginGap)) {
			return nil
		}
		if t := cfg.threshold(l.Name); t > 0 && used >= t {
			out = append(out, l.Name)
		}
	}
	return out
}

// difficulty doubles with each signal past the first, up to 8 times.
func (s *Service) difficulty(signals []string) int64 {
	d := max(s.chalCfg.Difficulty, 1)
	return d << min(len(signals)-1, 3)
}

func keysOf(limits []Limit) []string {
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = l.Key
	}
	return keys
}

// unlimited is the Max of a counter that only counts (LimitGlobalHour).
const unlimited = math.MaxInt32
