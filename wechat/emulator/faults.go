package emulator

import (
	"bytes"
	"net/http"
	"time"
)

// Fault replaces the emulator's answer to one request. Queue faults with
// InjectFault; each request to the path consumes the first queued fault.
//
// Order of effects: with AfterProcessing the request is first handled
// normally (consuming its code); then Delay passes; then the first of
// CloseConnection, Raw or ErrCode that is set decides the answer; a fault
// with none of them sends the normal answer.
type Fault struct {
	// ErrCode answers HTTP 200 {"errcode":ErrCode,"errmsg":ErrMsg+", rid: ..."}.
	ErrCode int
	// ErrMsg defaults to WeChat's text for ErrCode.
	ErrMsg string
	// Delay waits before answering (ends early if the client goes away).
	Delay time.Duration
	// Raw sends Body as is (possibly empty) with Status and ContentType.
	Raw         bool
	Body        []byte
	Status      int    // default 200
	ContentType string // default "text/html; charset=gbk"
	// CloseConnection drops the connection without an answer.
	CloseConnection bool
	// AfterProcessing handles the request normally before applying the
	// fault, so the code is consumed although the caller sees a failure.
	AfterProcessing bool
}

// Common faults.
var (
	FaultBusy        = Fault{ErrCode: -1}
	FaultRateLimited = Fault{ErrCode: 45011}
	FaultIPBlocked   = Fault{ErrCode: 40164}
	FaultCodeBlocked = Fault{ErrCode: 40226}
	FaultEmptyBody   = Fault{Raw: true}
	FaultHTMLBody    = Fault{Raw: true, Body: []byte("<html><body>502 Bad Gateway</body></html>"), Status: http.StatusBadGateway}
	FaultGarbage     = Fault{Raw: true, Body: []byte(`{"openid":"o`), ContentType: "text/plain"}
	FaultDrop        = Fault{CloseConnection: true}
)

// FaultDelay answers normally after d.
func FaultDelay(d time.Duration) Fault { return Fault{Delay: d} }

// InjectFault queues faults for the next requests to path (e.g. PathAccessToken).
func (e *Emulator) InjectFault(path string, faults ...Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults[path] = append(e.faults[path], faults...)
}

// ClearFaults drops every queued fault.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = map[string][]Fault{}
}

// Calls returns how many requests reached path (faulted ones included).
func (e *Emulator) Calls(path string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[path]
}

// takeFault counts the request and pops the next fault for path.
func (e *Emulator) takeFault(path string) (Fault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[path]++
	q := e.faults[path]
	if len(q) == 0 {
		return Fault{}, false
	}
	e.faults[path] = q[1:]
	return q[0], true
}

func (e *Emulator) applyFault(w http.ResponseWriter, r *http.Request, h http.HandlerFunc, f Fault) {
	var rec *recorder
	if f.AfterProcessing {
		rec = &recorder{header: http.Header{}}
		h(rec, r)
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case f.CloseConnection:
		// The server closes the connection without writing a response.
		panic(http.ErrAbortHandler)
	case f.Raw:
		ct := f.ContentType
		if ct == "" {
			ct = "text/html; charset=gbk"
		}
		w.Header().Set("Content-Type", ct)
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = w.Write(f.Body)
	case f.ErrCode != 0:
		msg := f.ErrMsg
		if msg == "" {
			msg = errorText(f.ErrCode, r)
		}
		writeError(w, contentTypeFor(r.URL.Path), f.ErrCode, msg)
	case rec != nil:
		rec.flush(w)
	default:
		h(w, r)
	}
}

// recorder buffers a response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rw *recorder) Header() http.Header { return rw.header }
func (rw *recorder) WriteHeader(s int) {
	if rw.status == 0 {
		rw.status = s
	}
}
func (rw *recorder) Write(b []byte) (int, error) {
	rw.WriteHeader(http.StatusOK)
	return rw.body.Write(b)
}
func (rw *recorder) flush(w http.ResponseWriter) {
	for k, v := range rw.header {
		w.Header()[k] = v
	}
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	w.WriteHeader(rw.status)
	_, _ = w.Write(rw.body.Bytes())
}
