package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		ok      bool
		want    []string // in this order
		notWant []string
	}{{
		name: "passing run keeps no chatter",
		stream: `test-deps: ready
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"chatter of a passing test\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"run","Package":"p","Test":"TestS/mysql"}
{"Action":"pass","Package":"p","Test":"TestS/mysql"}
{"Action":"skip","Package":"p","Test":"TestS/sqlite"}
{"Action":"pass","Package":"p","Elapsed":1.25}`,
		ok:      true,
		want:    []string{"test-deps: ready", "ok   p 1.2s", "MySQL conformance: 1 passed, 0 skipped", "2 passed, 0 failed, 1 skipped"},
		notWant: []string{"chatter", "== failures"},
	}, {
		name: "failing subtest printed whole at the end",
		stream: `{"Action":"output","Package":"p","Test":"TestX","Output":"=== RUN   TestX\n"}
{"Action":"output","Package":"p","Test":"TestX/mysql","Output":"    x_test.go:12: boom\n"}
{"Action":"fail","Package":"p","Test":"TestX/mysql"}
{"Action":"output","Package":"p","Test":"TestX","Output":"--- FAIL: TestX\n"}
{"Action":"fail","Package":"p","Test":"TestX"}
{"Action":"pass","Package":"q","Test":"TestY"}
{"Action":"fail","Package":"p","Elapsed":2}
{"Action":"pass","Package":"q","Elapsed":1}`,
		want:    []string{"FAIL p 2.0s", "ok   q 1.0s", "== failures", "--- p TestX/mysql", "x_test.go:12: boom", "1 passed, 2 failed, 0 skipped"},
		notWant: []string{"--- p TestX\n"},
	}, {
		name: "build failure shows the compiler output",
		stream: `{"ImportPath":"p [p.test]","Action":"build-output","Output":"# p\n./a.go:3:2: undefined: x\n"}
{"ImportPath":"p [p.test]","Action":"build-fail"}
{"Action":"start","Package":"p"}
{"Action":"output","Package":"p","Output":"FAIL\tp [build failed]\n"}
{"Action":"fail","Package":"p","Elapsed":0,"FailedBuild":"p [p.test]"}`,
		want: []string{"FAIL p 0.0s", "== failures", "--- p [p.test] (build)", "undefined: x", "--- p (package)", "[build failed]", "0 passed, 1 failed"},
	}, {
		name:   "crash outside a test fails the package",
		stream: `{"Action":"output","Package":"p","Output":"panic: init\n"}` + "\n" + `{"Action":"fail","Package":"p","Elapsed":0.1}`,
		want:   []string{"--- p (package)", "panic: init", "0 passed, 1 failed"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			r := newReport(&out)
			for _, l := range strings.Split(tt.stream, "\n") {
				r.line([]byte(l))
			}
			if got := r.finish(); got != tt.ok {
				t.Errorf("finish() = %v, want %v", got, tt.ok)
			}
			rest := out.String()
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("%q missing (or out of order) in:\n%s", w, out.String())
				}
				rest = rest[i+len(w):]
			}
			for _, nw := range tt.notWant {
				if strings.Contains(out.String(), nw) {
					t.Errorf("%q should not be in:\n%s", nw, out.String())
				}
			}
		})
	}
}
