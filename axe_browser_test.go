package main

// Accessibility checks with axe-core in the browser tests: axeCheck runs
// axe's WCAG 2.1 A/AA and best-practice rules on the page a chromedp context
// shows. scripts/test-deps.sh installs axe-core (a pinned version) outside
// the repository; $WXCAS_AXE_JS names another axe.min.js.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// defaultAxeJS is where scripts/test-deps.sh installs axe-core.
const defaultAxeJS = "/opt/wxcas-test/axe/node_modules/axe-core/axe.min.js"

// axeSource is the text of axe.min.js, read once per test binary.
var axeSource = sync.OnceValues(func() (string, error) {
	path := os.Getenv("WXCAS_AXE_JS")
	if path == "" {
		path = defaultAxeJS
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return string(b), nil
})

// requireAxe skips the test where axe.min.js is missing (fails under CI,
// where no test may skip for a missing dependency).
func requireAxe(t *testing.T) {
	t.Helper()
	if _, err := axeSource(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("axe-core is required under CI=true: %v", err)
		}
		t.Skipf("axe-core not installed (%v); scripts/test-deps.sh installs it, or set WXCAS_AXE_JS", err)
	}
}

// axeTags are the rule sets checked: WCAG 2.1 levels A and AA, and axe's
// best practices.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"}

// axeRun runs axe on the document and returns its violations, each node
// reduced to what a report needs. Frames are left out: the only frame our
// pages have is WeChat's QR box (the emulator's in the sandbox), not ours.
var axeRun = fmt.Sprintf(`axe.run(document, {runOnly: {type: "tag", values: %s}, resultTypes: ["violations"], iframes: false})
  .then(r => r.violations.map(v => ({
    id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({
      target: n.target.map(s => Array.isArray(s) ? s.join(" >>> ") : String(s)),
      html: n.html, impact: n.impact || "", summary: n.failureSummary || ""
    }))
  })))`, "[\""+strings.Join(axeTags, `", "`)+"\"]")

type axeViolation struct {
	ID, Impact, Help, HelpURL string
	Nodes                     []struct {
		Target                []string
		HTML, Impact, Summary string
	}
}

// axeCheck injects axe-core into the page ctx shows and runs it. Every
// serious or critical violation fails t (the test goes on: t.Errorf), each
// with the rule, its impact, its help, and where: the target selectors and
// the start of the element's HTML. Moderate and minor ones are logged.
//
// The pages' CSP (script-src 'self') does not stop the injection: the
// script is evaluated through DevTools (Runtime.evaluate), in the page's own
// world, which CSP does not govern.
func axeCheck(ctx context.Context, t *testing.T, page string) {
	t.Helper()
	requireAxe(t)
	src, _ := axeSource()

	// Judge the page once it has loaded, stylesheet included: colour
	// contrast depends on it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ready, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete"`))
		if err == nil && ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("axe %s: the page did not finish loading (%v)", page, err)
		}
	}
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object" && typeof window.axe.run === "function"`))
	if err != nil {
		t.Fatalf("axe %s: %v", page, err)
	}
	if !loaded {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
			t.Fatalf("axe %s: inject axe.min.js: %v", page, err)
		}
	}
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe %s: run: %v", page, err)
	}

	var serious []string
	for _, v := range violations {
		var b strings.Builder
		fmt.Fprintf(&b, "%s [%s] %s (%s)", v.ID, v.Impact, v.Help, v.HelpURL)
		for _, n := range v.Nodes {
			fmt.Fprintf(&b, "\n    %s  %s", strings.Join(n.Target, ", "), snippet(n.HTML, 160))
			if why := failureWhy(n.Summary); why != "" {
				fmt.Fprintf(&b, "\n      %s", snippet(why, 240))
			}
		}
		switch v.Impact {
		case "serious", "critical":
			serious = append(serious, b.String())
		default:
			t.Logf("axe %s: %s", page, b.String())
		}
	}
	if len(serious) > 0 {
		t.Errorf("axe %s: %d serious or critical violation(s):\n  %s", page, len(serious), strings.Join(serious, "\n  "))
	}
}

// failureWhy is axe's failure summary of a node without its headings
// ("Fix any of the following:"): what is wrong, such as the contrast found.
func failureWhy(summary string) string {
	var why []string
	for _, line := range strings.Split(summary, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "Fix ") {
			why = append(why, line)
		}
	}
	return strings.Join(why, "; ")
}

// snippet is s on one line, cut to at most n runes.
func snippet(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
