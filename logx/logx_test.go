package logx

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestRequestIDOnEveryContextLine(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithRequestID(context.Background(), "req-123")
	log.With("component", "x").InfoContext(ctx, "hello")
	log.DebugContext(ctx, "hidden at info level")
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &line); err != nil {
		t.Fatalf("one JSON line expected, got %q: %v", buf.String(), err)
	}
	if line["request_id"] != "req-123" || line["component"] != "x" {
		t.Fatalf("request id and attrs missing: %v", line)
	}
}

func TestBadSettings(t *testing.T) {
	for _, tc := range []struct{ format, level string }{{"xml", "info"}, {"text", "loud"}} {
		if _, err := New(&bytes.Buffer{}, tc.format, tc.level); err == nil || !strings.Contains(err.Error(), "must") && !strings.Contains(err.Error(), "level") {
			t.Fatalf("%v: want an error, got %v", tc, err)
		}
	}
}

func TestUntimedDropsOnlyTimestamps(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf Buffer
			log, err := New(&buf, format, "info")
			if err != nil {
				t.Fatal(err)
			}
			log.Info("sent", "phone", "+86138****8000")
			log.Info("again", "at", "00:13")
			day := time.Now().Format("2006-01-02") // slog stamps local time
			if n := strings.Count(buf.String(), day); n != 2 {
				t.Fatalf("want two timestamps of %s in %q", day, buf.String())
			}
			got := buf.Untimed()
			if strings.Contains(got, day) {
				t.Errorf("timestamp left in %q", got)
			}
			for _, want := range []string{"sent", "+86138****8000", "again", "00:13"} {
				if !strings.Contains(got, want) {
					t.Errorf("%q lost from %q", want, got)
				}
			}
		})
	}
}
