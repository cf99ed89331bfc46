package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"wxcas/logx"
)

// MessageText is the SMS text for m, Chinese first:
// "【wxcas】你的验证码是 123456，5 分钟内有效。Your code is 123456, valid for 5 minutes."
// Tencent renders its own approved template; the console sender uses this.
func MessageText(signName string, m Message) string {
	mins := m.TTLMinutes()
	unit := "minutes"
	if mins == 1 {
		unit = "minute"
	}
	return fmt.Sprintf("【%s】你的验证码是 %s，%d 分钟内有效。Your code is %s, valid for %d %s.",
		signName, m.Code, mins, m.Code, mins, unit)
}

// InboxMessage is one message kept by the console sender.
type InboxMessage struct {
	Phone  string
	Text   string
	Code   string
	SentAt time.Time
}

// DefaultConsoleKeep is how many messages per phone NewConsole keeps when
// keep is not positive.
const DefaultConsoleKeep = 10

// maxInboxPhones bounds the inbox; the phone with the oldest latest message
// is dropped first.
const maxInboxPhones = 1000

// Console is the sandbox sender: it logs each message and keeps the last
// few per phone for the sandbox inbox. It never contacts a provider.
//
// The inbox lives in process memory: the sandbox runs as a single instance,
// and messages are lost on restart.
type Console struct {
	// SignName is the signature shown in 【】; set it before the first Send.
	SignName string

	log  *slog.Logger
	keep int
	now  func() time.Time

	mu    sync.Mutex
	seq   uint64
	inbox map[string][]InboxMessage // oldest first, at most keep each
}

// NewConsole returns a console sender logging to logger (nil: slog.Default())
// and keeping the last keep messages per phone (keep <= 0:
// DefaultConsoleKeep); now is the clock (nil: time.Now).
func NewConsole(logger *slog.Logger, keep int, now func() time.Time) *Console {
	if logger == nil {
		logger = slog.Default()
	}
	if keep <= 0 {
		keep = DefaultConsoleKeep
	}
	if now == nil {
		now = time.Now
	}
	return &Console{SignName: "wxcas", log: logger, keep: keep, now: now, inbox: map[string][]InboxMessage{}}
}

const providerConsole = "console"

// Send logs the message and stores it in the inbox.
func (c *Console) Send(ctx context.Context, m Message) (Receipt, error) {
	if err := checkMessage(providerConsole, m, true); err != nil {
		return Receipt{}, err
	}
	if err := ctx.Err(); err != nil {
		return Receipt{}, &Error{Kind: ErrTransport, Provider: providerConsole, Phone: logx.MaskPhone(m.Phone), Retryable: true, Err: err}
	}
	text := MessageText(c.SignName, m)
	msg := InboxMessage{Phone: m.Phone, Text: text, Code: m.Code, SentAt: c.now()}

	c.mu.Lock()
	c.seq++
	serial := "console-" + strconv.FormatUint(c.seq, 10)
	list := append(c.inbox[m.Phone], msg)
	if len(list) > c.keep {
		list = append([]InboxMessage(nil), list[len(list)-c.keep:]...)
	}
	c.inbox[m.Phone] = list
	if len(c.inbox) > maxInboxPhones {
		c.evictOldestLocked()
	}
	c.mu.Unlock()

	// The sandbox is the one place where the code is shown on purpose, so
	// that people and scripts can log in without a phone. The phone is still
	// masked. No other sender logs the text or the code.
	c.log.LogAttrs(ctx, slog.LevelInfo, "sandbox sms", slog.String("phone", logx.MaskPhone(m.Phone)),
		slog.String("text", text), slog.String("serial", serial))
	return Receipt{Provider: providerConsole, SerialNo: serial}, nil
}

func (c *Console) evictOldestLocked() {
	var oldest string
	var at time.Time
	for phone, list := range c.inbox {
		if t := list[len(list)-1].SentAt; oldest == "" || t.Before(at) {
			oldest, at = phone, t
		}
	}
	delete(c.inbox, oldest)
}

// Inbox returns the messages kept for phone (E.164), newest first.
func (c *Console) Inbox(phone string) []InboxMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.inbox[phone]
	out := make([]InboxMessage, len(list))
	for i, m := range list {
		out[len(list)-1-i] = m
	}
	return out
}

type inboxJSON struct {
	Phone    string             `json:"phone"`
	Messages []inboxMessageJSON `json:"messages"`
}

type inboxMessageJSON struct {
	Text   string `json:"text"`
	Code   string `json:"code"`
	SentAt string `json:"sent_at"` // RFC 3339, UTC
}

// InboxHandler serves GET ?phone=+8613800000000 with the phone's latest
// messages, newest first:
//
//	{"phone":"+86...","messages":[{"text":"...","code":"123456","sent_at":"2026-01-02T03:04:05Z"}]}
//
// The phone must be E.164; normalising other spellings is the caller's job.
// An unencoded "+" arrives as a space in a query string, so a leading space
// is read as "+". A missing or malformed phone is a 400 with
// {"error":"invalid_phone",...}. Sandbox only: it shows codes to anyone.
func (c *Console) InboxHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed", "message": "use GET"})
			return
		}
		phone := r.URL.Query().Get("phone")
		if rest, ok := strings.CutPrefix(phone, " "); ok {
			phone = "+" + rest
		}
		if !ValidE164(phone) {
			writeJSON(w, http.StatusBadRequest, map[string]string{
				"error":   "invalid_phone",
				"message": "query parameter phone must be an E.164 number such as +8613800000000 (encode + as %2B)",
			})
			return
		}
		body := inboxJSON{Phone: phone, Messages: []inboxMessageJSON{}}
		for _, m := range c.Inbox(phone) {
			body.Messages = append(body.Messages, inboxMessageJSON{Text: m.Text, Code: m.Code, SentAt: m.SentAt.UTC().Format(time.RFC3339)})
		}
		writeJSON(w, http.StatusOK, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
