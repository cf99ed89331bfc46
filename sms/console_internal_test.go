package sms

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConsoleEvictsOldestPhone(t *testing.T) {
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	c := NewConsole(slog.New(slog.DiscardHandler), 2, func() time.Time { now = now.Add(time.Second); return now })
	phone := func(i int) string { return fmt.Sprintf("+86138%08d", i) }
	send := func(p string) {
		_, err := c.Send(context.Background(), Message{Phone: p, Code: "123456", TTL: time.Minute})
		require.NoError(t, err)
	}
	for i := range maxInboxPhones + 1 {
		send(phone(i))
		if i == maxInboxPhones/2 { // phone 0 is refreshed; phone 1 becomes the oldest
			send(phone(0))
		}
	}

	require.Len(t, c.inbox, maxInboxPhones)
	require.Len(t, c.Inbox(phone(0)), 2)
	require.Empty(t, c.Inbox(phone(1)), "the phone with the oldest latest message goes first")
	require.NotEmpty(t, c.Inbox(phone(maxInboxPhones)))
}
