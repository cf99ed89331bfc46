package static

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// altchaFiles are the files scripts/vendor-altcha.sh copies: the widget's
// CSP-compatible ("external") build and its licence.
var altchaFiles = []string{"LICENSE.txt", "altcha.css", "altcha.js", "worker.js"}

var altchaSum = regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)

// The vendored ALTCHA widget is what scripts/vendor-altcha.sh fetched: every
// file's sha256 is the one it wrote to altcha/VERSION, no file is missing or
// extra, and the licence ships with it. A hand edit fails here; re-run the
// script instead.
func TestVendoredAltchaMatchesVersion(t *testing.T) {
	version, err := fs.ReadFile(FS, "altcha/VERSION")
	if err != nil {
		t.Fatalf("altcha/VERSION is not embedded: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(version), "\n"), "\n")
	if len(lines) < 2 || lines[0] != "altcha@2.3.0" || !strings.HasPrefix(lines[1], "integrity sha512-") {
		t.Fatalf("altcha/VERSION should start with altcha@2.3.0 and the tarball's integrity, got %q", lines[:min(2, len(lines))])
	}
	listed := map[string]string{}
	for _, line := range lines[2:] {
		m := altchaSum.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("altcha/VERSION: unexpected line %q", line)
			continue
		}
		listed[m[2]] = m[1]
	}

	entries, err := fs.ReadDir(FS, "altcha")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() == "VERSION" {
			continue
		}
		names = append(names, e.Name())
		data, err := fs.ReadFile(FS, "altcha/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		want, ok := listed[e.Name()]
		switch {
		case !ok:
			t.Errorf("altcha/%s is not listed in altcha/VERSION: files there come only from scripts/vendor-altcha.sh", e.Name())
		case hex.EncodeToString(sum[:]) != want:
			t.Errorf("altcha/%s has sha256 %x, altcha/VERSION says %s: vendored files are not edited by hand; re-run scripts/vendor-altcha.sh", e.Name(), sum, want)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, altchaFiles) {
		t.Errorf("static/altcha holds %v, want %v", names, altchaFiles)
	}
	for name := range listed {
		if !slices.Contains(names, name) {
			t.Errorf("altcha/VERSION lists %s, which is missing", name)
		}
	}

	license, err := fs.ReadFile(FS, "altcha/LICENSE.txt")
	if err != nil {
		t.Fatalf("the widget's licence must ship with it: %v", err)
	}
	if !strings.Contains(string(license), "MIT License") {
		t.Errorf("altcha/LICENSE.txt is not the MIT licence the package declares")
	}

	// altcha.js starts its worker from ./worker.js beside it: the two must
	// keep these names and directory.
	js, err := fs.ReadFile(FS, "altcha/altcha.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"./worker.js", import.meta.url`) {
		t.Errorf("altcha/altcha.js no longer starts its worker from ./worker.js")
	}
}
