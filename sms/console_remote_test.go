package sms_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/sms"
)

var _ sms.Sender = (*sms.RemoteConsole)(nil)

// TestRemoteConsoleDelivers: a message posted by a RemoteConsole lands in
// the other process's inbox and log exactly as a local Console.Send would.
func TestRemoteConsoleDelivers(t *testing.T) {
	var log bytes.Buffer
	inbox := sms.NewConsole(slog.New(slog.NewJSONHandler(&log, nil)), 3, clock(t0))
	inbox.SignName = "某大学"
	srv := httptest.NewServer(inbox.DeliveryHandler())
	defer srv.Close()

	r, err := sms.NewRemoteConsole(srv.URL, nil).Send(context.Background(), testMessage)
	require.NoError(t, err)
	require.Equal(t, sms.Receipt{Provider: "console", SerialNo: "console-1"}, r)
	got := inbox.Inbox(testPhone)
	require.Len(t, got, 1)
	require.Equal(t, testCode, got[0].Code)
	require.Equal(t, sms.MessageText("某大学", testMessage), got[0].Text, "the inbox writes the text with its own sign_name")
	require.Contains(t, log.String(), `"msg":"sandbox sms"`, "the inbox's process logs it")

	// A TTL under a minute still reads "1 minute", not a refusal.
	_, err = sms.NewRemoteConsole(srv.URL, nil).Send(context.Background(), sms.Message{Phone: testPhone, Code: "1", TTL: 1500 * time.Millisecond})
	require.NoError(t, err)
	require.Contains(t, inbox.Inbox(testPhone)[0].Text, "1 分钟")
}

func TestRemoteConsoleErrors(t *testing.T) {
	inbox := sms.NewConsole(slog.New(slog.DiscardHandler), 3, nil)
	ok := httptest.NewServer(inbox.DeliveryHandler())
	defer ok.Close()
	answer := func(status int, body string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	tests := []struct {
		name      string
		url       string
		msg       sms.Message
		kind      error
		retryable bool
	}{
		{"invalid phone, checked before sending", ok.URL, sms.Message{Phone: "138", Code: "1", TTL: time.Minute}, sms.ErrInvalidPhone, false},
		{"empty code", ok.URL, sms.Message{Phone: testPhone, TTL: time.Minute}, sms.ErrInvalidMessage, false},
		{"the inbox refuses the phone", answer(http.StatusBadRequest, `{"error":"invalid_phone"}`), testMessage, sms.ErrInvalidPhone, false},
		{"no inbox listening", gone.URL, testMessage, sms.ErrTransport, true},
		{"something else on that address", answer(http.StatusNotFound, "404 page not found"), testMessage, sms.ErrProvider, false},
		{"the inbox failed", answer(http.StatusInternalServerError, ""), testMessage, sms.ErrProvider, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sms.NewRemoteConsole(tc.url, nil).Send(context.Background(), tc.msg)
			require.ErrorIs(t, err, tc.kind)
			var se *sms.Error
			require.True(t, errors.As(err, &se))
			require.Equal(t, tc.retryable, se.Retryable)
			require.NotContains(t, err.Error(), testCode, "an error never shows the code")
			require.NotContains(t, err.Error(), strings.TrimPrefix(testPhone, "+"), "nor the whole phone")
		})
	}
}

func TestDeliveryHandlerRefuses(t *testing.T) {
	inbox := sms.NewConsole(slog.New(slog.DiscardHandler), 3, nil)
	h := inbox.DeliveryHandler()
	for _, tc := range []struct {
		method, body string
		status       int
		want         string
	}{
		{http.MethodGet, "", http.StatusMethodNotAllowed, "method_not_allowed"},
		{http.MethodPost, "phone=+8613800000000", http.StatusBadRequest, "invalid_message"},
		{http.MethodPost, `{"phone":"+8613800000000","code":"1","ttl_seconds":60,"text":"forged"}`, http.StatusBadRequest, "invalid_message"},
		{http.MethodPost, `{"phone":"13800000000","code":"1","ttl_seconds":60}`, http.StatusBadRequest, "invalid_phone"},
		{http.MethodPost, `{"phone":"+8613800000000","code":"1","ttl_seconds":0}`, http.StatusBadRequest, "invalid_message"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, "/sandbox/sms", strings.NewReader(tc.body)))
		require.Equal(t, tc.status, rec.Code, "%s %s", tc.method, tc.body)
		require.Contains(t, rec.Body.String(), tc.want)
	}
	require.Empty(t, inbox.Inbox("+8613800000000"), "nothing refused reached the inbox")
}
