// Package otptest is the conformance suite for otp.Store: Run drives a fresh
// store through the store contract directly and through otp.Service (codes,
// attempts, every send limit, concurrency). Each backend's test only builds
// stores and calls Run.
package otptest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/otp"
	"wxcas/store"
	"wxcas/store/storetest"

	"wxcas/logx"
)

// Key is the HMAC key the suite's services use.
var Key = []byte("otptest-key-0123456789abcdef-0123456789")

// Purpose is the purpose the suite's codes are issued for.
const Purpose = "bind"

// Holder is the login the suite's codes are sent for unless a test says
// otherwise; Other is a second login aimed at the same phones.
const (
	Holder = "flow:login-a"
	Other  = "flow:login-b"
)

// Phone returns a distinct valid-looking mainland mobile number for i.
func Phone(i int) otp.Phone { return otp.Phone(fmt.Sprintf("+86138%08d", i)) }

// Outbox is a SendFunc that records the codes it was asked to send, and
// fails while Fail is set.
type Outbox struct {
	mu    sync.Mutex
	codes map[otp.Phone][]string
	fail  error
}

// NewOutbox returns an empty Outbox.
func NewOutbox() *Outbox { return &Outbox{codes: map[otp.Phone][]string{}} }

// Send is the otp.SendFunc.
func (o *Outbox) Send(_ context.Context, phone otp.Phone, code string, _ time.Duration) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	o.codes[phone] = append(o.codes[phone], code)
	return nil
}

// Fail makes later sends fail with err (nil: succeed again).
func (o *Outbox) Fail(err error) {
	o.mu.Lock()
	o.fail = err
	o.mu.Unlock()
}

// Last returns the last code sent to phone ("" if none).
func (o *Outbox) Last(phone otp.Phone) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.codes[phone]
	if len(c) == 0 {
		return ""
	}
	return c[len(c)-1]
}

// Count returns how many codes were sent to phone.
func (o *Outbox) Count(phone otp.Phone) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.codes[phone])
}

// Env is a Service over a store under test, with its clock, outbox and log.
type Env struct {
	Store  otp.Store
	Clock  *storetest.Clock
	Outbox *Outbox
	Log    *logx.Buffer
	Svc    *otp.Service
	Config otp.Config
}

// NewEnv builds a Service over st with DefaultConfig (changed by tune) and a
// fresh clock.
func NewEnv(t testing.TB, st otp.Store, tune func(*otp.Config)) *Env {
	t.Helper()
	return NewEnvWithClock(t, st, storetest.NewClock(), tune)
}

// NewEnvWithClock is NewEnv with a given clock, so that two services (two
// "instances") can share one.
func NewEnvWithClock(t testing.TB, st otp.Store, clock *storetest.Clock, tune func(*otp.Config)) *Env {
	t.Helper()
	cfg := otp.DefaultConfig()
	cfg.Key = Key
	// The suites send many codes for one login at one instant; the gap
	// between a login's sends has its own test (LoginGap set there).
	cfg.LoginGap = 0
	if tune != nil {
		tune(&cfg)
	}
	e := &Env{Store: st, Clock: clock, Outbox: NewOutbox(), Log: &logx.Buffer{}, Config: cfg}
	log := slog.New(slog.NewTextHandler(e.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := otp.New(cfg, st, e.Outbox.Send, clock.Now, log)
	require.NoError(t, err)
	e.Svc = svc
	return e
}

// SendReq is a send request for phone from a fixed IP without identity, for
// Holder.
func SendReq(phone otp.Phone) otp.SendRequest {
	return otp.SendRequest{Phone: phone, IP: "192.0.2.1", Purpose: Purpose, Holder: Holder}
}

// Send sends a code to phone and returns it.
func (e *Env) Send(t testing.TB, req otp.SendRequest) string {
	t.Helper()
	_, err := e.Svc.Send(context.Background(), req)
	require.NoError(t, err)
	code := e.Outbox.Last(req.Phone)
	require.NotEmpty(t, code)
	return code
}

// Verify checks code for phone in Holder's login.
func (e *Env) Verify(phone otp.Phone, code string) error {
	return e.VerifyAs(Holder, phone, code)
}

// VerifyAs checks code for phone in holder's login.
func (e *Env) VerifyAs(holder string, phone otp.Phone, code string) error {
	return e.Svc.Verify(context.Background(), otp.VerifyRequest{Phone: phone, Purpose: Purpose, Holder: holder, Code: code})
}

// StoredCode reads Holder's code for phone from the store.
func (e *Env) StoredCode(phone otp.Phone) (otp.Code, error) {
	return e.StoredCodeOf(Holder, phone)
}

// StoredCodeOf reads holder's code for phone from the store.
func (e *Env) StoredCodeOf(holder string, phone otp.Phone) (otp.Code, error) {
	return e.Store.GetCode(context.Background(), e.Svc.HolderKey(holder), phone, Purpose)
}

// Run runs the suite; newStore must return a fresh, empty store each call.
func Run(t *testing.T, newStore func(t *testing.T) otp.Store) {
	t.Run("store", func(t *testing.T) { runStore(t, newStore) })
	t.Run("codes", func(t *testing.T) { runCodes(t, newStore) })
	t.Run("holders", func(t *testing.T) { runHolders(t, newStore) })
	t.Run("limits", func(t *testing.T) { runLimits(t, newStore) })
	t.Run("concurrency", func(t *testing.T) { runConcurrency(t, newStore) })
	t.Run("unconfirmed", func(t *testing.T) { runUnconfirmed(t, newStore) })
}

// Wrong returns a code of the same length that differs from code.
func Wrong(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// parallel runs fn n times at once (storetest.Race, without errors).
func parallel(n int, fn func(i int)) {
	storetest.Race(n, func(i int) error { fn(i); return nil })
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// Total is how many codes went out, to every phone.
func (o *Outbox) Total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, codes := range o.codes {
		n += len(codes)
	}
	return n
}
