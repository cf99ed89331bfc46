package emulator

import (
	"fmt"
	"testing"
	"time"
)

// TestForgetsWhatLapsed: what the emulator holds stays bounded by what is
// alive (plus an hour), however many logins came before, and a sweep does
// not walk what is still alive.
func TestForgetsWhatLapsed(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	e, err := New(Options{Now: func() time.Time { return now }, Apps: []App{
		{AppID: "wxweb0000000000001", Secret: "s", Kind: KindWebsite},
		{AppID: "wxoa00000000000001", Secret: "s", Kind: KindOfficialAccount},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		app, scope := "wxweb0000000000001", "snsapi_login"
		if i%2 == 1 {
			app, scope = "wxoa00000000000001", "snsapi_base"
		}
		if _, err := e.IssueCode(app, fmt.Sprintf("p%d", i%10), scope); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	if n := len(e.codes); n != 1000 {
		t.Fatalf("all 1000 codes are within their lifetime plus an hour, got %d", n)
	}
	now = now.Add(2 * time.Hour)
	if _, err := e.IssueCode("wxweb0000000000001", "late", "snsapi_login"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.codes); n != 1 {
		t.Fatalf("lapsed codes are forgotten: %d left", n)
	}
	for kind, q := range e.expiry.queues {
		if live := len(q.items) - q.head; kind == "code" && live != 1 {
			t.Fatalf("the code queue holds %d entries, want 1", live)
		}
	}

	// An entry extended meanwhile is kept and looked at again later.
	e.mu.Lock()
	e.tokens["t"] = &userToken{expires: now.Add(time.Minute)}
	e.expiry.add("token", "t", now.Add(time.Minute))
	e.mu.Unlock()
	now = now.Add(90 * time.Minute)
	e.mu.Lock()
	e.tokens["t"].expires = now.Add(time.Hour) // refreshed
	e.gcLocked()
	_, kept := e.tokens["t"]
	now = now.Add(3 * time.Hour)
	e.gcLocked()
	_, still := e.tokens["t"]
	e.mu.Unlock()
	if !kept || still {
		t.Fatalf("extended token kept then forgotten: kept=%v still=%v", kept, still)
	}
}
