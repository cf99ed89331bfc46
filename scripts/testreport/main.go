// Command testreport turns `go test -json` output into what a CI log reader
// needs: one line per package, the whole output of every failing test (and of
// packages that failed to build or crashed) gathered at the end, and the
// counts. Lines that are not test2json events (the set-up script's chatter)
// are passed through as they come.
//
// Usage: go test -json ./... | go run ./scripts/testreport
// It exits 1 when anything failed, so CI can use its status alone.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is the subset of test2json's TestEvent this report reads.
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail events
	Test       string
	Elapsed    float64
	Output     string
}

type key struct{ pkg, test string }

type report struct {
	out     io.Writer
	output  map[key]*strings.Builder
	failed  []key           // in the order they failed
	build   strings.Builder // compiler output, shown if a build fails
	passed  int
	skipped int
	mysql   struct{ passed, skipped int }
}

func newReport(out io.Writer) *report {
	return &report{out: out, output: map[key]*strings.Builder{}}
}

func (r *report) line(raw []byte) {
	var e event
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &e) != nil || e.Action == "" {
		fmt.Fprintf(r.out, "%s\n", raw)
		return
	}
	k := key{e.Package, e.Test}
	switch e.Action {
	case "build-output":
		r.build.WriteString(e.Output)
	case "build-fail":
		r.failed = append(r.failed, key{pkg: e.ImportPath, test: "(build)"})
	case "output":
		b := r.output[k]
		if b == nil {
			b = &strings.Builder{}
			r.output[k] = b
		}
		b.WriteString(e.Output)
	case "pass", "fail", "skip":
		if e.Test == "" {
			r.finishPackage(e)
			return
		}
		r.count(e)
		if e.Action != "fail" {
			delete(r.output, k) // a passing test's chatter is not needed
		}
	}
}

func (r *report) count(e event) {
	k := key{e.Package, e.Test}
	mysql := strings.HasSuffix(e.Test, "/mysql")
	switch e.Action {
	case "pass":
		r.passed++
		if mysql {
			r.mysql.passed++
		}
	case "skip":
		r.skipped++
		if mysql {
			r.mysql.skipped++
		}
	case "fail":
		r.failed = append(r.failed, k)
	}
}

func (r *report) finishPackage(e event) {
	status := map[string]string{"pass": "ok  ", "fail": "FAIL", "skip": "----"}[e.Action]
	fmt.Fprintf(r.out, "%s %s %.1fs\n", status, e.Package, e.Elapsed)
	if e.Action != "fail" {
		delete(r.output, key{e.Package, ""})
	} else {
		// Build errors and crashes outside any test show only here.
		r.failed = append(r.failed, key{e.Package, ""})
	}
}

// finish prints the failures and the counts, and reports whether all passed.
func (r *report) finish() bool {
	failures := 0
	if len(r.failed) > 0 {
		fmt.Fprintln(r.out, "\n== failures")
	}
	seen := map[key]bool{}
	for _, k := range r.failed {
		if seen[k] {
			continue
		}
		seen[k] = true
		switch {
		case k.test == "(build)":
		case k.test != "" || !hasFailingChild(r.failed, key{k.pkg, ""}):
			failures++ // a test, or a package that failed outside its tests
		}
		if k.test != "(build)" && hasFailingChild(r.failed, k) {
			continue // its failing (sub)tests carry the detail
		}
		name := k.test
		if name == "" {
			name = "(package)"
		}
		fmt.Fprintf(r.out, "\n--- %s %s\n", k.pkg, name)
		if k.test == "(build)" {
			fmt.Fprint(r.out, r.build.String())
		} else if b := r.output[k]; b != nil {
			fmt.Fprint(r.out, b.String())
		}
	}
	fmt.Fprintf(r.out, "\n== MySQL conformance: %d passed, %d skipped\n", r.mysql.passed, r.mysql.skipped)
	fmt.Fprintf(r.out, "%d passed, %d failed, %d skipped\n", r.passed, failures, r.skipped)
	return len(r.failed) == 0
}

func hasFailingChild(failed []key, parent key) bool {
	for _, k := range failed {
		if k.pkg != parent.pkg || k.test == "" || k.test == "(build)" {
			continue
		}
		if parent.test == "" || strings.HasPrefix(k.test, parent.test+"/") {
			return true
		}
	}
	return false
}

func main() {
	r := newReport(os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		r.line(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	if !r.finish() {
		os.Exit(1)
	}
}
