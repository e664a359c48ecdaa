package evidence

import (
	"bytes"
	"math"
	"net/netip"
	"strings"
	"testing"

	"abuseguard"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestGroupDE(t *testing.T) {
	for _, tc := range []struct {
		in   uint64
		want string
	}{
		{0, "0"},
		{7, "7"},
		{999, "999"},
		{1000, "1.000"},
		{62790, "62.790"},
		{100000, "100.000"},
		{999999, "999.999"},
		{1000000, "1.000.000"},
		{1234567, "1.234.567"},
		{math.MaxUint64, "18.446.744.073.709.551.615"},
	} {
		if got := groupDE(tc.in); got != tc.want {
			t.Errorf("groupDE(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRoundRate(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want uint64
	}{
		{math.NaN(), 0},
		{-5, 0},
		{0, 0},
		{0.49, 0},
		{0.5, 1}, // half away from zero
		{999.49, 999},
		{999.5, 1000},
		{math.Inf(1), math.MaxUint64},
		{1e30, math.MaxUint64},
	} {
		if got := roundRate(tc.in); got != tc.want {
			t.Errorf("roundRate(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// The seed's figures come out of real packet sizes with mbits' rounding;
// see the comment there for the derivation.
func TestMbitsSeed(t *testing.T) {
	external := 62770.0 * 28 * 8 // minimal 28-byte packets
	sum := external + 20*600*8   // the other 20 packets/s at 600 bytes
	if got := mbits(external); got != 13 {
		t.Errorf("mbits(%v) = %d, want the seed's 13", external, got)
	}
	if got := mbits(sum); got != 14 {
		t.Errorf("mbits(%v) = %d, want the seed's 14", sum, got)
	}
	if got := mbits(3 * 1500 * 8); got != 0 {
		t.Errorf("mbits(3 full packets/s) = %d, want the seed's 0", got)
	}
}

func TestTCPFlags(t *testing.T) {
	for _, tc := range []struct {
		in   uint8
		want string
	}{
		{0, "none"}, {0x02, "S"}, {0x12, "S."}, {0x18, "P."}, {0x11, "F."}, {0x04, "R"},
		{0x14, "R."}, {0xc2, "SEW"}, {0xff, "FSRP.UEW"},
	} {
		if got := tcpFlags(tc.in); got != tc.want {
			t.Errorf("tcpFlags(%#x) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The lines of the seed's examples (../shared/seed/README.md), verbatim.
const (
	seedBanner = `###################################################################
#          Netscan detected from host   x.x.x.x                   #
###################################################################

`
	// The seed's third External line lacks the comma after the address,
	// a slip in the document that the brief's copy corrects.
	seedSummary = `Direction OUT
Internal x.x.x.x
Sum                     62.790 packets/s , 14 MBit/s
External 125.162.12.67, 62.770 packets/s , 13 MBit/s
External 72.14.220.136,      3 packets/s ,  0 MBit/s
External 66.249.72.235,      3 packets/s ,  0 MBit/s
`
)

func TestBannerMatchesSeed(t *testing.T) {
	var b bytes.Buffer
	// 1.2.3.4 has the length of the seed's placeholder x.x.x.x.
	writeBanner(&b, bannerText("Netscan detected from host", mustAddr("1.2.3.4")))
	got := strings.ReplaceAll(b.String(), "1.2.3.4", "x.x.x.x")
	if diff := cmp.Diff(got, seedBanner); diff != "" {
		t.Fatalf("writeBanner() (-got, +want):\n%s", diff)
	}
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		if len(l) != 67 {
			t.Errorf("banner line %q is %d columns, want 67", l, len(l))
		}
	}
}

func TestSummaryMatchesSeed(t *testing.T) {
	d := &abuseguard.Detection{
		Kind: abuseguard.ReasonPacketLimit, Address: mustAddr("1.2.3.4"),
		PPS: 62790, BPS: 62770*28*8 + 20*600*8,
		Peers: []abuseguard.PeerTotal{
			{Addr: mustAddr("125.162.12.67"), PPS: 62770, BPS: 62770 * 28 * 8},
			{Addr: mustAddr("72.14.220.136"), PPS: 3, BPS: 3 * 1500 * 8, Packets: 2},
			{Addr: mustAddr("66.249.72.235"), PPS: 3, BPS: 3 * 60 * 8, Packets: 1},
		},
	}
	out := Render(d, Options{})
	if len(out) != 1 || out[0].Name != NameSummary {
		t.Fatalf("Render() = %d files, want only %s", len(out), NameSummary)
	}
	got := strings.ReplaceAll(string(out[0].Data), "1.2.3.4", "x.x.x.x")
	got, _, _ = strings.Cut(got, "\n\n") // the notes after the seed's lines
	if diff := cmp.Diff(got+"\n", seedSummary); diff != "" {
		t.Fatalf("Render() (-got, +want):\n%s", diff)
	}
}

// Render must not reorder the caller's slices: the detection is stored and
// rendered again for the portal and the API.
func TestRenderLeavesDetectionAlone(t *testing.T) {
	for _, tc := range goldenCases(t) {
		before := cloneDetection(tc.d)
		first := dump(Render(tc.d, tc.opts))
		if diff := cmp.Diff(tc.d, before, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Fatalf("%s: Render() modified the detection (-after, +before):\n%s", tc.name, diff)
		}
		if again := dump(Render(tc.d, tc.opts)); !bytes.Equal(first, again) {
			t.Fatalf("%s: Render() is not deterministic", tc.name)
		}
	}
}

func cloneDetection(d *abuseguard.Detection) *abuseguard.Detection {
	c := *d
	c.Attempts = append([]abuseguard.Attempt(nil), d.Attempts...)
	c.Peers = append([]abuseguard.PeerTotal(nil), d.Peers...)
	c.Services = append([]abuseguard.ServiceTotal(nil), d.Services...)
	c.Samples = append([]abuseguard.PacketSample(nil), d.Samples...)
	return &c
}
