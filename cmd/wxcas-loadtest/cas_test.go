package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const okAnswer = `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
    <cas:authenticationSuccess>
        <cas:user>%s</cas:user>
        <cas:attributes><cas:userId>%[1]s</cas:userId></cas:attributes>
    </cas:authenticationSuccess>
</cas:serviceResponse>`

const failedAnswer = `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
    <cas:authenticationFailure code="INVALID_TICKET">Ticket ST-1 not recognized</cas:authenticationFailure>
</cas:serviceResponse>`

// fakeCAS plays wxcas for the checks: a QR login that sets the TGC cookie
// and redirects to the service with a ticket, SSO with that cookie, and a
// validation. A fault makes it answer wrong once goodLeft right answers of
// the fault's kind (the SSO sessions' logins) are used up.
type fakeCAS struct {
	srv      *httptest.Server
	service  string
	fault    atomic.Value // a fault of TestLoadsCountWrongAnswersAsErrors, or ""
	goodLeft atomic.Int64
	tickets  atomic.Int64
}

// faulty tells whether this answer of kind (ticket or validate) goes wrong.
func (f *fakeCAS) faulty(kind string) bool {
	fault, _ := f.fault.Load().(string)
	if fault == "" || (fault == "other service") != (kind == "ticket") {
		return false
	}
	return f.goodLeft.Add(-1) < 0
}

func newFakeCAS(t *testing.T) *fakeCAS {
	f := &fakeCAS{}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.service = f.srv.URL + "/app/"
	toService := func(w http.ResponseWriter, r *http.Request) {
		to := f.service
		if f.faulty("ticket") {
			to = f.srv.URL + "/other/"
		}
		http.Redirect(w, r, fmt.Sprintf("%s?ticket=ST-%d", to, f.tickets.Add(1)), http.StatusSeeOther)
	}
	mux.HandleFunc("GET /cas/login", func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("TGC"); err == nil {
			toService(w, r)
			return
		}
		http.Redirect(w, r, "/login?flow=F", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<iframe class="sandbox-qr" src="%s/qr?appid=a&amp;state=S" title="QR"></iframe>`, f.srv.URL)
	})
	mux.HandleFunc("GET /qr", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sandbox_user") == "" || r.URL.Query().Get("state") != "S" {
			http.Error(w, "no person", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, "/wechat/callback?code=c&state=S", http.StatusFound)
	})
	mux.HandleFunc("GET /wechat/callback", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "TGC", Value: "TGT-1", Path: "/cas"})
		toService(w, r)
	})
	mux.HandleFunc("GET /cas/p3/serviceValidate", func(w http.ResponseWriter, r *http.Request) {
		if !f.faulty("validate") {
			fmt.Fprintf(w, okAnswer, "u1")
			return
		}
		switch f.fault.Load() {
		case "wrong user":
			fmt.Fprintf(w, okAnswer, "someone-else")
		case "authenticationFailure":
			fmt.Fprint(w, failedAnswer)
		case "server error":
			http.Error(w, "oops", http.StatusInternalServerError)
		}
	})
	return f
}

func TestParseValidation(t *testing.T) {
	if u, err := parseValidation([]byte(fmt.Sprintf(okAnswer, "u1"))); err != nil || u != "u1" {
		t.Errorf("success: %q, %v", u, err)
	}
	for name, body := range map[string]string{
		"failure":      failedAnswer,
		"no user":      fmt.Sprintf(okAnswer, " "),
		"not XML":      "<html><body>Bad Gateway</body></html>",
		"empty answer": `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"></cas:serviceResponse>`,
	} {
		if u, err := parseValidation([]byte(body)); err == nil {
			t.Errorf("%s: user %q, want an error", name, u)
		}
	}
	_, err := parseValidation([]byte(failedAnswer))
	if err == nil || !strings.Contains(err.Error(), "INVALID_TICKET") {
		t.Errorf("failure: %v, want its code", err)
	}
}

func TestTicketFrom(t *testing.T) {
	const svc = "http://127.0.0.1:8080/sandbox/app/"
	at := func(status int, loc string) page { return page{url: "http://wx/x", status: status, location: loc} }
	if st, err := ticketFrom(at(303, svc+"?ticket=ST-ABC"), svc); err != nil || st != "ST-ABC" {
		t.Errorf("good redirect: %q, %v", st, err)
	}
	if st, err := ticketFrom(at(302, "https://site/app/?x=1&ticket=ST-Q"), "https://site/app/?x=1"); err != nil || st != "ST-Q" {
		t.Errorf("service with a query: %q, %v", st, err)
	}
	for name, p := range map[string]page{
		"other service":     at(303, "http://127.0.0.1:8080/sandbox/appx/?ticket=ST-1"),
		"other host":        at(303, "http://evil.example/sandbox/app/?ticket=ST-1"),
		"no ticket":         at(303, svc),
		"not a ST":          at(303, svc+"?ticket=TGT-1"),
		"more than ticket":  at(303, svc+"?ticket=ST-1&x=2"),
		"phone page (200)":  {url: "http://wx/login", status: 200, body: `<input id="phone">`},
		"rate limit (429)":  at(429, ""),
		"redirect to login": at(303, "http://127.0.0.1:8080/login?flow=F"),
	} {
		if st, err := ticketFrom(p, svc); err == nil {
			t.Errorf("%s: ticket %q, want an error", name, st)
		}
	}
}

// Every load checks every answer: a validation naming another user, a
// failed validation, an error status or a ticket sent elsewhere is an
// error, and never a counted operation.
func TestLoadsCountWrongAnswersAsErrors(t *testing.T) {
	for _, fault := range []string{"wrong user", "authenticationFailure", "server error", "other service"} {
		t.Run(fault, func(t *testing.T) {
			f := newFakeCAS(t)
			l := &loadRun{t: newTarget(f.srv.URL, f.service, f.srv.URL+"/sms", 2), people: []person{{name: "p0", user: "u1"}},
				workers: 2, warmup: 0, duration: 200 * time.Millisecond, fill: 50 * time.Millisecond}
			f.fault.Store(fault)
			for _, load := range allLoads {
				// The SSO loads first log one browser per worker in: those
				// logins are answered right, so the fault meets the
				// measured operations.
				f.goodLeft.Store(0)
				if load != "returning" {
					f.goodLeft.Store(int64(l.workers))
				}
				r := l.run(context.Background(), load)
				if r.errors == 0 || r.ops() != 0 || r.firstErr == nil || strings.Contains(r.firstErr.Error(), "SSO session") {
					t.Errorf("%s: %d errors, %d ops counted, first error %v; want measured operations failing", load, r.errors, r.ops(), r.firstErr)
				}
			}
		})
	}
}

// With right answers the same fake gives counted operations, no errors,
// and the requests each load's operation takes.
func TestLoadsAgainstAGoodFake(t *testing.T) {
	f := newFakeCAS(t)
	l := &loadRun{t: newTarget(f.srv.URL, f.service, f.srv.URL+"/sms", 2), people: []person{{name: "p0", user: "u1"}, {name: "p1", user: "u1"}},
		workers: 2, warmup: 20 * time.Millisecond, duration: 200 * time.Millisecond, fill: 50 * time.Millisecond}
	for load, want := range map[string]float64{"returning": 5, "sso": 2, "validate": 1} {
		r := l.run(context.Background(), load)
		if r.errors != 0 || r.ops() == 0 || r.rate() <= 0 || r.requestsPerOp() != want {
			t.Errorf("%s: %d errors (%v), %d ops, %.2f requests/op (want %v)", load, r.errors, r.firstErr, r.ops(), r.requestsPerOp(), want)
		}
	}
}
