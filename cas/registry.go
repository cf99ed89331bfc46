package cas

import (
	"errors"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// registry is the compiled service list; lookups go in configuration order
// and the first match wins.
type registry struct {
	services []*registered
}

type registered struct {
	Service
	key       string         // matchKey of the normalised URL, for exact and prefix
	logoutURL string         // normalised LogoutURL, without fragment
	re        *regexp.Regexp // regex
	proxyRE   *regexp.Regexp // ProxyCallbackPattern, nil when unrestricted
}

func newRegistry(services []Service) (*registry, error) {
	r := &registry{}
	for _, s := range services {
		rs := &registered{Service: s}
		if rs.Name == "" {
			rs.Name = rs.ID
		}
		switch s.Match {
		case MatchExact, MatchPrefix:
			// Registered URLs go through the same normalisation as presented
			// ones, so both sides of the comparison are in one form.
			norm, err := normalizeServiceURL(s.URL)
			if err != nil {
				return nil, errors.New("cas: service " + s.ID + ": url " + err.Error())
			}
			rs.key = matchKey(norm)
		case MatchRegex:
			re, err := compileServiceRegex(s.URL)
			if err != nil {
				return nil, err
			}
			rs.re = re
		}
		if s.LogoutURL != "" {
			// Single logout goes only to normalised URLs, like redirects.
			norm, err := normalizeServiceURL(s.LogoutURL)
			if err != nil {
				return nil, errors.New("cas: service " + s.ID + ": logout_url " + err.Error())
			}
			rs.logoutURL = stripFragment(norm)
		}
		if s.ProxyCallbackPattern != "" {
			re, err := compileServiceRegex(s.ProxyCallbackPattern)
			if err != nil {
				return nil, err
			}
			rs.proxyRE = re
		}
		r.services = append(r.services, rs)
	}
	return r, nil
}

// lookup normalises a service URL and returns the registered service it
// names together with the normalised URL, which is the only form that may be
// redirected to, stored with a ticket or sent single logout. Malformed URLs
// (see normalizeServiceURL) never match: nil and the reason.
func (r *registry) lookup(serviceURL string) (*registered, string, error) {
	norm, err := normalizeServiceURL(serviceURL)
	if err != nil {
		return nil, "", err
	}
	return r.match(norm), norm, nil
}

// match finds the service for an already normalised URL.
func (r *registry) match(norm string) *registered {
	key := matchKey(norm)
	for _, s := range r.services {
		switch s.Match {
		case MatchExact:
			if key == s.key {
				return s
			}
		case MatchPrefix:
			if prefixMatches(s.key, key) {
				return s
			}
		case MatchRegex:
			if s.re.MatchString(stripFragment(norm)) {
				return s
			}
		}
	}
	return nil
}

// prefixMatches reports whether key lies under the registered prefix. The
// match ends on a path-segment boundary: a prefix ending in "/" is one
// already, and a prefix without the slash (https://h/app) covers itself,
// its subtree (/app/...) and its query (/app?...), but not /appx, which is
// another resource. A prefix that reaches into the query is a plain string
// prefix of the query.
func prefixMatches(prefix, key string) bool {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return false
	}
	if rest == "" || strings.HasSuffix(prefix, "/") || strings.Contains(prefix, "?") {
		return true
	}
	return rest[0] == '/' || rest[0] == '?'
}

// lookupPresented is lookup for a service presented at validation, which
// Apereo compares URL-decoded: a service sent encoded once too often (it is
// not a URL as given) is decoded once and tried again.
func (r *registry) lookupPresented(serviceURL string) (*registered, string, error) {
	svc, norm, err := r.lookup(serviceURL)
	if err != nil {
		if d, derr := url.QueryUnescape(serviceURL); derr == nil && d != serviceURL {
			return r.lookup(d)
		}
	}
	return svc, norm, err
}

func (r *registry) byID(id string) *registered {
	for _, s := range r.services {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// sameService compares the service a ticket was issued for with the one
// presented at validation: both normalised, fragment removed. Only
// equivalent URLs (RFC 3986 §6.2.2) are the same service: a path or query
// that differs in letter case, or in which a reserved character is encoded
// in one and not the other ("&" and "%26"), names another resource. A URL
// that cannot be normalised matches nothing.
func sameService(issued, presented string) bool {
	a, err := normalizeServiceURL(issued)
	if err != nil {
		return false
	}
	b, err := normalizeServiceURL(presented)
	if err != nil {
		return false
	}
	return matchKey(a) == matchKey(b)
}

// matchKey is the form in which normalised URLs are compared: the URL
// without its fragment (browsers never send it, so clients cannot present
// it). Nothing else is folded: scheme and host are already lower-case, and
// the path and query keep their case and their reserved escapes, because a
// server may tell /app/ from /APP/ and "a=1&b=2" from "a=1%26b=2"; folding
// them would let a prefix rule cover resources outside it.
func matchKey(norm string) string { return stripFragment(norm) }

func stripFragment(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		return s[:i]
	}
	return s
}

// maxServiceURL bounds a service URL, query included.
const maxServiceURL = 4096

// normalizeServiceURL is the one place where a service URL (from a client or
// from the configuration) becomes the URL wxcas works with: it is matched
// against the registry, redirected to, stored with tickets and sent single
// logout. A browser resolves the result to itself, so what matched is where
// the ticket goes. Normalisation follows RFC 3986 §6.2.2 and §6.2.3:
//
//   - scheme and host lower-case, the default port (and an empty one) removed;
//   - percent-encodings of unreserved characters decoded, all others
//     upper-case hex, and bytes that may not appear raw (non-ASCII, quotes,
//     angle brackets, ...) percent-encoded;
//   - dot segments removed after decoding, so %2e%2e is "..", as browsers
//     treat it; an empty path becomes "/".
//
// It refuses what it cannot make unambiguous: anything but an absolute
// http(s) URL with a host, user information, spaces and control characters
// (browsers drop tabs and newlines, servers may not), backslashes anywhere
// (browsers read them as "/"), encoded slashes and backslashes in the path
// (servers disagree about them), double-encoded dots and slashes (a server
// that decodes twice would see "..") and dot segments with parameters
// ("..;", which Java servers read as ".."), and malformed percent-encodings.
// The fragment is kept (normalised) for the redirect; matching ignores it.
func normalizeServiceURL(raw string) (string, error) {
	if len(raw) > maxServiceURL {
		return "", errors.New("is too long")
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c <= ' ' || c == 0x7f:
			return "", errors.New("contains spaces or control characters")
		case c == '\\':
			return "", errors.New("contains a backslash")
		}
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "http" && scheme != "https") {
		return "", errors.New("must be an absolute http(s) URL")
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host, err := normalizeAuthority(scheme, rest[:end])
	if err != nil {
		return "", err
	}
	rest = rest[end:]
	rest, frag, hasFrag := strings.Cut(rest, "#")
	path, query, hasQuery := strings.Cut(rest, "?")

	path, err = normalizePath(path)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(scheme + "://" + host + path)
	if hasQuery {
		q, err := normalizePercent(query, partQuery)
		if err != nil {
			return "", err
		}
		b.WriteString("?" + q)
	}
	if hasFrag {
		f, err := normalizePercent(frag, partQuery)
		if err != nil {
			return "", err
		}
		b.WriteString("#" + f)
	}
	// Percent-encoding can triple a URL: the limit holds for the result
	// too, so normalising it again gives the same URL.
	if b.Len() > maxServiceURL {
		return "", errors.New("is too long")
	}
	return b.String(), nil
}

// normalizeAuthority returns host[:port] in normal form.
func normalizeAuthority(scheme, authority string) (string, error) {
	if authority == "" {
		return "", errors.New("must be an absolute http(s) URL")
	}
	if strings.Contains(authority, "@") {
		return "", errors.New("must not contain user information")
	}
	var host, port string
	if strings.HasPrefix(authority, "[") {
		inside, after, ok := strings.Cut(authority[1:], "]")
		ip, err := netip.ParseAddr(inside)
		if !ok || err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", errors.New("has an invalid host")
		}
		host = "[" + ip.String() + "]"
		if after != "" {
			p, ok := strings.CutPrefix(after, ":")
			if !ok {
				return "", errors.New("has an invalid host")
			}
			port = p
		}
	} else {
		h, p, _ := strings.Cut(authority, ":")
		host, port = strings.ToLower(h), p
		if host == "" {
			return "", errors.New("has an invalid host")
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			// Letters, digits, "-", "." and "_": the host is compared as a
			// string, so percent-encoded or international (non-punycode)
			// names, which browsers rewrite, are refused.
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
				return "", errors.New("has an invalid host")
			}
		}
	}
	if port == "" {
		return host, nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] == '+' || port[0] == '-' {
		return "", errors.New("has an invalid port")
	}
	if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
		return host, nil
	}
	return host + ":" + strconv.Itoa(n), nil
}

// normalizePath normalises the encodings of an absolute path, refuses the
// ambiguous forms and removes dot segments.
func normalizePath(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	p, err := normalizePercent(p, partPath)
	if err != nil {
		return "", err
	}
	upper := strings.ToUpper(p)
	for _, enc := range []string{"%252E", "%252F", "%255C"} {
		if strings.Contains(upper, enc) {
			return "", errors.New("contains a double-encoded dot, slash or backslash")
		}
	}
	for _, seg := range strings.Split(p, "/") {
		name, _, hasParam := strings.Cut(seg, ";")
		if n, _, encParam := strings.Cut(strings.ToUpper(name), "%3B"); encParam {
			name, hasParam = n, true
		}
		if hasParam && (name == "." || name == "..") {
			return "", errors.New("contains a dot segment with parameters")
		}
	}
	return removeDotSegments(p), nil
}

// removeDotSegments is RFC 3986 §5.2.4 for an absolute path.
func removeDotSegments(p string) string {
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "") // "/a/.." is "/a/", a directory
		}
	}
	return "/" + strings.Join(out, "/")
}

type urlPart int

const (
	partPath urlPart = iota
	partQuery
)

const hexDigits = "0123456789ABCDEF"

// normalizePercent decodes percent-encoded unreserved characters, upper-cases
// the hex of all other encodings and encodes bytes that may not appear raw in
// this part. In the path, encoded "/" and "\" are refused.
func normalizePercent(s string, part urlPart) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
				return "", errors.New("has a malformed percent-encoding")
			}
			v := byte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			switch {
			case unreserved(v):
				b.WriteByte(v)
			case part == partPath && (v == '/' || v == '\\'):
				return "", errors.New("contains an encoded slash or backslash in the path")
			default:
				b.WriteByte('%')
				b.WriteByte(hexDigits[v>>4])
				b.WriteByte(hexDigits[v&15])
			}
			continue
		}
		if allowedRaw(c, part) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unreserved is RFC 3986's ALPHA / DIGIT / "-" / "." / "_" / "~".
func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// allowedRaw: pchar (unreserved, sub-delims, ":" and "@") and "/", plus
// "?" in the query and fragment.
func allowedRaw(c byte, part urlPart) bool {
	if unreserved(c) || strings.IndexByte("!$&'()*+,;=:@/", c) >= 0 {
		return true
	}
	return part == partQuery && c == '?'
}

// withTicket appends ticket=... to a (normalised) service URL, before any
// fragment, with ? or & as the URL needs.
func withTicket(service, ticket string) string {
	base, frag, hasFrag := strings.Cut(service, "#")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	out := base + sep + "ticket=" + url.QueryEscape(ticket)
	if hasFrag {
		out += "#" + frag
	}
	return out
}
