package pktgen_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/netip"
	"testing"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/pcapfile"
	"abuseguard/testutil/pktgen"
)

func synthetic(t *testing.T, n int, seed int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := pktgen.Synthetic(&buf, n, seed); err != nil {
		t.Fatalf("Synthetic() error = %v", err)
	}
	return buf.Bytes()
}

func TestSyntheticDeterministic(t *testing.T) {
	a, b, c := synthetic(t, 3000, 42), synthetic(t, 3000, 42), synthetic(t, 3000, 43)
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatal("Synthetic() with the same seed gave different bytes")
	}
	if bytes.Equal(a, c) {
		t.Fatal("Synthetic() with seeds 42 and 43 gave the same bytes")
	}
	// A longer run with the same seed starts with the same packets.
	if long := synthetic(t, 4000, 42); !bytes.HasPrefix(long, a) {
		t.Fatal("Synthetic(4000) does not start with Synthetic(3000)")
	}
	if empty := synthetic(t, 0, 1); len(empty) != 24 {
		t.Fatalf("Synthetic(0) wrote %d bytes, want a 24-byte file header", len(empty))
	}
}

// TestSyntheticMix decodes 200 000 packets and checks the mix the
// Synthetic doc comment promises.
func TestSyntheticMix(t *testing.T) {
	const n = 200_000
	r, err := pcapfile.NewReader(bytes.NewReader(synthetic(t, n, 1)))
	if err != nil {
		t.Fatal(err)
	}
	customers4 := netip.MustParsePrefix("203.0.113.0/24")
	customers6 := netip.MustParsePrefix("2001:db8:100::/48")
	isCustomer := func(a netip.Addr) bool { return customers4.Contains(a) || customers6.Contains(a) }
	var (
		proto            = map[uint8]int{}
		v6, frameBytes   int
		customers, other = map[netip.Addr]bool{}, map[netip.Addr]bool{}
		synOnly          = map[netip.Addr]map[netip.AddrPort]bool{}
		last             int64
		rec              flow.Record
	)
	for i := 0; ; i++ {
		f, err := r.Next()
		if err == io.EOF {
			if i != n {
				t.Fatalf("%d packets, want %d", i, n)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Time <= last {
			t.Fatalf("packet %d: time %d not after %d", i, f.Time, last)
		}
		last = f.Time
		if err := packet.Decode(f.LinkType, f.Data, &rec); err != nil {
			t.Fatalf("packet %d: Decode() error = %v", i, err)
		}
		if i < 20_000 {
			checksums(t, f.LinkType, f.Data)
		}
		proto[rec.Proto]++
		frameBytes += len(f.Data)
		if rec.Src.Is6() {
			v6++
		}
		if !isCustomer(rec.Src) && !isCustomer(rec.Dst) {
			t.Fatalf("packet %d: %v -> %v, neither is a customer", i, rec.Src, rec.Dst)
		}
		for _, a := range []netip.Addr{rec.Src, rec.Dst} {
			if isCustomer(a) {
				customers[a] = true
			} else {
				other[a] = true
			}
		}
		if rec.Proto == flow.ProtoTCP && rec.TCPFlags&(flow.TCPSyn|flow.TCPAck) == flow.TCPSyn {
			if synOnly[rec.Src] == nil {
				synOnly[rec.Src] = map[netip.AddrPort]bool{}
			}
			synOnly[rec.Src][netip.AddrPortFrom(rec.Dst, rec.DstPort)] = true
		}
	}
	share := func(k int) float64 { return float64(k) / n }
	t.Logf("TCP %.3f UDP %.3f ICMP %.3f ICMPv6 %.3f IPv6 %.3f, %.0f bytes a frame, %d customers, %d outside addresses, %.1f µs",
		share(proto[6]), share(proto[17]), share(proto[1]), share(proto[58]), share(v6),
		float64(frameBytes)/n, len(customers), len(other), float64(last-1729656000e9)/1e3)
	within := func(what string, got, lo, hi float64) {
		if got < lo || got > hi {
			t.Errorf("%s = %.3f, want between %.2f and %.2f", what, got, lo, hi)
		}
	}
	within("TCP share", share(proto[6]), 0.75, 0.92)
	within("UDP share", share(proto[17]), 0.06, 0.20)
	within("ICMP share", share(proto[1]+proto[58]), 0.02, 0.08)
	within("IPv6 share", share(v6), 0.2, 0.4)
	within("customers", float64(len(customers)), 450, 500)
	within("outside addresses", float64(len(other)), 3000, 1e6)
	// The scanners: many attempts to distinct targets each.
	for s, want := range map[string]int{"203.0.113.66": 1000, "203.0.113.77": 1000, "198.19.200.1": 250} {
		if got := len(synOnly[netip.MustParseAddr(s)]); got < want {
			t.Errorf("scanner %s made SYN-only attempts to %d targets, want %d or more", s, got, want)
		}
	}
	// Ordinary clients open connections, they do not sweep.
	for a, targets := range synOnly {
		if a.String() != "203.0.113.66" && a.String() != "203.0.113.77" && a.String() != "198.19.200.1" && len(targets) > 100 {
			t.Errorf("%v made SYN-only attempts to %d targets: a scanner that is not one of the four", a, len(targets))
		}
	}
}
