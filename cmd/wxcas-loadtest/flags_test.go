package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBadFlagsExit2(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "floor")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"-bogus"}, "flag provided but not defined"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-workers", "0"}, "at least 1"},
		{[]string{"-duration", "0s"}, "-duration"},
		{[]string{"-load", "everything"}, `-load "everything"`},
		{[]string{"-base", "127.0.0.1:8080"}, "-base"},
		{[]string{"-prefix", "a b"}, "-prefix"},
		{[]string{"-first-phone", "12000000000"}, "-first-phone"},
		{[]string{"-first-phone", "19999999999", "-people", "2"}, "-first-phone"}, // runs past 11 digits
		{[]string{"-floor", "/nonexistent/floor", "-floor-dsn", "u@tcp(h)/f"}, "not an executable"},
		{[]string{"-floor", exe}, "-floor needs -floor-dsn"},
		{[]string{"-floor", exe, "-floor-dsn", "u@tcp(h)/"}, "must name a database"},
		{[]string{"-floor-dsn", "u@tcp(h)/f"}, "without -floor"},
		{[]string{"-emulator", "127.0.0.1:18081"}, "-emulator"},
		{[]string{"-load", "none"}, "-load none measures nothing"},
		{[]string{"-seed", "10"}, "need -seed-dsn"},
		{[]string{"-unseed"}, "need -seed-dsn"},
		{[]string{"-seed", "-1", "-seed-dsn", "u@tcp(h)/w"}, "-seed -1"},
		{[]string{"-seed", "100000001", "-seed-dsn", "u@tcp(h)/w"}, "-seed 100000001"},
		{[]string{"-seed-dsn", "u@tcp(h)/w"}, "-seed-dsn without -seed or -unseed"},
		{[]string{"-seed", "10", "-seed-dsn", "u@tcp(h)/"}, "-seed-dsn must name wxcas's database"},
		{[]string{"-seed", "10", "-seed-dsn", "not a dsn"}, "-seed-dsn"},
		{[]string{"-seed", "10", "-seed-dsn", "u@tcp(h)/f", "-floor", exe, "-floor-dsn", "u@tcp(h)/f"}, "names the floor's database"},
		// The same database written otherwise (user, password, default port, options).
		{[]string{"-unseed", "-seed-dsn", "w@tcp(h)/f?parseTime=true", "-floor", exe, "-floor-dsn", "u:p@tcp(h:3306)/f"}, "names the floor's database"},
		{[]string{"-seed", "10", "-seed-dsn", "u@tcp(h)/w", "-load", "none", "-floor", exe, "-floor-dsn", "u@tcp(h)/f"}, "-floor with -load none"},
	} {
		var out, errs bytes.Buffer
		if code := run(context.Background(), c.args, &out, &errs); code != 2 || !strings.Contains(errs.String(), c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errs.String(), c.want)
		}
	}
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, &errs); code != 0 || !strings.Contains(errs.String(), "-floor-dsn") {
		t.Errorf("-h: exit %d, %q", code, errs.String())
	}
}

func TestDefaultsFollowBase(t *testing.T) {
	c, err := parseFlags([]string{"-base", "http://127.0.0.1:9000/", "-people", "3"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.base != "http://127.0.0.1:9000" || c.service != "http://127.0.0.1:9000/sandbox/app/" || c.inbox != "http://127.0.0.1:9000/sandbox/sms" {
		t.Errorf("base %q service %q inbox %q", c.base, c.service, c.inbox)
	}
	ps := makePeople(c.prefix, c.people, c.firstPhone)
	if len(ps) != 3 || ps[2].name != "lt2" || ps[2].phone != "13700000002" || ps[2].e164() != "+8613700000002" {
		t.Errorf("people %+v", ps)
	}
	if got := strings.Join(c.loads(), ","); got != "returning,sso,validate" {
		t.Errorf("-load all runs %s", got)
	}
}

// TestInboxFollowsEmulator: with -emulator the SMS codes are read from
// `wxcas emulator`'s inbox, unless -inbox says otherwise.
func TestInboxFollowsEmulator(t *testing.T) {
	c, err := parseFlags([]string{"-base", "http://127.0.0.1:9000", "-emulator", "http://127.0.0.1:9001/"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.emulator != "http://127.0.0.1:9001" || c.inbox != "http://127.0.0.1:9001/sandbox/sms" || c.service != "http://127.0.0.1:9000/sandbox/app/" {
		t.Errorf("emulator %q inbox %q service %q", c.emulator, c.inbox, c.service)
	}
	c, err = parseFlags([]string{"-emulator", "http://127.0.0.1:9001", "-inbox", "http://127.0.0.1:9002/sms"}, &bytes.Buffer{})
	if err != nil || c.inbox != "http://127.0.0.1:9002/sms" {
		t.Errorf("inbox %q, %v", c.inbox, err)
	}
}

// -unseed alone is a step between measurements and measures nothing; with
// -seed, or an explicit -load, the loads follow.
func TestUnseedAloneRunsNoLoad(t *testing.T) {
	for _, c := range []struct {
		args []string
		load string
	}{
		{[]string{"-unseed"}, "none"},
		{[]string{"-unseed", "-load", "sso"}, "sso"},
		{[]string{"-unseed", "-seed", "5"}, "all"},
		{[]string{"-seed", "5"}, "all"},
		{[]string{"-seed", "5", "-load", "none"}, "none"},
	} {
		cfg, err := parseFlags(append(c.args, "-seed-dsn", "u@tcp(h)/w"), &bytes.Buffer{})
		if err != nil || cfg.load != c.load || len(cfg.loads()) != map[string]int{"none": 0, "sso": 1, "all": 3}[c.load] {
			t.Errorf("%q: load %q (%v), %v; want %q", c.args, cfg.load, cfg.loads(), err, c.load)
		}
	}
}
