// Package journey is the login, once: a state machine that every way of
// logging in with WeChat drives — the browser pages and the JSON API for
// mini programs and apps today, OpenID Connect next — from "waiting for
// WeChat" to a bound person handed to a finisher (a CAS ticket, a token
// hand-off, a JSON API session).
//
// The states and events are declared in one transition table (table.go),
// checked when the program starts (CheckTable). Nothing outside this package
// sets a state: a transport turns a request into an Event, Engine.Handle
// applies it (the table's guard, then the event's effect) and returns an
// Answer, and the transport turns the Answer into a response. Journeys are
// persisted through Store, whose Update is a compare-and-swap, so any
// instance can carry on a journey another one started and two requests
// racing on one journey cannot both apply.
package journey

import (
	"context"
	"net/http"
	"time"

	"wxcas/binding"
	"wxcas/challenge"
	"wxcas/otp"
)

// State is where a journey stands.
type State string

// The states.
const (
	// WeChatPending: waiting for WeChat to name the person (a QR scan, an
	// Official Account redirect, an app's code).
	WeChatPending State = "wechat_pending"
	// Identified: WeChat named a person who is already bound; UserID is set.
	Identified State = "identified"
	// PhoneRequested: WeChat named a person who is not bound yet; a phone
	// number must be proven.
	PhoneRequested State = "phone_requested"
	// CodeSent: an SMS code was sent to Phone.
	CodeSent State = "code_sent"
	// Bound: the phone was proven and the person bound to UserID.
	Bound State = "bound"
	// Finished: the finisher issued the result. The journey stays a short
	// while (FinishGrace) so that a repeated submission lands on the
	// service too.
	Finished State = "finished"
	// Failed: the journey ended without a login (cancelled, or a refusal
	// nothing in this journey can overcome).
	Failed State = "failed"
)

// States lists every state, in journey order.
var States = []State{WeChatPending, Identified, PhoneRequested, CodeSent, Bound, Finished, Failed}

// Transport is what drives a journey.
type Transport string

// The transports.
const (
	// Browser: the login pages; the journey is bound to the browser by a
	// signed cookie holding a nonce.
	Browser Transport = "browser"
	// API: the JSON API; the journey is bound to the client by a bearer
	// token whose secret part changes at every successful step.
	API Transport = "api"
)

// Channels: how WeChat was reached, for the audit log and for choosing the
// WeChat app.
const (
	ChannelQRInline    = "qr_inline"
	ChannelQRRedirect  = "qr_redirect"
	ChannelOABase      = "oa_base"
	ChannelOAUserinfo  = "oa_userinfo"
	ChannelMiniProgram = "mini_program"
	ChannelMobileApp   = "mobile_app"
)

// Journey is one login in progress.
type Journey struct {
	ID        string    `db:"id"`
	State     State     `db:"state"`
	Transport Transport `db:"transport"`
	Channel   string    `db:"channel"`
	// Service names what the login is for (a CAS service id, an OAuth
	// client), for the audit log.
	Service string `db:"service"`
	// Return is what the finisher needs, opaque here (e.g. the CAS login
	// request as JSON).
	Return string `db:"return_to"`
	// SecretHash binds the journey to its holder (see Transport).
	SecretHash string `db:"secret_hash"`
	// WeChatStateHash is the keyed hash of the WeChat state issued last;
	// WeChatStateUsed says a callback has used it.
	WeChatStateHash string `db:"wechat_state_hash"`
	WeChatStateUsed bool   `db:"wechat_state_used"`
	// WeChatAppID is the app the WeChat state was issued for: the callback
	// exchanges its code with this app and no other.
	WeChatAppID string `db:"wechat_appid"`
	// EntryAppID is the Official Account a login inside WeChat starts from
	// (the entry link's, the service's or the default); EntryOpenID is the
	// openid it gave when the unionid chain stepped up to another account,
	// recorded under the unionid once that account reveals it.
	EntryAppID  string `db:"entry_appid"`
	EntryOpenID string `db:"entry_openid"`
	AppID       string `db:"appid"`
	OpenID      string `db:"openid"`
	UnionID     string `db:"unionid"`
	Nickname    string `db:"nickname"`
	AvatarURL   string `db:"avatar_url"`
	// Phone is the E.164 number a code was sent to (CodeSent) or that was
	// bound.
	Phone  string `db:"phone"`
	UserID string `db:"user_id"`
	// Version is bumped by every Update.
	Version   int       `db:"version"`
	CreatedAt time.Time `db:"created_at"`
	// StepExpiresAt bounds the current step (the API's bind token); never
	// after ExpiresAt.
	StepExpiresAt time.Time `db:"-"` // SQLStore: a nullable column

	ExpiresAt time.Time `db:"expires_at"`
}

// Account is the WeChat app account the journey identified.
func (j *Journey) Account() binding.Account {
	return binding.Account{AppID: j.AppID, OpenID: j.OpenID, UnionID: j.UnionID, Nickname: j.Nickname, AvatarURL: j.AvatarURL}
}

func (j *Journey) setAccount(a binding.Account) {
	j.AppID, j.OpenID, j.UnionID, j.Nickname, j.AvatarURL = a.AppID, a.OpenID, a.UnionID, a.Nickname, a.AvatarURL
}

// Expired reports whether the journey (or its current step) is over at now.
func (j *Journey) Expired(now time.Time) bool {
	return !now.Before(j.ExpiresAt) || (!j.StepExpiresAt.IsZero() && !now.Before(j.StepExpiresAt))
}

// holder names the journey as the holder of the SMS codes it asks for: a
// code sent in this journey verifies only in this journey.
func (j *Journey) holder() string { return "journey:" + j.ID }

// Person is who a journey ended with: the directory user and the WeChat
// account they logged in with.
type Person struct {
	User    binding.User
	Account binding.Account
	// Channel is how WeChat was reached.
	Channel string
	// NewlyBound: this journey bound the person (a first login).
	NewlyBound bool
	// AuthenticatedAt is when WeChat named the person.
	AuthenticatedAt time.Time
}

// Finisher issues the result of a journey that ended with a person: a CAS
// SSO session and service ticket, the Apereo token hand-off, the JSON API's
// session, an OAuth authorization code. It writes the whole response; a
// returned error is for the log. Wiring chooses one per transport, so the
// journey knows none of them.
type Finisher interface {
	Finish(w http.ResponseWriter, r *http.Request, j *Journey, p *Person) error
}

// FinisherFunc adapts a function to Finisher.
type FinisherFunc func(w http.ResponseWriter, r *http.Request, j *Journey, p *Person) error

// Finish implements Finisher.
func (f FinisherFunc) Finish(w http.ResponseWriter, r *http.Request, j *Journey, p *Person) error {
	return f(w, r, j, p)
}

// Journeys is what a transport needs of the engine (*Engine is the one
// implementation): the browser pages and the JSON API (and, once built,
// OpenID Connect) drive journeys through these calls and nothing else.
type Journeys interface {
	// Start stores a new journey waiting for WeChat.
	Start(ctx context.Context, s Start) (*Journey, error)
	// Load returns a journey its holder asks about (see Engine.Load).
	Load(ctx context.Context, id string, from From) (*Journey, error)
	// Handle applies an event (see Engine.Handle).
	Handle(ctx context.Context, id string, ev Event, from From) (Answer, error)
	// HandleLoaded applies an event to a journey just loaded (see
	// Engine.HandleLoaded).
	HandleLoaded(ctx context.Context, j *Journey, ev Event, from From) (Answer, error)
	// Forget ends a journey its holder no longer wants (see Engine.Forget).
	Forget(ctx context.Context, id string, from From) error
	// StateElsewhere ends a journey whose WeChat state another browser
	// presented (see Engine.StateElsewhere).
	StateElsewhere(ctx context.Context, id, stateHash string, from From) (bool, error)
	// SendState says how long until j can get a code and whether the next
	// send needs a challenge (see Engine.SendState).
	SendState(ctx context.Context, j *Journey, from From) (SendState, error)
}

// SendState is what the phone and code pages show before a send.
type SendState struct {
	// Waits: until the journey's phone (none yet: zero) or another number
	// can get a code; the code page counts them down.
	Waits otp.Waits
	// Challenge, when set, must be solved with the next send.
	Challenge *challenge.Challenge
}

var _ Journeys = (*Engine)(nil)
