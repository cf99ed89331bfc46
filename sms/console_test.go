package sms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/sms"
)

var _ sms.Sender = (*sms.Console)(nil)

// clock returns a fake clock that advances by a second on each reading.
func clock(start time.Time) func() time.Time {
	var mu sync.Mutex
	now := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

func TestMessageText(t *testing.T) {
	require.Equal(t, "【wxcas】你的验证码是 123456，5 分钟内有效。Your code is 123456, valid for 5 minutes.",
		sms.MessageText("wxcas", sms.Message{Code: "123456", TTL: 5 * time.Minute}))
	require.Equal(t, "【某大学】你的验证码是 0042，1 分钟内有效。Your code is 0042, valid for 1 minute.",
		sms.MessageText("某大学", sms.Message{Code: "0042", TTL: 30 * time.Second}))
}

func TestConsoleSendLogsMaskedPhone(t *testing.T) {
	var buf bytes.Buffer
	c := sms.NewConsole(slog.New(slog.NewJSONHandler(&buf, nil)), 3, clock(t0))
	c.SignName = "某大学"

	r, err := c.Send(context.Background(), testMessage)
	require.NoError(t, err)
	require.Equal(t, sms.Receipt{Provider: "console", SerialNo: "console-1"}, r)

	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	require.Equal(t, "sandbox sms", line["msg"])
	require.Equal(t, "+86138****0000", line["phone"])
	require.Equal(t, "【某大学】你的验证码是 493817，5 分钟内有效。Your code is 493817, valid for 5 minutes.", line["text"])
	require.NotContains(t, buf.String(), "13800000000", "the log line masks the phone")
}

func TestConsoleInbox(t *testing.T) {
	c := sms.NewConsole(slog.New(slog.DiscardHandler), 3, clock(t0))
	other := "+8613900000000"
	for i := 1; i <= 5; i++ {
		_, err := c.Send(context.Background(), sms.Message{Phone: testPhone, Code: fmt.Sprintf("00000%d", i), TTL: time.Minute})
		require.NoError(t, err)
	}
	_, err := c.Send(context.Background(), sms.Message{Phone: other, Code: "999999", TTL: time.Minute})
	require.NoError(t, err)

	got := c.Inbox(testPhone)
	require.Len(t, got, 3, "capped at keep")
	require.Equal(t, []string{"000005", "000004", "000003"}, []string{got[0].Code, got[1].Code, got[2].Code}, "newest first")
	require.Equal(t, testPhone, got[0].Phone)
	require.Equal(t, t0.Add(5*time.Second), got[0].SentAt)
	require.Contains(t, got[0].Text, "000005")

	require.Len(t, c.Inbox(other), 1)
	require.Empty(t, c.Inbox("+8613700000000"))

	// Callers get copies.
	got[0].Code = "changed"
	require.Equal(t, "000005", c.Inbox(testPhone)[0].Code)
}

func TestConsoleRejectsBadMessages(t *testing.T) {
	c := sms.NewConsole(nil, 0, nil)
	for _, m := range []sms.Message{
		{Phone: "13800000000", Code: "1", TTL: time.Minute},
		{Phone: testPhone, TTL: time.Minute},
		{Phone: testPhone, Code: "1"},
	} {
		_, err := c.Send(context.Background(), m)
		require.Error(t, err)
		var e *sms.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, "console", e.Provider)
	}
	require.Empty(t, c.Inbox(testPhone))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Send(ctx, testMessage)
	require.ErrorIs(t, err, sms.ErrTransport)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, c.Inbox(testPhone))
}

func TestConsoleDefaultKeep(t *testing.T) {
	c := sms.NewConsole(slog.New(slog.DiscardHandler), 0, nil)
	for range sms.DefaultConsoleKeep + 2 {
		_, err := c.Send(context.Background(), testMessage)
		require.NoError(t, err)
	}
	require.Len(t, c.Inbox(testPhone), sms.DefaultConsoleKeep)
}

func TestConsoleConcurrentSends(t *testing.T) {
	c := sms.NewConsole(slog.New(slog.DiscardHandler), 100, nil)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			_, err := c.Send(context.Background(), sms.Message{Phone: testPhone, Code: fmt.Sprintf("%06d", i), TTL: time.Minute})
			require.NoError(t, err)
			_ = c.Inbox(testPhone)
		})
	}
	wg.Wait()
	require.Len(t, c.Inbox(testPhone), 50)
}

func TestInboxHandler(t *testing.T) {
	c := sms.NewConsole(slog.New(slog.DiscardHandler), 5, clock(t0))
	for _, code := range []string{"111111", "222222"} {
		_, err := c.Send(context.Background(), sms.Message{Phone: testPhone, Code: code, TTL: 5 * time.Minute})
		require.NoError(t, err)
	}
	h := c.InboxHandler()
	get := func(method, rawQuery string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/sandbox/sms?"+rawQuery, nil))
		return rec
	}

	want := `{"phone":"+8613800000000","messages":[` +
		`{"text":"【wxcas】你的验证码是 222222，5 分钟内有效。Your code is 222222, valid for 5 minutes.","code":"222222","sent_at":"2026-01-02T03:04:02Z"},` +
		`{"text":"【wxcas】你的验证码是 111111，5 分钟内有效。Your code is 111111, valid for 5 minutes.","code":"111111","sent_at":"2026-01-02T03:04:01Z"}]}`
	for name, q := range map[string]string{
		"encoded plus":   "phone=" + url.QueryEscape(testPhone),
		"unencoded plus": "phone=+8613800000000",
	} {
		t.Run(name, func(t *testing.T) {
			rec := get(http.MethodGet, q)
			require.Equal(t, http.StatusOK, rec.Code)
			require.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
			require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			require.JSONEq(t, want, rec.Body.String())
		})
	}

	t.Run("no messages", func(t *testing.T) {
		rec := get(http.MethodGet, "phone=%2B8613900000000")
		require.Equal(t, http.StatusOK, rec.Code)
		require.JSONEq(t, `{"phone":"+8613900000000","messages":[]}`, rec.Body.String())
	})

	for name, q := range map[string]string{
		"missing":      "",
		"empty":        "phone=",
		"national":     "phone=13800000000",
		"letters":      "phone=%2B86abc",
		"double space": "phone=%20%208613800000000",
	} {
		t.Run("bad phone "+name, func(t *testing.T) {
			rec := get(http.MethodGet, q)
			require.Equal(t, http.StatusBadRequest, rec.Code)
			var body map[string]string
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Equal(t, "invalid_phone", body["error"])
			require.NotEmpty(t, body["message"])
		})
	}

	t.Run("POST", func(t *testing.T) {
		rec := get(http.MethodPost, "phone="+url.QueryEscape(testPhone))
		require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
		require.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
		require.JSONEq(t, `{"error":"method_not_allowed","message":"use GET"}`, rec.Body.String())
	})
}
