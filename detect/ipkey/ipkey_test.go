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

// TestLayout: the fast path of From agrees with As16 on addresses of every
// kind, and is taken on this Go release (if not, From is correct but slow:
// look at what changed in netip.Addr).
func TestLayout(t *testing.T) {
	if !layoutKnown {
		t.Fatal("netip.Addr layout not recognised: From takes the slow path")
	}
	for _, s := range []string{"1.2.3.4", "10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1", "fd00::2", "::ffff:0:0", "1::", "fe80::1%lo"} {
		a := netip.MustParseAddr(s)
		if got, want := From(a), fromBytes(a); got != want {
			t.Errorf("From(%s) = %x, want %x", a, got, want)
		}
	}
	if got := From(netip.Addr{}); got != (Key{}) {
		t.Errorf("From(zero Addr) = %x, want zero", got)
	}
}

func BenchmarkFrom(b *testing.B) {
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		if i%3 == 0 {
			addrs[i] = netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(i)})
		} else {
			addrs[i] = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		}
	}
	var x uint64
	for i := 0; b.Loop(); i++ {
		x += From(addrs[i&1023]).Lo
	}
	_ = x
}
