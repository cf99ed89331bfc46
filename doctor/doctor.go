// Package doctor is wxcas's live preflight: checks a new deployment passes
// before people use it (database and schema, clock, secrets, the public
// URL's certificate, every WeChat app's credentials and callback domain,
// the Tencent Cloud SMS signature and template). Each check is a small
// value behind Check, so tests run them one by one against the emulator,
// the Tencent fake and a test database; Build assembles them from the
// configuration and Run runs them in order.
//
// A check never changes anything that is in use: it reads the database
// without migrating it, and it asks WeChat and Tencent Cloud only what
// invalidates nothing (a deliberately invalid login code, read-only SMS
// calls). Its results never carry a secret, a code or a token.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is a check's verdict.
type Status string

const (
	// StatusPass: the check ran and found nothing wrong.
	StatusPass Status = "PASS"
	// StatusFail: something must be fixed before people use the
	// deployment; Result.Fix says what.
	StatusFail Status = "FAIL"
	// StatusSkip: the check does not apply to this configuration (e.g. no
	// SMS provider in the sandbox); Result.Detail says why.
	StatusSkip Status = "SKIP"
)

// Result is what one check found.
type Result struct {
	Status Status
	// Detail is one line: what was checked and what was seen.
	Detail string
	// Fix is one concrete line for a failure ("set X to ..."); empty
	// otherwise.
	Fix string
}

// Pass, Fail and Skip build Results.
func Pass(detail string) Result      { return Result{Status: StatusPass, Detail: detail} }
func Fail(detail, fix string) Result { return Result{Status: StatusFail, Detail: detail, Fix: fix} }
func Skip(why string) Result         { return Result{Status: StatusSkip, Detail: why} }

// Check is one preflight check.
type Check interface {
	// Name identifies the check in the output ("database",
	// "wechat_credentials/wx...").
	Name() string
	// Run performs the check; ctx carries its deadline.
	Run(ctx context.Context) Result
}

// Line is a check's result under its name, as printed.
type Line struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

// DefaultCheckTimeout bounds one check (a WeChat call has its own,
// shorter, wechat.timeout inside it).
const DefaultCheckTimeout = 30 * time.Second

// Run runs the checks in order, each under its own timeout (0:
// DefaultCheckTimeout), and returns one Line per check. A check that
// panics is reported as a failure, so one bug does not hide the other
// checks' results.
func Run(ctx context.Context, checks []Check, timeout time.Duration) []Line {
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	lines := make([]Line, 0, len(checks))
	for _, c := range checks {
		r := runOne(ctx, c, timeout)
		lines = append(lines, Line{Name: c.Name(), Status: r.Status, Detail: r.Detail, Fix: r.Fix})
	}
	return lines
}

func runOne(ctx context.Context, c Check, timeout time.Duration) (r Result) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			r = Fail(fmt.Sprintf("the check itself failed: %v", p), "report this as a wxcas bug, with the check's name")
		}
	}()
	r = c.Run(ctx)
	if ctx.Err() != nil && r.Status != StatusFail {
		r = Fail(fmt.Sprintf("did not finish within %s", timeout), "run wxcas doctor again; if it keeps timing out, the service this check calls is too slow")
	}
	return r
}

// Failed reports whether any line failed.
func Failed(lines []Line) bool {
	for _, l := range lines {
		if l.Status == StatusFail {
			return true
		}
	}
	return false
}

// WriteText prints the lines for a terminal: status, name and detail, a
// "fix:" line under each failure, then a count.
func WriteText(w io.Writer, lines []Line) error {
	width := 0
	for _, l := range lines {
		width = max(width, len(l.Name))
	}
	var b strings.Builder
	counts := map[Status]int{}
	for _, l := range lines {
		counts[l.Status]++
		fmt.Fprintf(&b, "%-4s  %-*s  %s\n", l.Status, width, l.Name, l.Detail)
		if l.Fix != "" {
			fmt.Fprintf(&b, "      %-*s  fix: %s\n", width, "", l.Fix)
		}
	}
	fmt.Fprintf(&b, "\n%d failed, %d passed, %d skipped\n", counts[StatusFail], counts[StatusPass], counts[StatusSkip])
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints one JSON object per line and check: name, status,
// detail and fix ("" when there is none).
func WriteJSON(w io.Writer, lines []Line) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return nil
}
