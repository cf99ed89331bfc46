package cas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Proxy callbacks (pgtUrl, CAS §2.5.4) are requests wxcas makes to a URL the
// validating client chose, so they are a way into wxcas's network. Policy:
//
//   - A service without proxy_callback_pattern may only have public
//     addresses called back: loopback, private (RFC 1918, IPv6 ULA),
//     link-local, unspecified, multicast, shared (CGNAT 100.64/10) and other
//     special-purpose ranges are refused, also in their IPv4-mapped and
//     embedded (NAT64, 6to4) forms.
//   - A service with a proxy_callback_pattern may reach any address the
//     pattern lets through, private ones included: an operator wrote the
//     pattern, and internal callback hosts are normal.
//
// The address is checked when the connection is made (net.Dialer.Control),
// on the IP actually dialled, so a name that resolves differently at dial
// time (DNS rebinding) gains nothing. Callbacks never follow redirects and
// never go through an HTTP proxy (the check would only see the proxy).
//
// Every failure gets the same answer (callbackRefused), so the client
// cannot tell which internal hosts exist or answer; the log keeps the
// detailed reason for operators, without the pgtId, the pgtIou or the
// callback's query.

// callbackRefused is the message of every INVALID_PROXY_CALLBACK.
const callbackRefused = "The proxy callback was not accepted: pgtUrl must be an https URL this service may use, reachable, and answering 200"

// callbackClients make pgtUrl requests.
type callbackClients struct {
	public *http.Client // public addresses only: services without a pattern
	any    *http.Client // services whose proxy_callback_pattern matched
}

// newCallbackClients derives the callback clients from base: its
// *http.Transport settings (TLS trust above all) are kept, its dialing is
// replaced. A RoundTripper that is not an *http.Transport cannot be given the
// address check, so the default transport is used instead.
func newCallbackClients(base *http.Client) callbackClients {
	mk := func(check bool) *http.Client {
		var t *http.Transport
		if bt, ok := base.Transport.(*http.Transport); ok {
			t = bt.Clone()
		} else {
			t = http.DefaultTransport.(*http.Transport).Clone()
		}
		t.Proxy = nil
		// Every connection must go through DialContext, where the check is.
		//lint:ignore SA1019 the deprecated hooks would bypass DialContext if a base transport set them
		t.DialTLSContext, t.DialTLS, t.Dial = nil, nil, nil
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		if check {
			d.Control = refuseNonPublic
		}
		t.DialContext = d.DialContext
		return &http.Client{
			Transport: t,
			// No redirects at all: a 3xx is a failure (only 200 counts), and
			// a redirect could lead anywhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return callbackClients{public: mk(true), any: mk(false)}
}

// refusedAddressError is a dial refused by the address policy.
type refusedAddressError struct {
	addr   netip.Addr
	reason string
}

func (e *refusedAddressError) Error() string {
	return fmt.Sprintf("address %s is %s, not public (a proxy_callback_pattern is needed)", e.addr, e.reason)
}

// refuseNonPublic is the net.Dialer Control function of the public client:
// it sees the IP about to be connected.
func refuseNonPublic(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("unexpected dial address %q", address)
	}
	if reason := nonPublicReason(ap.Addr()); reason != "" {
		return &refusedAddressError{addr: ap.Addr(), reason: reason}
	}
	return nil
}

var nonPublicPrefixes = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "in \"this network\" (0/8)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved or broadcast"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("192.88.99.0/24"), "a 6to4 relay (deprecated)"},
	{netip.MustParsePrefix("2001:2::/48"), "benchmarking"},
	// Translation and tunnelling ranges carry an IPv4 address (in Teredo's
	// case obfuscated) that a gateway on the way would reach; no callback
	// host has a reason to be there.
	{netip.MustParsePrefix("2001::/32"), "Teredo"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "IPv4-translated (SIIT)"},
}

var (
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	v4Compatible = netip.MustParsePrefix("::/96")
)

// nonPublicReason says why ip is not a public unicast address, or "".
func nonPublicReason(ip netip.Addr) string {
	ip = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.Zone() != "":
		return "scoped to an interface"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	}
	for _, p := range nonPublicPrefixes {
		if p.prefix.Contains(ip) {
			return p.reason
		}
	}
	// IPv6 forms that carry an IPv4 address a gateway would reach.
	if ip.Is6() {
		b := ip.As16()
		var v4 [4]byte
		switch {
		case nat64Prefix.Contains(ip), v4Compatible.Contains(ip):
			copy(v4[:], b[12:])
		case sixToFour.Contains(ip):
			copy(v4[:], b[2:6])
		default:
			return ""
		}
		if r := nonPublicReason(netip.AddrFrom4(v4)); r != "" {
			return r + " (embedded in " + ip.String() + ")"
		}
	}
	return ""
}

// callPGTURL makes the callback GET cb and returns why it failed, or "".
// The reason is for the log: it never contains the URL (which carries the
// pgtId and pgtIou).
func (s *Server) callPGTURL(ctx context.Context, client *http.Client, cb *url.URL) string {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ProxyCallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, cb.String(), nil)
	if err != nil {
		return "unusable URL"
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error prints the URL; only the cause is kept.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var refused *refusedAddressError
		switch {
		case errors.As(err, &refused):
			return refused.Error()
		case errors.Is(err, context.DeadlineExceeded) || cctx.Err() != nil:
			return fmt.Sprintf("timed out after %v", s.cfg.ProxyCallbackTimeout)
		}
		return err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("answered %d, not 200", resp.StatusCode)
	}
	return ""
}

// scrub removes secrets from a log text, should a cause ever quote them.
func scrub(text string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			text = strings.ReplaceAll(text, sec, "[redacted]")
		}
	}
	return text
}
