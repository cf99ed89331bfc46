// Package audit records every bind, unbind, login and refusal: when, which
// user, which WeChat identity, through which channel, from which address and
// with what outcome. Events go to the audit_events table and, through Best,
// to the structured log as well, so they reach log collectors.
//
// Phone numbers are masked (logx.MaskPhone) before they are stored or
// logged; nothing else in an event is secret (no codes, tokens or tickets
// belong in one).
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"wxcas/logx"
)

// Kinds of event.
const (
	KindLogin   = "login"
	KindBind    = "bind"
	KindUnbind  = "unbind"
	KindRefusal = "refusal"
	// KindLink: the unionid chain recorded an entry Official Account's
	// openid under the unionid its step-up revealed.
	KindLink = "link"
	// KindPhoneChange: a user's phone number changed.
	KindPhoneChange = "phone_change"
	// KindAdmin: an operator's action that is not an unbind or a phone
	// change, such as an export of the bindings.
	KindAdmin = "admin"
)

// Outcomes: OK, or a stable reason. Other reasons may be used as long as they
// are lower-case words joined by underscores, at most 32 characters.
const (
	OK           = "ok"
	WrongCode    = "wrong_code"
	UnknownPhone = "unknown_phone"
	UserBound    = "user_bound"
	SnapshotUser = "snapshot_user"
	RateLimited  = "rate_limited"
	StateInvalid = "state_invalid"
	WeChatError  = "wechat_error"
	// StateElsewhere: a browser that does not hold the journey presented
	// its WeChat state; the journey was ended.
	StateElsewhere = "state_elsewhere"
)

// Channels a person arrives through.
const (
	ChannelQRInline    = "qr_inline"
	ChannelQRRedirect  = "qr_redirect"
	ChannelOA          = "oa"
	ChannelMiniProgram = "mini_program"
	ChannelMobileApp   = "mobile_app"
	ChannelAPI         = "api"
)

// Event is one audited action.
type Event struct {
	ID        int64     // set by List; ignored by Record
	At        time.Time // zero: the time of recording
	Kind      string    // login, bind, unbind, refusal, link, phone_change, admin
	Outcome   string    // ok, or a stable reason such as wrong_code
	UserID    string    // the directory user, when known
	AppID     string
	OpenID    string
	UnionID   string
	Channel   string // qr_inline, qr_redirect, oa, mini_program, mobile_app, api
	ClientIP  string
	Service   string // the CAS service
	RequestID string // empty: taken from the context (logx)
	// Phone may be given whole; it is masked (logx.MaskPhone) before it is
	// stored or logged.
	Phone string
	// Actor is who acted when it was not the person themself:
	// "admin:<principal>" (the admin console), "cli:<os user>" (wxcas
	// users). Empty for the person.
	Actor string
	// Detail is the reason an actor gave, free text (made valid UTF-8 and
	// cut to 256 characters). Never a code, token or whole phone number.
	Detail string
}

// Log records events.
type Log interface {
	Record(ctx context.Context, e Event) error
}

// Filter selects events for List; every field set must match, and the zero
// value selects everything.
type Filter struct {
	UserID string    // empty: every user
	Since  time.Time // zero: from the beginning; inclusive
	Until  time.Time // zero: up to now; exclusive
	// Phone is a whole number (or its masked form): the log keeps only
	// masked phones, so it matches every event whose masked phone is the
	// same, which can be another person's number with the same first and
	// last digits.
	Phone   string
	Kind    string // an event kind (KindLogin, ...)
	Outcome string // ok or a reason such as wrong_code
	Channel string
	Service string // the service URL exactly as recorded
	Actor   string // "admin:<principal>", "cli:<os user>"
	// BeforeID is the paging cursor: the ID of the last event of the
	// previous page. Only events after it in List's order are listed (older
	// than it, or as old with a smaller ID). An ID no longer stored (removed
	// by retention, with everything older) lists nothing. 0: from the newest.
	BeforeID int64
	Limit    int // 0: DefaultLimit; at most MaxLimit
}

// List limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Store is a Log that can also be read back and pruned.
type Store interface {
	Log
	// List returns matching events, newest first (by time, then ID).
	List(ctx context.Context, f Filter) ([]Event, error)
	// Cleanup deletes events older than before and returns how many.
	Cleanup(ctx context.Context, before time.Time) (int64, error)
}

// ErrInvalidEvent is returned for an event with an unknown kind or a
// malformed outcome or channel.
var ErrInvalidEvent = errors.New("audit: invalid event")

var token = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Column sizes: longer values are cut (an audit record is better truncated
// than lost).
const (
	maxKind    = 16
	maxToken   = 32
	maxID      = 128
	maxAppID   = 64
	maxIP      = 64
	maxService = 1024
	maxReqID   = 64
	maxPhone   = 32
	maxActor   = 160
	maxDetail  = 256
)

// Normalize returns the event as it is stored: phone masked, text made valid
// UTF-8 and cut to the column sizes, the time and request id filled in. The
// normalised event is returned even when it is invalid, so it can be logged.
func Normalize(ctx context.Context, e Event) (Event, error) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if e.RequestID == "" {
		e.RequestID = logx.RequestID(ctx)
	}
	e.Phone = logx.MaskPhone(e.Phone)
	for _, f := range []struct {
		s   *string
		max int
	}{
		{&e.Kind, maxKind}, {&e.Outcome, maxToken}, {&e.UserID, maxID}, {&e.AppID, maxAppID},
		{&e.OpenID, maxID}, {&e.UnionID, maxID}, {&e.Channel, maxToken}, {&e.ClientIP, maxIP},
		{&e.Service, maxService}, {&e.RequestID, maxReqID}, {&e.Phone, maxPhone},
		{&e.Actor, maxActor}, {&e.Detail, maxDetail},
	} {
		*f.s = truncate(strings.ToValidUTF8(*f.s, "\uFFFD"), f.max)
	}
	switch e.Kind {
	case KindLogin, KindBind, KindUnbind, KindRefusal, KindLink, KindPhoneChange, KindAdmin:
	default:
		return e, fmt.Errorf("%w: unknown kind %q", ErrInvalidEvent, e.Kind)
	}
	switch {
	case !token.MatchString(e.Outcome):
		return e, fmt.Errorf("%w: outcome %q must be ok or a reason like wrong_code", ErrInvalidEvent, e.Outcome)
	case e.Kind == KindRefusal && e.Outcome == OK:
		return e, fmt.Errorf("%w: a refusal needs a reason, not ok", ErrInvalidEvent)
	case e.Channel != "" && !token.MatchString(e.Channel):
		return e, fmt.Errorf("%w: channel %q", ErrInvalidEvent, e.Channel)
	}
	return e, nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Best wraps log so that recording never fails a login: every event is
// written to logger as a structured "audit" line, then recorded in log (when
// not nil) even if the request's context is already cancelled; a failure is
// logged and Record returns nil.
// A nil logger is slog.Default().
func Best(log Log, logger *slog.Logger) Log {
	if logger == nil {
		logger = slog.Default()
	}
	return best{log: log, logger: logger}
}

type best struct {
	log    Log
	logger *slog.Logger
}

// recordTimeout bounds a recording that outlives its request.
const recordTimeout = 5 * time.Second

func (b best) Record(ctx context.Context, e Event) error {
	n, invalid := Normalize(ctx, e)
	b.logger.LogAttrs(ctx, slog.LevelInfo, "audit", n.attrs(ctx)...)
	if invalid != nil {
		b.logger.ErrorContext(ctx, "audit event not recorded", "kind", n.Kind, "outcome", n.Outcome, "err", invalid)
		return nil
	}
	if b.log == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := b.log.Record(rctx, n); err != nil {
		b.logger.ErrorContext(ctx, "audit event not recorded", "kind", n.Kind, "outcome", n.Outcome, "err", err)
	}
	return nil
}

// attrs are the log attributes of a normalised event; empty fields are left
// out, and the request id when the context already carries it (logx adds it).
func (e Event) attrs(ctx context.Context) []slog.Attr {
	as := []slog.Attr{slog.String("kind", e.Kind), slog.String("outcome", e.Outcome)}
	for _, f := range []struct{ k, v string }{
		{"user", e.UserID}, {"appid", e.AppID}, {"openid", e.OpenID}, {"unionid", e.UnionID},
		{"channel", e.Channel}, {"client_ip", e.ClientIP}, {"service", e.Service}, {"phone", e.Phone},
		{"actor", e.Actor}, {"detail", e.Detail},
	} {
		if f.v != "" {
			as = append(as, slog.String(f.k, f.v))
		}
	}
	if e.RequestID != "" && e.RequestID != logx.RequestID(ctx) {
		as = append(as, slog.String("request_id", e.RequestID))
	}
	return as
}

// LogValue masks the phone when an event is logged directly.
func (e Event) LogValue() slog.Value {
	e.Phone = logx.MaskPhone(e.Phone)
	return slog.GroupValue(e.attrs(context.Background())...)
}
