package platform

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxSkew is how far a push's timestamp may be from the receiver's
// clock, either side, before the push is refused as stale.
const DefaultMaxSkew = 5 * time.Minute

// maxCreateTime is the last second of the year 9999, the end of what a
// DATETIME column holds.
const maxCreateTime = 253402300799

// MaxBodyBytes bounds a push's body; WeChat's are well under a kilobyte.
const MaxBodyBytes = 64 << 10

// ReceiverOptions configure a Receiver. ComponentAppID, Crypter and Store
// are required.
type ReceiverOptions struct {
	// ComponentAppID is the platform's appid; pushes for any other are
	// refused.
	ComponentAppID string
	// Crypter holds the platform's Token and EncodingAESKey; its appid must
	// be ComponentAppID.
	Crypter *Crypter
	Store   Store
	// Now is the clock the timestamp is checked against (default
	// time.Now).
	Now func() time.Time
	// MaxSkew: a timestamp further than this from Now, either side, is
	// refused (default DefaultMaxSkew).
	MaxSkew time.Duration
	Logger  *slog.Logger
}

// Receiver is the http.Handler for a platform's "authorization event URL":
// it checks, decrypts and records WeChat's pushes, and answers "success"
// once a push is applied (or is one it need not apply), so that WeChat stops
// retrying it. It never logs the ticket, the Token, the key or the Encrypt
// text.
type Receiver struct {
	appID   string
	crypter *Crypter
	store   Store
	now     func() time.Time
	maxSkew time.Duration
	log     *slog.Logger
}

// NewReceiver checks o and returns a Receiver.
func NewReceiver(o ReceiverOptions) (*Receiver, error) {
	switch {
	case !validAppID(o.ComponentAppID):
		return nil, errors.New("platform: ReceiverOptions.ComponentAppID is empty or not an appid")
	case o.Crypter == nil:
		return nil, errors.New("platform: ReceiverOptions.Crypter is required")
	case o.Crypter.appID != o.ComponentAppID:
		return nil, errors.New("platform: ReceiverOptions.Crypter was made for another appid than ComponentAppID")
	case o.Store == nil:
		return nil, errors.New("platform: ReceiverOptions.Store is required")
	case o.MaxSkew < 0:
		return nil, errors.New("platform: ReceiverOptions.MaxSkew is negative")
	}
	r := &Receiver{appID: o.ComponentAppID, crypter: o.Crypter, store: o.Store, now: o.Now, maxSkew: o.MaxSkew, log: o.Logger}
	if r.now == nil {
		r.now = time.Now
	}
	if r.maxSkew == 0 {
		r.maxSkew = DefaultMaxSkew
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("component", "wechat_platform", "component_appid", r.appID)
	return r, nil
}

// envelope is the body WeChat posts: the platform's appid and the
// ciphertext.
type envelope struct {
	XMLName xml.Name `xml:"xml"`
	AppID   string   `xml:"AppId"`
	Encrypt string   `xml:"Encrypt"`
}

// event is the decrypted message, for every InfoType this URL receives.
type event struct {
	XMLName         xml.Name `xml:"xml"`
	AppID           string   `xml:"AppId"`
	CreateTime      string   `xml:"CreateTime"`
	InfoType        string   `xml:"InfoType"`
	Ticket          string   `xml:"ComponentVerifyTicket"`
	AuthorizerAppID string   `xml:"AuthorizerAppid"`
}

// refusal is a push the Receiver answers with an error status. reason is
// sent to the caller and logged: it never holds a secret.
type refusal struct {
	status int
	reason string
	err    error // detail for the log only; carries no secret either
}

func refuse(reason string) *refusal { return &refusal{status: http.StatusBadRequest, reason: reason} }

// ServeHTTP answers one push: 200 "success" when it is applied or need not
// be, 400 (413 for a body too large) with a short reason when it is refused,
// 503 when the store fails (WeChat pushes it again), 405 to anything but
// POST.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if f := r.handle(w, req); f != nil {
		level := slog.LevelWarn
		if f.status >= 500 {
			level = slog.LevelError
		}
		attrs := []any{"reason", f.reason, "status", f.status, "remote", req.RemoteAddr}
		if f.err != nil {
			attrs = append(attrs, "err", f.err)
		}
		r.log.Log(req.Context(), level, "WeChat platform push refused", attrs...)
		reply(w, f.status, f.reason)
		return
	}
	reply(w, http.StatusOK, "success")
}

// handle checks and applies one push: query, body, signature (before any
// decryption), plaintext, then the store.
func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) *refusal {
	q := req.URL.Query()
	if q.Get("encrypt_type") != "aes" {
		return refuse("encrypt_type must be aes")
	}
	timestamp, nonce, sig := q.Get("timestamp"), q.Get("nonce"), q.Get("msg_signature")
	if timestamp == "" || nonce == "" || sig == "" {
		return refuse("timestamp, nonce and msg_signature are required")
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return refuse("timestamp is not a number")
	}
	// Compared in seconds: no time.Duration overflow for absurd values.
	if now, skew := r.now().Unix(), int64(r.maxSkew/time.Second); ts < now-skew || ts > now+skew {
		// The offset in the log tells a replay from a clock that drifts.
		return &refusal{status: http.StatusBadRequest, reason: "stale timestamp", err: fmt.Errorf("timestamp %d is outside %d±%ds", ts, now, skew)}
	}

	if req.Body == nil { // only a handler called directly sees one
		return refuse("body is not the expected XML")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &refusal{status: http.StatusRequestEntityTooLarge, reason: "body too large"}
		}
		return &refusal{status: http.StatusBadRequest, reason: "cannot read body", err: err}
	}
	var env envelope
	if err := xml.Unmarshal(body, &env); err != nil {
		return refuse("body is not the expected XML")
	}
	if env.AppID != "" && env.AppID != r.appID {
		return refuse("AppId is not this platform's")
	}
	if env.Encrypt == "" {
		return refuse("Encrypt is missing")
	}
	if !r.crypter.Verify(timestamp, nonce, env.Encrypt, sig) {
		return refuse("bad msg_signature")
	}

	plain, err := r.crypter.Decrypt(env.Encrypt)
	if errors.Is(err, ErrAppIDMismatch) {
		return refuse("message is for another appid")
	}
	if err != nil {
		return &refusal{status: http.StatusBadRequest, reason: "cannot decrypt", err: err}
	}
	var ev event
	if err := xml.Unmarshal(plain, &ev); err != nil {
		return refuse("message is not the expected XML")
	}
	if ev.AppID != r.appID {
		return refuse("message AppId is not this platform's")
	}
	// Whitespace around a number or a name is layout, not content.
	ev.InfoType = strings.TrimSpace(ev.InfoType)
	secs, err := strconv.ParseInt(strings.TrimSpace(ev.CreateTime), 10, 64)
	if err != nil || secs <= 0 || secs > maxCreateTime {
		return refuse("message CreateTime is not a Unix time")
	}
	if secs > r.now().Add(r.maxSkew).Unix() {
		// "Newer wins" would let a message from the future block every
		// real one after it, for good: refuse it like a stale timestamp.
		return refuse("message CreateTime is in the future")
	}
	return r.apply(req, ev, time.Unix(secs, 0).UTC())
}

// apply records ev. A failing store answers 503, so that WeChat sends the
// push again; an InfoType this URL does not act on is acknowledged.
func (r *Receiver) apply(req *http.Request, ev event, created time.Time) *refusal {
	ctx := req.Context()
	switch ev.InfoType {
	case InfoVerifyTicket:
		if ev.Ticket == "" || len(ev.Ticket) > MaxTicketLen {
			return refuse("ComponentVerifyTicket is missing or too long")
		}
		stored, err := r.store.SaveTicket(ctx, r.appID, ev.Ticket, created)
		if err != nil {
			return unavailable(err)
		}
		// Never the ticket itself.
		r.log.InfoContext(ctx, "component_verify_ticket received", "create_time", created, "stored", stored)
	case InfoAuthorized, InfoUpdateAuthorized, InfoUnauthorized:
		if !validAppID(ev.AuthorizerAppID) {
			return refuse("AuthorizerAppid is missing or not an appid")
		}
		authorized := ev.InfoType != InfoUnauthorized
		stored, err := r.store.SaveAuthorization(ctx, r.appID, ev.AuthorizerAppID, authorized, ev.InfoType, created)
		if err != nil {
			return unavailable(err)
		}
		r.log.InfoContext(ctx, "authorizer event received", "info_type", ev.InfoType, "authorizer_appid", ev.AuthorizerAppID, "create_time", created, "stored", stored)
	default:
		// WeChat sends the same push again until it reads "success", and
		// may add InfoTypes: acknowledge what is not for wxcas.
		r.log.InfoContext(ctx, "WeChat platform push with an InfoType wxcas does not act on; acknowledged", "info_type", truncate(ev.InfoType, MaxInfoTypeLen), "create_time", created)
	}
	return nil
}

// unavailable answers a store's failure: 503 (WeChat tries again later),
// except for a value the store refuses, which no retry can fix.
func unavailable(err error) *refusal {
	if errors.Is(err, ErrInvalid) {
		return &refusal{status: http.StatusBadRequest, reason: "message has a value out of range", err: err}
	}
	return &refusal{status: http.StatusServiceUnavailable, reason: "temporarily unavailable", err: err}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func reply(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
