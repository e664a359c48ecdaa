package evidence

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"abuseguard"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var t0 = time.Date(2024, 10, 23, 4, 47, 21, 0, time.UTC)

// attempts returns n attempts from src to consecutive destinations of base
// on one port, one every 10 ms, as a horizontal scan makes them.
func attempts(n int, src, base string, port uint16, proto uint8) []abuseguard.Attempt {
	out := make([]abuseguard.Attempt, n)
	dst := netip.MustParseAddr(base)
	for i := range out {
		out[i] = abuseguard.Attempt{Time: t0.Add(time.Duration(i) * 10 * time.Millisecond),
			Src: mustAddr(src), SrcPort: uint16(3374 + i), Dst: dst, DstPort: port, Proto: proto, Size: 60}
		dst = dst.Next()
	}
	return out
}

// goldenCases are the detections whose rendering is kept in testdata.
func goldenCases(t *testing.T) []struct {
	name string
	d    *abuseguard.Detection
	opts Options
} {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	netscan := &abuseguard.Detection{
		ID: "d1", Kind: abuseguard.ReasonNetscan, Subkind: abuseguard.SubkindHorizontal,
		Address: mustAddr("203.0.113.7"), Direction: abuseguard.DirectionOut,
		FirstSeen: t0, LastSeen: t0.Add(59 * time.Second), SamplingRate: 1,
		Attempts: []abuseguard.Attempt{
			{Time: t0, Src: mustAddr("203.0.113.7"), SrcPort: 3374, Dst: mustAddr("198.51.100.155"), DstPort: 4001, Proto: 17, Size: 1298},
			{Time: t0, Src: mustAddr("203.0.113.7"), SrcPort: 3375, Dst: mustAddr("198.51.100.156"), DstPort: 4001, Proto: 17, Size: 1298},
			{Time: t0.Add(time.Second), Src: mustAddr("203.0.113.7"), SrcPort: 40000, Dst: mustAddr("65.98.236.0"), DstPort: 22, Proto: 6, Size: 60},
			{Time: t0.Add(time.Second), Src: mustAddr("203.0.113.7"), SrcPort: 65535, Dst: mustAddr("255.255.255.254"), DstPort: 65535, Proto: 6, Size: 65535},
		},
		AttemptsTotal: 4, Distinct: 4,
	}
	// 1 500 attempts seen under 1-in-100 sampling, 3 shown, given out of
	// order: the log shows the earliest.
	bounded := &abuseguard.Detection{
		ID: "d2", Kind: abuseguard.ReasonNetscan, Subkind: abuseguard.SubkindHorizontal,
		Address: mustAddr("203.0.113.7"), FirstSeen: t0, LastSeen: t0.Add(60 * time.Second),
		SamplingRate: 100, Distinct: 148000, AttemptsTotal: 1500,
	}
	bounded.Attempts = attempts(10, "203.0.113.7", "198.51.100.1", 23, 6)
	bounded.Attempts[0], bounded.Attempts[9] = bounded.Attempts[9], bounded.Attempts[0]

	vertical6 := &abuseguard.Detection{
		ID: "d3", Kind: abuseguard.ReasonNetscan, Subkind: abuseguard.SubkindVertical,
		Address: mustAddr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"), FirstSeen: t0, LastSeen: t0.Add(30 * time.Second),
		SamplingRate: 1, Distinct: 3, AttemptsTotal: 3,
		Attempts: []abuseguard.Attempt{
			{Time: t0, Src: mustAddr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"), SrcPort: 50000, Dst: mustAddr("2001:db8::1"), DstPort: 22, Proto: 6, Size: 80},
			{Time: t0, Src: mustAddr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"), SrcPort: 50000, Dst: mustAddr("2001:db8::1"), DstPort: 23, Proto: 6, Size: 80},
			{Time: t0, Src: mustAddr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"), Dst: mustAddr("2001:db8::1"), DstPort: 128 << 8, Proto: 58, Size: 104},
		},
	}
	sweep := &abuseguard.Detection{
		ID: "d4", Kind: abuseguard.ReasonNetscan, Subkind: abuseguard.SubkindICMPSweep,
		Address: mustAddr("203.0.113.7"), FirstSeen: t0, LastSeen: t0.Add(2 * time.Second),
		SamplingRate: 1, Attempts: attempts(3, "203.0.113.7", "198.51.100.1", 8<<8, 1), AttemptsTotal: 3,
	}
	// The seed's example with real addresses.
	seed := &abuseguard.Detection{
		ID: "d5", Kind: abuseguard.ReasonPacketLimit, Subkind: abuseguard.SubkindPPS,
		Address: mustAddr("192.0.2.10"), Direction: abuseguard.DirectionOut,
		FirstSeen: t0, LastSeen: t0.Add(10 * time.Second), SamplingRate: 1,
		PPS: 62790, BPS: 62770*28*8 + 20*600*8,
		Peers: []abuseguard.PeerTotal{
			{Addr: mustAddr("72.14.220.136"), PPS: 3, BPS: 3 * 1500 * 8},
			{Addr: mustAddr("125.162.12.67"), PPS: 62770, BPS: 62770 * 28 * 8},
			{Addr: mustAddr("66.249.72.235"), PPS: 3, BPS: 3 * 60 * 8},
		},
	}
	// German grouping at its edges, huge rates, IPv6 peers, K bound.
	grouping := &abuseguard.Detection{
		ID: "d6", Kind: abuseguard.ReasonPacketLimit, Subkind: abuseguard.SubkindBPS,
		Address: mustAddr("2001:db8::7"), FirstSeen: t0, LastSeen: t0.Add(10 * time.Second),
		SamplingRate: 1, PPS: 1234567890123, BPS: 1e15,
		Peers: []abuseguard.PeerTotal{
			{Addr: mustAddr("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe"), PPS: 1234567, BPS: 1 << 40},
			{Addr: mustAddr("2001:db8::1"), PPS: 1000, BPS: 1.5 * (1 << 20)},
			{Addr: mustAddr("2001:db8::2"), PPS: 999.4, BPS: 0.49 * (1 << 20)},
			{Addr: mustAddr("2001:db8::3"), PPS: 0.4, BPS: 10},
			{Addr: mustAddr("2001:db8::4"), PPS: 0, BPS: 0},
			{Addr: mustAddr("2001:db8::5"), PPS: 0, BPS: 0},
		},
	}
	zero := &abuseguard.Detection{ID: "d7", Kind: abuseguard.ReasonPacketLimit, Address: mustAddr("192.0.2.10")}
	flood := &abuseguard.Detection{
		ID: "d8", Kind: abuseguard.ReasonIncomingFlood, Subkind: abuseguard.SubkindPPS,
		Address: mustAddr("192.0.2.10"), Direction: abuseguard.DirectionIn,
		FirstSeen: t0, LastSeen: t0.Add(10 * time.Second), SamplingRate: 1000,
		PPS: 310000, BPS: 310000 * 540 * 8,
		Peers: []abuseguard.PeerTotal{
			{Addr: mustAddr("198.51.100.53"), PPS: 200000, BPS: 200000 * 540 * 8},
			{Addr: mustAddr("198.51.100.123"), PPS: 100000, BPS: 100000 * 540 * 8},
			{Addr: mustAddr("2001:db8::53"), PPS: 10000, BPS: 10000 * 540 * 8},
		},
		Services: []abuseguard.ServiceTotal{
			{Proto: 17, Port: 80, PPS: 300000, BPS: 300000 * 540 * 8},
			{Proto: 1, Port: 3<<8 | 3, PPS: 9000, BPS: 9000 * 70 * 8},
			{Proto: 6, Port: 443, PPS: 1000, BPS: 1000 * 60 * 8},
			{Proto: 47, PPS: 1, BPS: 1},
		},
	}
	private := &abuseguard.Detection{
		ID: "d9", Kind: abuseguard.ReasonMisconfiguration, Subkind: abuseguard.SubkindPrivateDestination,
		Address: mustAddr("203.0.113.7"), FirstSeen: t0, LastSeen: t0.Add(300 * time.Second), SamplingRate: 1,
		Attempts: attempts(3, "203.0.113.7", "10.0.0.1", 445, 6), AttemptsTotal: 3, Distinct: 3,
	}
	unassigned := &abuseguard.Detection{
		ID: "d10", Kind: abuseguard.ReasonMisconfiguration, Subkind: abuseguard.SubkindUnassignedSource,
		Address: mustAddr("203.0.113.99"), ServerID: "srv-17", CustomerID: "c-4",
		FirstSeen: t0, LastSeen: t0.Add(time.Minute), SamplingRate: 1,
		Samples: []abuseguard.PacketSample{
			sampleOf(t, t0, layers.LinkTypeEthernet, serialize(t, eth(macServer, macRouter, layers.EthernetTypeIPv4),
				ip4("203.0.113.99", "198.51.100.1", layers.IPProtocolUDP), &layers.UDP{SrcPort: 5353, DstPort: 53}, gopacket.Payload("query"))),
			sampleOf(t, t0.Add(time.Second), layers.LinkTypeEthernet, serialize(t, eth(macServer, macRouter, layers.EthernetTypeIPv4),
				ip4("203.0.113.99", "198.51.100.1", layers.IPProtocolUDP), &layers.UDP{SrcPort: 5353, DstPort: 53}, gopacket.Payload("query"))),
			sampleOf(t, t0.Add(2*time.Second), layers.LinkTypeEthernet, serialize(t, eth(macRouter, macServer, layers.EthernetTypeIPv4),
				ip4("198.51.100.1", "203.0.113.99", layers.IPProtocolUDP), &layers.UDP{SrcPort: 53, DstPort: 5353}, gopacket.Payload("answer"))),
		},
	}
	spoofed := &abuseguard.Detection{
		ID: "d11", Kind: abuseguard.ReasonMisconfiguration, Subkind: abuseguard.SubkindSpoofedSource,
		Address: mustAddr("192.0.2.10"), FirstSeen: t0, LastSeen: t0.Add(time.Minute), SamplingRate: 1,
		Attempts: []abuseguard.Attempt{
			{Time: t0, Src: mustAddr("10.1.2.3"), SrcPort: 1000, Dst: mustAddr("198.51.100.1"), DstPort: 53, Proto: 17, Size: 60},
			{Time: t0.Add(time.Second), Src: mustAddr("10.1.2.3"), SrcPort: 1001, Dst: mustAddr("198.51.100.1"), DstPort: 53, Proto: 17, Size: 60},
			{Time: t0.Add(2 * time.Second), Src: mustAddr("fd00::bad"), SrcPort: 1002, Dst: mustAddr("2001:db8::1"), DstPort: 53, Proto: 17, Size: 80},
		},
		AttemptsTotal: 3,
	}
	// Samples across midnight in Berlin (UTC+1 in winter, +2 in summer),
	// a flow record, sampling, bound to the last 4 of 5.
	late := time.Date(2024, 10, 23, 21, 59, 59, 999999999, time.UTC)
	traffic := &abuseguard.Detection{
		ID: "d12", Kind: abuseguard.ReasonManual, Address: mustAddr("203.0.113.7"),
		Samples: []abuseguard.PacketSample{
			{Time: late.Add(-time.Hour), Src: mustAddr("203.0.113.7"), Dst: mustAddr("76.9.23.182"), SrcPort: 1, DstPort: 2, Proto: 17, Length: 100, Packets: 1, SamplingRate: 512},
			{Time: late, Src: mustAddr("203.0.113.7"), Dst: mustAddr("76.9.23.182"), SrcPort: 55008, DstPort: 29615, Proto: 17, Length: 9244, Packets: 1, SamplingRate: 512},
			{Time: late.Add(time.Nanosecond), Src: mustAddr("76.9.23.182"), Dst: mustAddr("203.0.113.7"), SrcPort: 443, DstPort: 50000, Proto: 6, TCPFlags: 0x12, Length: 60, Packets: 1, SamplingRate: 512},
			{Time: late.Add(time.Second), Src: mustAddr("2001:db8::7"), Dst: mustAddr("2001:db8::1"), Proto: 58, DstPort: 128 << 8, Length: 104, Packets: 1, SamplingRate: 512},
			{Time: late.Add(2 * time.Second), Src: mustAddr("203.0.113.7"), Dst: mustAddr("76.9.23.182"), SrcPort: 55008, DstPort: 80, Proto: 6, TCPFlags: 0x1a, Length: 640, Packets: 12, SamplingRate: 1},
		},
	}
	return []struct {
		name string
		d    *abuseguard.Detection
		opts Options
	}{
		{"netscan", netscan, Options{}},
		{"netscan-bounded-sampled", bounded, Options{Attempts: 3}},
		{"netscan-vertical-ipv6", vertical6, Options{}},
		{"netscan-icmp-berlin", sweep, Options{Location: berlin}},
		{"summary-seed", seed, Options{}},
		{"summary-grouping-ipv6", grouping, Options{Peers: 5}},
		{"summary-zero", zero, Options{}},
		{"flood", flood, Options{Services: 3}},
		{"misconfig-private", private, Options{}},
		{"misconfig-unassigned", unassigned, Options{}},
		{"misconfig-spoofed", spoofed, Options{}},
		{"traffic-berlin-bounded", traffic, Options{Samples: 4, Location: berlin}},
	}
}

// dump concatenates rendered evidence for a golden file; binary files are
// named with their size only.
func dump(ev []abuseguard.Evidence) []byte {
	var b bytes.Buffer
	for _, e := range ev {
		if strings.HasPrefix(e.ContentType, "text/") {
			fmt.Fprintf(&b, "==> %s (%s) <==\n%s", e.Name, e.ContentType, e.Data)
		} else {
			fmt.Fprintf(&b, "==> %s (%s) %d bytes <==\n", e.Name, e.ContentType, len(e.Data))
		}
	}
	return b.Bytes()
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			got := dump(Render(tc.d, tc.opts))
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(strings.Split(string(got), "\n"), strings.Split(string(want), "\n")); diff != "" {
				t.Fatalf("Render() (-got, +want):\n%s", diff)
			}
		})
	}
}
