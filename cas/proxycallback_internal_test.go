package cas

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNonPublicReason(t *testing.T) {
	for _, tc := range []struct {
		ip, reason string // reason "" means public
	}{
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"::ffff:192.168.1.1", "private"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"169.254.169.254", "link-local"}, // cloud metadata
		{"fe80::1", "link-local"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"0.1.2.3", "this network"},
		{"224.0.0.1", "link-local"}, // link-local multicast
		{"239.1.1.1", "multicast"},
		{"ff02::1", "link-local"},
		{"ff05::2", "multicast"},
		{"100.64.0.1", "CGNAT"},
		{"100.127.255.254", "CGNAT"},
		{"255.255.255.255", "broadcast"},
		{"198.18.0.1", "benchmarking"},
		{"192.0.2.10", "documentation"},
		{"2001:db8::1", "documentation"},
		{"fec0::1", "site-local"},
		{"192.88.99.1", "6to4 relay"},
		{"2001:2::1", "benchmarking"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
		{"64:ff9b:1::a00:1", "local-use NAT64"},
		{"::ffff:0:7f00:1", "SIIT"},
		{"64:ff9b::7f00:1", "loopback (embedded"},  // NAT64 of 127.0.0.1
		{"64:ff9b::a00:1", "private (embedded"},    // NAT64 of 10.0.0.1
		{"2002:c0a8:101::1", "private (embedded"},  // 6to4 of 192.168.1.1
		{"::7f00:1", "loopback (embedded"},         // IPv4-compatible 127.0.0.1
		{"fe80::1%eth0", "scoped to an interface"}, // zones never reach a public host
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"100.63.255.255", ""},   // just below CGNAT
		{"100.128.0.0", ""},      // just above
		{"172.32.0.1", ""},       // just above 172.16/12
		{"2606:4700::1111", ""},  // public IPv6
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},  // 6to4 of 8.8.8.8
	} {
		got := nonPublicReason(netip.MustParseAddr(tc.ip))
		if tc.reason == "" {
			require.Empty(t, got, tc.ip)
			continue
		}
		require.True(t, strings.Contains(got, tc.reason), "%s: got %q, want %q", tc.ip, got, tc.reason)
	}
}

func TestRefuseNonPublicDialAddress(t *testing.T) {
	for _, tc := range []struct {
		address string
		ok      bool
	}{
		{"127.0.0.1:443", false},
		{"[::1]:443", false},
		{"[::ffff:10.0.0.1]:443", false},
		{"8.8.8.8:443", true},
		{"[2606:4700::1111]:443", true},
		{"not-an-address", false},
	} {
		err := refuseNonPublic("tcp", tc.address, nil)
		require.Equal(t, tc.ok, err == nil, "%s: %v", tc.address, err)
	}
}
