package cas

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalizeServiceURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" means refused
		why      string // substring of the refusal
	}{
		// RFC 3986 §6.2.2 and §6.2.3.
		{"HTTP://Example.EDU/A/b", "http://example.edu/A/b", ""},
		{"http://h", "http://h/", ""},
		{"http://h:80/x", "http://h/x", ""},
		{"https://h:443/x", "https://h/x", ""},
		{"https://h:80/x", "https://h:80/x", ""},
		{"http://h:/x", "http://h/x", ""},
		{"http://h:0080/x", "http://h/x", ""},
		{"http://[2001:DB8::1]:8080/", "http://[2001:db8::1]:8080/", ""},
		{"http://h/%7euser/%41%2d%5f", "http://h/~user/A-_", ""},
		{"http://h/a%3bb%3B", "http://h/a%3Bb%3B", ""},
		{"http://h/caf%c3%a9/€", "http://h/caf%C3%A9/%E2%82%AC", ""},
		{"http://h/a\"b<c>", "http://h/a%22b%3Cc%3E", ""},
		{"http://h/a?x=%2f&y=a+b&z=%7E", "http://h/a?x=%2F&y=a+b&z=~", ""},
		{"http://h/a?", "http://h/a?", ""},
		{"http://h/a#/r?q=%7e", "http://h/a#/r?q=~", ""},
		// Dot segments (§5.2.4), encoded or not.
		{"http://h/a/b/../c", "http://h/a/c", ""},
		{"http://h/a/./b/.", "http://h/a/b/", ""},
		{"http://h/a/b/..", "http://h/a/", ""},
		{"http://h/../../x", "http://h/x", ""},
		{"http://h/sandbox/app/%2e%2e/%2e%2e/attacker/steal", "http://h/attacker/steal", ""},
		{"http://h/sandbox/app/%2E%2E/x", "http://h/sandbox/x", ""},
		{"http://h/sandbox/app/.%2e/x", "http://h/sandbox/x", ""},
		{"http://h/sandbox/app/%2e./x", "http://h/sandbox/x", ""},
		{"http://h/a//../b", "http://h/a/b", ""},
		{"http://h/a/...", "http://h/a/...", ""},
		{"http://h/a/..?x=/../", "http://h/?x=/../", ""},
		// Refused.
		{"", "", "absolute http(s)"},
		{"/relative", "", "absolute http(s)"},
		{"//h/x", "", "absolute http(s)"},
		{"http:/h/x", "", "absolute http(s)"},
		{"http:///h/x", "", "absolute http(s)"},
		{"ftp://h/", "", "absolute http(s)"},
		{"javascript://h/%0aalert(1)", "", "absolute http(s)"},
		{"http://u@h/", "", "user information"},
		{"http://h@evil.com/", "", "user information"},
		{"http://h\\@evil.com/", "", "backslash"},
		{"http://h/a\\..\\..\\x", "", "backslash"},
		{"http://h/a/%5c../x", "", "encoded slash or backslash"},
		{"http://h/a/..%2f..%2fx", "", "encoded slash or backslash"},
		{"http://h/a/%2F", "", "encoded slash or backslash"},
		{"http://h/a/%252e%252e/x", "", "double-encoded"},
		{"http://h/a/%252f", "", "double-encoded"},
		{"http://h/a/..;/x", "", "dot segment with parameters"},
		{"http://h/a/.;x/y", "", "dot segment with parameters"},
		{"http://h/a/%2e%2e%3b/x", "", "dot segment with parameters"},
		{"http://h/a/.\t./x", "", "control characters"},
		{"http://h/a/\n", "", "control characters"},
		{"http://h/a b", "", "spaces"},
		{"http://h/%zz", "", "percent-encoding"},
		{"http://h/%2", "", "percent-encoding"},
		{"http://h%2eevil.com/", "", "invalid host"},
		{"http://hé.com/", "", "invalid host"},
		{"http://h:99999/", "", "invalid port"},
		{"http://h:-1/", "", "invalid port"},
		{"http://h:1:2/", "", "invalid port"},
		{"http://[::1%25eth0]/", "", "invalid host"},
		{"http://:80/", "", "invalid host"},
		{"http://h/" + strings.Repeat("a", maxServiceURL), "", "too long"},
		{"http://h/" + strings.Repeat("é", maxServiceURL/3), "", "too long"}, // only once encoded
	} {
		got, err := normalizeServiceURL(tc.in)
		if tc.want == "" {
			require.Error(t, err, "%q gave %q", tc.in, got)
			require.Contains(t, err.Error(), tc.why, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
		again, err := normalizeServiceURL(got)
		require.NoError(t, err, got)
		require.Equal(t, got, again, "idempotent")
	}
}

func TestPrefixAndExactMatching(t *testing.T) {
	reg, err := newRegistry([]Service{
		{ID: "slash", Match: MatchPrefix, URL: "HTTP://H:80/sandbox/app/"},
		{ID: "noslash", Match: MatchPrefix, URL: "http://h/docs/%2e/guide"},
		{ID: "query", Match: MatchPrefix, URL: "https://q/login?next="},
		{ID: "exact", Match: MatchExact, URL: "https://e/./a/../login?x=%2fy"},
		{ID: "regex", Match: MatchRegex, URL: `https://r/safe/.*`},
	})
	require.NoError(t, err)
	for _, tc := range []struct{ in, id string }{
		{"http://h/sandbox/app/", "slash"},
		{"http://h/sandbox/app/x/y?z", "slash"},
		{"HTTP://h:80/sandbox/app/x", "slash"}, // scheme and host are case-insensitive
		{"http://H:80/SANDBOX/App/x", ""},      // the path is not: another resource on most servers
		{"http://H/sandbox/APP/", ""},
		{"http://h/sandbox/app/%2e%2e/%2e%2e/attacker/steal", ""},
		{"http://h/sandbox/app/x/../../app/y", "slash"},
		{"http://h/sandbox/app/x/../../other/y", ""},
		{"http://h/sandbox/app", ""}, // shorter than the prefix
		{"http://h/sandbox/appx/", ""},
		{"http://h:8080/sandbox/app/", ""},
		{"https://h/sandbox/app/", ""},
		{"http://h/docs/guide", "noslash"},
		{"http://h/docs/guide/", "noslash"},
		{"http://h/docs/guide/a", "noslash"},
		{"http://h/docs/guide?x", "noslash"},
		{"http://h/docs/guide#f", "noslash"},
		{"http://h/docs/guidebook", ""}, // not on a segment boundary
		{"http://h/docs/guide.evil", ""},
		{"https://q/login?next=/x", "query"},
		{"https://q/login?next=%2Fx", "query"},
		{"https://e/login?x=/y", ""}, // "/" and "%2F" in a query are not equivalent (RFC 3986 §2.2)
		{"https://e/login?x=%2Fy#f", "exact"},
		{"https://e/login/", ""},
		{"https://r/safe/x", "regex"},
		{"https://r/safe/../admin", ""}, // normalised before the regex sees it
		{"https://r/safe/%2e%2e/admin", ""},
	} {
		svc, norm, err := reg.lookup(tc.in)
		if tc.id == "" {
			require.Nil(t, svc, "%s matched as %s", tc.in, norm)
			continue
		}
		require.NoError(t, err, tc.in)
		require.NotNil(t, svc, tc.in)
		require.Equal(t, tc.id, svc.ID, tc.in)
	}
}

// browserResolve is what a WHATWG browser makes of a redirect to raw: tabs
// and newlines removed, "\" read as "/" before the query, %2e read as "." in
// dot segments (decoding it everywhere in the path yields the same dot
// segments), then dot segments removed (url.ResolveReference).
func browserResolve(raw string) (*url.URL, error) {
	raw = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(raw)
	end := strings.IndexAny(raw, "?#")
	if end < 0 {
		end = len(raw)
	}
	head := strings.ReplaceAll(raw[:end], `\`, "/")
	head = strings.NewReplacer("%2e", ".", "%2E", ".").Replace(head)
	u, err := url.Parse(head + raw[end:])
	if err != nil {
		return nil, err
	}
	return (&url.URL{Scheme: "http", Host: "base.invalid", Path: "/"}).ResolveReference(u), nil
}

// FuzzPrefixStaysUnderPrefix: whatever a prefix rule accepts, the browser
// following the ticket redirect lands under the prefix: same scheme, host
// and port, and a path that starts with the prefix's path (compared without
// regard to case, as matching is). The seeds, the known escapes, run in the
// normal test suite.
func FuzzPrefixStaysUnderPrefix(f *testing.F) {
	for _, s := range []string{
		"http://h/sandbox/app/",
		"http://h/sandbox/app/x?y=1#z",
		"http://h/sandbox/app/%2e%2e/%2e%2e/attacker/steal",
		"http://h/SANDBOX/APP/",
		"HTTP://H/Sandbox/App/x",
		"http://h/sandbox/%41pp/",
		"http://h/sandbox/app%2F",
		"http://h/sandbox/app/%2E%2E/%2E%2E/attacker/steal",
		"http://h/sandbox/app/.%2e/.%2e/attacker",
		"http://h/sandbox/app/%2e./x",
		"http://h/sandbox/app/../../attacker",
		"http://h/sandbox/app/..;/..;/attacker",
		"http://h/sandbox/app/%252e%252e/%252e%252e/attacker",
		"http://h/sandbox/app//../../attacker",
		"http://h/sandbox/app/..//attacker",
		"http://h/sandbox/app/\\..\\..\\attacker",
		"http://h/sandbox/app/%5c..%5c..%5cattacker",
		"http://h/sandbox/app/..%2f..%2fattacker",
		"http://h/sandbox/app/.\t./.\n./attacker",
		"http://h/sandbox/app/@evil.com/",
		"http://h@evil.com/sandbox/app/",
		"http://evil.com\\@h/sandbox/app/",
		"http://h/sandbox/app/\u2025/attacker",
		"http://h/sandbox/app/%ef%bc%8e%ef%bc%8e/attacker",
		"http://h:80/sandbox/app/x",
		"http://h:8080/sandbox/app/x",
		"HTTP://H/SANDBOX/APP/x",
		"http://h/sandbox/app?x",
		"http://h/sandbox/appx",
		"http://h/sandbox/app/x?/../../y",
		"http://h/sandbox/app/x#/../../y",
		"http://h/sandbox/app/%2e%2e%3b/x",
		"http://h/sandbox/app/" + strings.Repeat("\xbf", 1500), // too long once encoded
	} {
		f.Add(s)
	}
	reg, err := newRegistry([]Service{
		{ID: "slash", Match: MatchPrefix, URL: "http://h/sandbox/app/"},
		{ID: "noslash", Match: MatchPrefix, URL: "http://h/sandbox/app"},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, service string) {
		svc, norm, err := reg.lookup(service)
		if err != nil || svc == nil {
			return
		}
		again, err := normalizeServiceURL(norm)
		if err != nil || again != norm {
			t.Fatalf("normalisation of %.200q is not idempotent: %.200q then %.200q (%v)", service, norm, again, err)
		}
		redirect := withTicket(norm, "ST-1")
		u, err := browserResolve(redirect)
		if err != nil {
			t.Fatalf("%q accepted as %q, which a browser cannot parse: %v", service, redirect, err)
		}
		path := u.EscapedPath() // case matters in a path: /SANDBOX/APP/ is elsewhere
		under := strings.HasPrefix(path, "/sandbox/app/") || (svc.ID == "noslash" && path == "/sandbox/app")
		if u.Scheme != "http" || u.User != nil || strings.ToLower(u.Hostname()) != "h" ||
			(u.Port() != "" && u.Port() != "80") || !under {
			t.Fatalf("%q accepted by %s as %q; the browser goes to %q", service, svc.ID, redirect, u)
		}
		if u.Query().Get("ticket") != "ST-1" {
			t.Fatalf("%q: the ticket is lost in %q", service, redirect)
		}
	})
}
