package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// DefaultMinValidity is how long public_url's certificate must still be
// valid: a week leaves time to notice a renewal that stopped (ACME clients
// renew with 30 days left).
const DefaultMinValidity = 7 * 24 * time.Hour

// PublicURL checks that server.public_url is https and that its host
// presents a certificate this machine trusts: a TLS handshake with the
// host, verified against the system's roots for the URL's host name, as
// browsers and CAS clients on this network will.
type PublicURL struct {
	URL     string
	Sandbox bool
	// Roots verify the certificate; nil: the system's roots.
	Roots *x509.CertPool
	// Now is the clock the certificate's validity is checked with (nil:
	// time.Now).
	Now func() time.Time
	// MinValidity: 0 means DefaultMinValidity.
	MinValidity time.Duration
}

// Name implements Check.
func (PublicURL) Name() string { return "public_url" }

// Run implements Check.
func (p PublicURL) Run(ctx context.Context) Result {
	u, err := url.Parse(p.URL)
	if err != nil || u.Host == "" {
		return Fail(fmt.Sprintf("server.public_url %q is not an absolute URL", p.URL), "set server.public_url to the https URL people reach wxcas at, e.g. https://login.example.edu")
	}
	switch {
	case u.Scheme == "http" && p.Sandbox:
		return Skip("sandbox: public_url " + p.URL + " is plain http, so there is no certificate to check")
	case u.Scheme != "https":
		return Fail("server.public_url "+p.URL+" is not https: cookies lose their Secure flag and tickets travel in clear",
			"serve wxcas over https (a TLS-terminating proxy or load balancer) and set server.public_url to https://"+u.Host)
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	host := u.Hostname()
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(host, "443")
	}
	d := tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 10 * time.Second},
		Config:    &tls.Config{ServerName: host, RootCAs: p.Roots, Time: now, MinVersion: tls.VersionTLS12},
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return tlsFailure(addr, host, err)
	}
	defer conn.Close()
	state := conn.(*tls.Conn).ConnectionState()
	leaf := state.PeerCertificates[0]
	left := leaf.NotAfter.Sub(now())
	minValid := p.MinValidity
	if minValid <= 0 {
		minValid = DefaultMinValidity
	}
	detail := fmt.Sprintf("%s: %s, certificate for %s issued by %s, valid until %s",
		addr, tls.VersionName(state.Version), host, issuerName(leaf), leaf.NotAfter.UTC().Format(time.DateOnly))
	if left < minValid {
		return Fail(fmt.Sprintf("%s; it expires in %s (less than %s)", detail, approx(left), approx(minValid)),
			"renew the certificate of "+host+" (and check that its automatic renewal runs)")
	}
	return Pass(detail)
}

// tlsFailure says why the handshake failed, with the matching fix.
func tlsFailure(addr, host string, err error) Result {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		netErr   *net.OpError
	)
	switch {
	case errors.As(err, &unknown):
		return Fail(fmt.Sprintf("%s presents a certificate this machine does not trust (issued by %s)", addr, issuerName(unknown.Cert)),
			"install a certificate from a public CA for "+host+" (e.g. Let's Encrypt) with its full chain, intermediates included")
	case errors.As(err, &hostname):
		return Fail(fmt.Sprintf("%s presents a certificate for %s, not %s", addr, certNames(hostname.Certificate), host),
			"install a certificate whose names include "+host+", or set server.public_url to a host name the certificate covers")
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return Fail(fmt.Sprintf("%s presents a certificate that is expired or not yet valid (valid %s to %s)", addr,
			invalid.Cert.NotBefore.UTC().Format(time.DateOnly), invalid.Cert.NotAfter.UTC().Format(time.DateOnly)),
			"renew the certificate of "+host+", and check this machine's clock")
	case errors.As(err, &verify):
		return Fail(fmt.Sprintf("%s presents a certificate that does not verify: %v", addr, verify.Err),
			"install a valid certificate for "+host+" with its full chain")
	case errors.As(err, &netErr):
		return Fail(fmt.Sprintf("cannot connect to %s: %v", addr, netErr.Err),
			"check that "+host+" resolves to the proxy or load balancer in front of wxcas and that it listens on "+addr+" from this machine")
	}
	return Fail(fmt.Sprintf("TLS handshake with %s failed: %v", addr, err),
		"check the TLS configuration of the server behind "+addr+" (TLS 1.2 or newer, a certificate for "+host+")")
}

func issuerName(c *x509.Certificate) string {
	if c == nil {
		return "an unknown issuer"
	}
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	return c.Issuer.String()
}

func certNames(c *x509.Certificate) string {
	if c == nil {
		return "another host"
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return c.Subject.CommonName
	}
	if len(names) > 4 {
		names = append(names[:4], "…")
	}
	return fmt.Sprint(names)
}

// approx writes a duration as people read it: days, hours, or seconds.
func approx(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.Round(time.Second).String()
}
