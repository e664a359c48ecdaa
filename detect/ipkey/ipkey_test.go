package ipkey

import (
	"net/netip"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, s := range []string{"0.0.0.0", "203.0.113.7", "255.255.255.255", "::", "2001:db8::1", "fd00::2", "::ffff:0:0"} {
		a := netip.MustParseAddr(s)
		if got := From(a).Addr(); got != a.Unmap() {
			t.Errorf("From(%s).Addr() = %s, want %s", a, got, a.Unmap())
		}
	}
}

func TestDistinct(t *testing.T) {
	// An IPv4 address and an IPv6 address sharing the low bits must not
	// collide: only the mapped form of the IPv4 address may.
	a := From(netip.MustParseAddr("10.0.0.1"))
	b := From(netip.MustParseAddr("::a00:1"))
	if a == b || a.Hash() == b.Hash() {
		t.Fatalf("10.0.0.1 and ::a00:1 collide: %v %v", a, b)
	}
	if From(netip.MustParseAddr("::ffff:10.0.0.1")) != a {
		t.Fatalf("mapped and plain IPv4 must pack alike")
	}
}
