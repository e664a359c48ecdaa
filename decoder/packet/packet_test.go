package packet_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/testutil/pktgen"
)

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestDecode(t *testing.T) {
	syn4 := tcp4(flow.TCPSyn, 0)
	syn6 := tcp6(flow.TCPSyn, 0)
	want4 := func(proto uint8, bytes uint64) flow.Record { return record(src4, dst4, proto, bytes) }
	want6 := func(proto uint8, bytes uint64) flow.Record { return record(src6, dst6, proto, bytes) }
	withMAC := func(r flow.Record) flow.Record { r.SrcMAC = macSrc48; return r }
	with := func(r flow.Record, f func(*flow.Record)) flow.Record { f(&r); return r }
	syn := func(r flow.Record) flow.Record { r.TCPFlags = flow.TCPSyn; return r }

	tests := []struct {
		name  string
		lt    flow.LinkType
		frame []byte
		want  flow.Record
	}{
		// Link layers.
		{"ethernet ipv4 tcp", flow.LinkTypeEthernet, eth(syn4, 0x0800), withMAC(syn(want4(6, 40)))},
		{"ethernet ipv6 tcp", flow.LinkTypeEthernet, eth(syn6, 0x86dd), withMAC(syn(want6(6, 60)))},
		{"802.1q", flow.LinkTypeEthernet, eth(udp4(10), 0x8100, 0x0800), withMAC(want4(17, 38))},
		{"qinq 802.1ad", flow.LinkTypeEthernet, eth(udp6(10), 0x88a8, 0x8100, 0x86dd), withMAC(want6(17, 58))},
		{"qinq 0x9100 three tags", flow.LinkTypeEthernet, eth(syn4, 0x9100, 0x9100, 0x8100, 0x0800), withMAC(syn(want4(6, 40)))},
		{"mpls ipv4", flow.LinkTypeEthernet, eth(mpls(syn4, 16000, 24001), 0x8847), withMAC(syn(want4(6, 40)))},
		{"vlan mpls ipv6", flow.LinkTypeEthernet, eth(mpls(syn6, 3), 0x8100, 0x8847), withMAC(syn(want6(6, 60)))},
		{"mpls multicast", flow.LinkTypeEthernet, eth(mpls(syn4, 20, 21, 22), 0x8848), withMAC(syn(want4(6, 40)))},
		{"null ipv4 little-endian", flow.LinkTypeNull, null(2, binary.LittleEndian, syn4), syn(want4(6, 40))},
		{"null ipv4 big-endian", flow.LinkTypeNull, null(2, binary.BigEndian, syn4), syn(want4(6, 40))},
		{"null ipv6 24", flow.LinkTypeNull, null(24, binary.LittleEndian, syn6), syn(want6(6, 60))},
		{"null ipv6 28 big-endian", flow.LinkTypeNull, null(28, binary.BigEndian, syn6), syn(want6(6, 60))},
		{"null ipv6 30", flow.LinkTypeNull, null(30, binary.LittleEndian, syn6), syn(want6(6, 60))},
		{"null ipv6 linux 10", flow.LinkTypeNull, null(10, binary.BigEndian, syn6), syn(want6(6, 60))},
		{"raw ipv4", flow.LinkTypeRaw, syn4, syn(want4(6, 40))},
		{"raw ipv6", flow.LinkTypeRaw, syn6, syn(want6(6, 60))},
		{"linktype ipv4", flow.LinkTypeIPv4, syn4, syn(want4(6, 40))},
		{"linktype ipv6", flow.LinkTypeIPv6, syn6, syn(want6(6, 60))},
		{"linux sll", flow.LinkTypeLinuxSLL, sll(1, 0x0800, syn4), withMAC(syn(want4(6, 40)))},
		{"linux sll loopback no mac", flow.LinkTypeLinuxSLL, sll(772, 0x86dd, syn6), syn(want6(6, 60))},
		{"linux sll vlan", flow.LinkTypeLinuxSLL, sll(1, 0x8100, append([]byte{0, 5, 0x08, 0}, syn4...)), withMAC(syn(want4(6, 40)))},
		{"linux sll2", flow.LinkTypeLinuxSLL2, sll2(1, 0x86dd, syn6), withMAC(syn(want6(6, 60)))},

		// IPv4.
		{"ipv4 options", flow.LinkTypeRaw, withIPv4Options(syn4, []byte{1, 1, 1, 0, 0x94, 4, 0, 0}), syn(want4(6, 48))},
		{"ipv4 max options", flow.LinkTypeRaw, withIPv4Options(syn4, make([]byte, 40)), syn(want4(6, 80))},
		{"ipv4 first fragment", flow.LinkTypeRaw, fragment4(tcp4(flow.TCPAck, 1000), 0, true), with(want4(6, 1040), func(r *flow.Record) { r.TCPFlags = flow.TCPAck })},
		{"ipv4 later fragment", flow.LinkTypeRaw, fragment4(udp4(1000), 185, false), with(want4(17, 1028), func(r *flow.Record) {
			r.SrcPort, r.DstPort, r.Flags = 0, 0, flow.FlagFragment
		})},
		{"ipv4 tiny first fragment", flow.LinkTypeRaw, fragment4(tcp4(flow.TCPSyn, 0), 0, true)[:28], with(want4(6, 40), func(r *flow.Record) { r.Flags = flow.FlagTruncated })},
		{"ipv4 ethernet padding", flow.LinkTypeEthernet, append(eth(syn4, 0x0800), 0, 0, 0, 0, 0, 0), withMAC(syn(want4(6, 40)))},
		{"ipv4 tso length 0", flow.LinkTypeRaw, func() []byte {
			b := tcp4(flow.TCPAck, 3000)
			b[2], b[3] = 0, 0
			return b
		}(), with(want4(6, 3040), func(r *flow.Record) { r.TCPFlags = flow.TCPAck })},
		{"ipv4 options cut by capture", flow.LinkTypeRaw, withIPv4Options(syn4, make([]byte, 8))[:24], with(want4(6, 48), func(r *flow.Record) {
			r.SrcPort, r.DstPort, r.Flags = 0, 0, flow.FlagTruncated
		})},

		// IPv6 extension headers.
		{"ipv6 hop-by-hop", flow.LinkTypeRaw, withExt(syn6, ext{0, hdr8(0)}), syn(want6(6, 68))},
		{"ipv6 routing", flow.LinkTypeRaw, withExt(udp6(4), ext{43, hdr8(2)}), want6(17, 76)},
		{"ipv6 destination options", flow.LinkTypeRaw, withExt(syn6, ext{60, hdr8(1)}), syn(want6(6, 76))},
		{"ipv6 first fragment", flow.LinkTypeRaw, withExt(udp6(100), ext{44, frag6(0, true)}), want6(17, 156)},
		{"ipv6 later fragment", flow.LinkTypeRaw, withExt(udp6(100), ext{44, frag6(100, false)}), with(want6(17, 156), func(r *flow.Record) {
			r.SrcPort, r.DstPort, r.Flags = 0, 0, flow.FlagFragment
		})},
		{"ipv6 ah", flow.LinkTypeRaw, withExt(syn6, ext{51, ah(4)}), syn(want6(6, 84))},
		{"ipv6 mobility", flow.LinkTypeRaw, withExt(func() []byte { b := tcp6(0, 0)[:40]; b[6] = 59; return b }(), ext{135, hdr8(1)}), with(want6(59, 56), func(r *flow.Record) {
			r.SrcPort, r.DstPort = 0, 0
		})},
		{"ipv6 hip and shim6", flow.LinkTypeRaw, withExt(syn6, ext{139, hdr8(4)}, ext{140, hdr8(0)}), syn(want6(6, 108))},
		{"ipv6 esp ends the chain", flow.LinkTypeRaw, func() []byte {
			b := withExt(syn6, ext{0, hdr8(0)})
			b[40] = 50 // hop-by-hop says ESP follows
			return b
		}(), with(want6(50, 68), func(r *flow.Record) { r.SrcPort, r.DstPort = 0, 0 })},
		{"ipv6 long chain", flow.LinkTypeRaw, withExt(syn6, ext{0, hdr8(0)}, ext{60, hdr8(0)}, ext{43, hdr8(1)}, ext{44, frag6(0, false)}, ext{51, ah(1)}, ext{60, hdr8(3)}), syn(want6(6, 144))},
		{"ipv6 chain over 16 headers", flow.LinkTypeRaw, withExt(syn6,
			ext{60, hdr8(0)}, ext{60, hdr8(0)}, ext{60, hdr8(0)}, ext{60, hdr8(0)}, ext{60, hdr8(0)}, ext{60, hdr8(0)},
			ext{60, hdr8(0)}, ext{60, hdr8(0)}, ext{60, hdr8(0)}, ext{60, hdr8(0)}, ext{60, hdr8(0)}, ext{60, hdr8(0)},
			ext{60, hdr8(0)}, ext{60, hdr8(0)}, ext{60, hdr8(0)}, ext{60, hdr8(0)}, ext{43, hdr8(0)}),
			with(want6(43, 60+17*8), func(r *flow.Record) { r.SrcPort, r.DstPort, r.Flags = 0, 0, flow.FlagTruncated })},
		{"ipv6 mapped addresses unmapped", flow.LinkTypeRaw, pktgen.TCPRaw(
			netip.AddrPortFrom(netip.MustParseAddr("::ffff:192.0.2.1"), 1), netip.AddrPortFrom(netip.MustParseAddr("::ffff:192.0.2.9"), 2), flow.TCPSyn, 0),
			syn(record(netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.9:2"), 6, 60))},

		// Transports.
		{"tcp flags", flow.LinkTypeRaw, tcp4(flow.TCPFin|flow.TCPPsh|flow.TCPAck|flow.TCPCwr, 10), with(want4(6, 50), func(r *flow.Record) {
			r.TCPFlags = flow.TCPFin | flow.TCPPsh | flow.TCPAck | flow.TCPCwr
		})},
		{"icmp echo request", flow.LinkTypeRaw, pktgen.ICMPEchoRaw(src4.Addr(), dst4.Addr(), false), with(want4(1, 84), func(r *flow.Record) {
			r.SrcPort, r.DstPort = 0, 0x0800
		})},
		{"icmp echo reply", flow.LinkTypeRaw, pktgen.ICMPEchoRaw(src4.Addr(), dst4.Addr(), true), with(want4(1, 84), func(r *flow.Record) {
			r.SrcPort, r.DstPort = 0, 0x0000
		})},
		{"icmpv6 echo request", flow.LinkTypeRaw, pktgen.ICMPEchoRaw(src6.Addr(), dst6.Addr(), false), with(want6(58, 104), func(r *flow.Record) {
			r.SrcPort, r.DstPort = 0, 0x8000
		})},
		{"icmpv6 after ah", flow.LinkTypeRaw, withExt(pktgen.ICMPEchoRaw(src6.Addr(), dst6.Addr(), true), ext{51, ah(4)}), with(want6(58, 128), func(r *flow.Record) {
			r.SrcPort, r.DstPort = 0, 0x8100
		})},
		{"udp-lite", flow.LinkTypeRaw, func() []byte { b := udp4(20); b[9] = 136; return b }(), want4(136, 48)},
		{"sctp", flow.LinkTypeRaw, func() []byte { b := udp6(20); b[6] = 132; return b }(), want6(132, 68)},
		{"gre has no ports", flow.LinkTypeRaw, func() []byte { b := udp4(20); b[9] = 47; return b }(), with(want4(47, 48), func(r *flow.Record) {
			r.SrcPort, r.DstPort = 0, 0
		})},
		{"tcp cut after the ports", flow.LinkTypeRaw, syn4[:26], with(want4(6, 40), func(r *flow.Record) { r.Flags = flow.FlagTruncated })},
		{"tcp cut after the flags", flow.LinkTypeRaw, syn4[:34], with(syn(want4(6, 40)), func(r *flow.Record) { r.Flags = flow.FlagTruncated })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got flow.Record
			if err := packet.Decode(tt.lt, tt.frame, &got); err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			if diff := cmp.Diff(got, tt.want, cmpAddr); diff != "" {
				t.Fatalf("Decode() (-got, +want):\n%s", diff)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	syn4 := tcp4(flow.TCPSyn, 0)
	syn6 := tcp6(flow.TCPSyn, 0)
	arp := eth(make([]byte, 28), 0x0806)
	tests := []struct {
		name    string
		lt      flow.LinkType
		frame   []byte
		want    error  // errors.Is target
		wantMsg string // exact message, for malformed frames
	}{
		{"arp", flow.LinkTypeEthernet, arp, packet.ErrNotIP, ""},
		{"arp in vlan", flow.LinkTypeEthernet, eth(make([]byte, 28), 0x8100, 0x0806), packet.ErrNotIP, ""},
		{"lldp", flow.LinkTypeEthernet, eth(make([]byte, 40), 0x88cc), packet.ErrNotIP, ""},
		{"802.3 llc", flow.LinkTypeEthernet, eth(make([]byte, 40), 40), packet.ErrNotIP, ""},
		{"mpls ethernet pseudowire", flow.LinkTypeEthernet, eth(mpls(make([]byte, 20), 5), 0x8847), packet.ErrNotIP, ""},
		{"null unknown family", flow.LinkTypeNull, null(7, binary.LittleEndian, syn4), packet.ErrNotIP, ""},
		{"sll 802.2", flow.LinkTypeLinuxSLL, sll(1, 4, syn4), packet.ErrNotIP, ""},
		{"unknown link type", flow.LinkType(147), syn4, packet.ErrLinkType, ""},
		{"empty ethernet", flow.LinkTypeEthernet, nil, packet.ErrMalformed,
			"packet: ethernet header truncated: 0 bytes < 14 at offset 0"},
		{"ipv4 ihl 4", flow.LinkTypeEthernet, eth(func() []byte { b := append([]byte{}, syn4...); b[0] = 0x44; return b }(), 0x0800), packet.ErrMalformed,
			"packet: ipv4 header length 16 < 20 at offset 14"},
		{"ipv4 total length below header", flow.LinkTypeRaw, func() []byte { b := append([]byte{}, syn4...); b[3] = 12; return b }(), packet.ErrMalformed,
			"packet: ipv4 total length 12 < 20 at offset 2"},
		{"ipv4 ethertype with ipv6 inside", flow.LinkTypeEthernet, eth(syn6, 0x0800), packet.ErrMalformed,
			"packet: ipv4 version 6 != 4 at offset 14"},
		{"ipv6 version", flow.LinkTypeIPv6, syn4[:40], packet.ErrMalformed,
			"packet: ipv6 version 4 != 6 at offset 0"},
		{"raw version 5", flow.LinkTypeRaw, []byte{0x50, 1, 2, 3}, packet.ErrMalformed,
			"packet: ip version 5 unknown at offset 0"},
		{"ipv6 header cut", flow.LinkTypeEthernet, eth(syn6[:39], 0x86dd), packet.ErrMalformed,
			"packet: ipv6 header truncated: 39 bytes < 40 at offset 14"},
		{"vlan tag cut", flow.LinkTypeEthernet, eth([]byte{0, 1}, 0x8100), packet.ErrMalformed,
			"packet: vlan tag truncated: 2 bytes < 4 at offset 14"},
		{"mpls stack without bottom", flow.LinkTypeEthernet, eth([]byte{0, 1, 0, 64, 0, 2, 0, 64}, 0x8847), packet.ErrMalformed,
			"packet: mpls label truncated: 0 bytes < 4 at offset 22"},
		{"sll2 cut", flow.LinkTypeLinuxSLL2, make([]byte, 19), packet.ErrMalformed,
			"packet: linux sll2 header truncated: 19 bytes < 20 at offset 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r flow.Record
			err := packet.Decode(tt.lt, tt.frame, &r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode() error = %v, want %v", err, tt.want)
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Fatalf("Decode() error = %q, want %q", err, tt.wantMsg)
			}
		})
	}
}

// TestDecodeResetsRecord: a reused record keeps nothing from the last
// packet in the fields Decode owns, and keeps what the caller set in the
// others.
func TestDecodeResetsRecord(t *testing.T) {
	r := flow.Record{
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		Exporter: netip.MustParseAddr("192.0.2.200"), Start: 11, End: 12,
		Packets: 9, Bytes: 9, SamplingRate: 100, InIf: 3, OutIf: 4,
		SrcPort: 9, DstPort: 9, Proto: 9, TCPFlags: 0xff, Flags: 0xff, SrcMAC: 9,
		Header: []byte{1}, HeaderType: flow.LinkTypeRaw, OrigLen: 77,
	}
	frame := fragment4(udp4(100), 10, false)
	if err := packet.Decode(flow.LinkTypeRaw, frame, &r); err != nil {
		t.Fatalf("Decode() error = %v", err)
	}
	want := flow.Record{
		Src: src4.Addr(), Dst: dst4.Addr(),
		Exporter: netip.MustParseAddr("192.0.2.200"), Start: 11, End: 12,
		Packets: 1, Bytes: 128, SamplingRate: 100, InIf: 3, OutIf: 4,
		Proto: 17, Flags: flow.FlagFragment,
		Header: []byte{1}, HeaderType: flow.LinkTypeRaw, OrigLen: 77,
	}
	if diff := cmp.Diff(r, want, cmpAddr); diff != "" {
		t.Fatalf("Decode() (-got, +want):\n%s", diff)
	}
}

// TestDecodeAllocs: the success path and the ErrNotIP path allocate nothing.
func TestDecodeAllocs(t *testing.T) {
	frames := []struct {
		lt    flow.LinkType
		frame []byte
	}{
		{flow.LinkTypeEthernet, eth(tcp4(flow.TCPSyn, 0), 0x8100, 0x0800)},
		{flow.LinkTypeEthernet, eth(withExt(tcp6(flow.TCPAck, 100), ext{0, hdr8(0)}, ext{51, ah(4)}), 0x86dd)},
		{flow.LinkTypeEthernet, eth(make([]byte, 28), 0x0806)},
		{flow.LinkTypeLinuxSLL2, sll2(1, 0x0800, udp4(10))},
	}
	var r flow.Record
	for _, f := range frames {
		allocs := testing.AllocsPerRun(100, func() { _ = packet.Decode(f.lt, f.frame, &r) })
		if allocs != 0 {
			t.Errorf("Decode(%v, % x...) allocates %v times, want 0", f.lt, f.frame[:16], allocs)
		}
	}
}
