// Package logx sets up wxcas's structured logging: slog as text for a terminal
// or JSON for collectors, with the request id of the current request attached
// to every line logged with a context (logger.InfoContext(ctx, ...)).
package logx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
)

type ctxKey struct{}

// WithRequestID returns a context carrying the request id for log lines.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// New builds the process logger. format is "text" or "json"; level is one of
// debug, info, warn, error.
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q must be text or json", format)
	}
	return slog.New(requestIDHandler{h}), nil
}

// requestIDHandler adds request_id from the record's context.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// Discard is a logger that writes nothing, for tests.
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Buffer collects log output for tests; unlike bytes.Buffer it is safe for
// the concurrent writers a running server has.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// The timestamp of a text and of a JSON log line.
var (
	textTime = regexp.MustCompile(`(?m)^time=\S+`)
	jsonTime = regexp.MustCompile(`"time":"[^"]*"`)
)

// Untimed returns everything written so far with each line's timestamp
// removed. Tests that check a short secret (a 6-digit code) is absent use it:
// a timestamp's nanoseconds are digits that may match by chance.
func (b *Buffer) Untimed() string {
	s := textTime.ReplaceAllLiteralString(b.String(), "time=")
	return jsonTime.ReplaceAllLiteralString(s, `"time":""`)
}
