package audit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/audit"
	"wxcas/logx"
)

type recorder struct {
	events []audit.Event
	ctxErr error
	err    error
}

func (r *recorder) Record(ctx context.Context, e audit.Event) error {
	r.events = append(r.events, e)
	r.ctxErr = ctx.Err()
	return r.err
}

func logger(buf *bytes.Buffer) *slog.Logger {
	log, err := logx.New(buf, "json", "info")
	if err != nil {
		panic(err)
	}
	return log
}

func TestBestNeverFails(t *testing.T) {
	var buf bytes.Buffer
	r := &recorder{err: errors.New("database is down")}
	log := audit.Best(r, logger(&buf))
	e := audit.Event{At: time.Now(), Kind: audit.KindLogin, Outcome: audit.OK, UserID: "alice", Phone: "+8613800138000"}
	require.NoError(t, log.Record(context.Background(), e))
	require.Len(t, r.events, 1)
	require.Equal(t, "+86138****8000", r.events[0].Phone, "the wrapped log gets the masked phone")
	require.Contains(t, buf.String(), `"msg":"audit"`)
	require.Contains(t, buf.String(), `"msg":"audit event not recorded"`)
	require.Contains(t, buf.String(), "database is down")
	require.NotContains(t, buf.String(), "13800138000")

	buf.Reset()
	require.NoError(t, log.Record(context.Background(), audit.Event{Kind: "nonsense"}), "invalid events are logged, not returned")
	require.Contains(t, buf.String(), "invalid event")
	require.Len(t, r.events, 1, "an invalid event is not passed on")

	require.NoError(t, audit.Best(nil, logger(&buf)).Record(context.Background(), e), "log lines only")
}

func TestBestRecordsAfterTheRequestIsGone(t *testing.T) {
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, audit.Best(r, logx.Discard()).Record(ctx, audit.Event{Kind: audit.KindBind, Outcome: audit.OK}))
	require.Len(t, r.events, 1)
	require.NoError(t, r.ctxErr, "a client hanging up does not cancel the audit record")
}

func TestLogLine(t *testing.T) {
	var buf bytes.Buffer
	ctx := logx.WithRequestID(context.Background(), "req-1")
	require.NoError(t, audit.Best(nil, logger(&buf)).Record(ctx, audit.Event{
		Kind: audit.KindRefusal, Outcome: audit.RateLimited, AppID: "wxweb", OpenID: "o1",
		Channel: audit.ChannelQRInline, ClientIP: "198.51.100.7", Phone: "13800138000",
	}))
	line := buf.String()
	for _, want := range []string{`"kind":"refusal"`, `"outcome":"rate_limited"`, `"appid":"wxweb"`, `"openid":"o1"`,
		`"channel":"qr_inline"`, `"client_ip":"198.51.100.7"`, `"phone":"138****8000"`, `"request_id":"req-1"`} {
		require.Contains(t, line, want)
	}
	require.Equal(t, 1, bytes.Count(buf.Bytes(), []byte(`"request_id"`)), "the request id once, from the context")
	require.NotContains(t, line, `"user"`, "empty fields left out")

	buf.Reset()
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "event", audit.Event{Kind: audit.KindBind, Phone: "+8613800138000"})
	require.Contains(t, buf.String(), `"phone":"+86138****8000"`, "an Event logged directly is masked too")
}
