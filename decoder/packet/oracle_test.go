package packet_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/testutil"
	"abuseguard/testutil/pktgen"
)

// mplsLayer is a DecodingLayer for an MPLS label stack, which gopacket
// decodes only through its slow path; like gopacket's MPLS decoder it
// guesses the payload from the version nibble.
type mplsLayer struct{ layers.BaseLayer }

func (m *mplsLayer) DecodeFromBytes(data []byte, _ gopacket.DecodeFeedback) error {
	for i := 0; ; i += 4 {
		if len(data) < i+4 {
			return errors.New("mpls label stack cut")
		}
		if data[i+2]&1 != 0 {
			m.BaseLayer = layers.BaseLayer{Contents: data[:i+4], Payload: data[i+4:]}
			return nil
		}
	}
}
func (m *mplsLayer) CanDecode() gopacket.LayerClass { return layers.LayerTypeMPLS }
func (m *mplsLayer) NextLayerType() gopacket.LayerType {
	if len(m.Payload) > 0 {
		switch m.Payload[0] >> 4 {
		case 4:
			return layers.LayerTypeIPv4
		case 6:
			return layers.LayerTypeIPv6
		}
	}
	return gopacket.LayerTypeZero
}

// destLayer and routingLayer make gopacket's IPv6 destination options and
// routing headers usable in a DecodingLayerParser.
type destLayer struct{ layers.IPv6Destination }

func (d *destLayer) CanDecode() gopacket.LayerClass { return layers.LayerTypeIPv6Destination }
func (d *destLayer) NextLayerType() gopacket.LayerType {
	return d.NextHeader.LayerType()
}

type routingLayer struct{ layers.IPv6ExtensionSkipper }

func (d *routingLayer) CanDecode() gopacket.LayerClass { return layers.LayerTypeIPv6Routing }

// oracle decodes frames with gopacket's layer decoders chained by a
// DecodingLayerParser, which records a layer only when it decoded
// without error.
type oracle struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	mpls    mplsLayer
	loop    layers.Loopback
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	ip4     layers.IPv4
	ip6     layers.IPv6
	dest    destLayer
	routing routingLayer
	frag    layers.IPv6Fragment
	ah      layers.IPSecAH
	tcp     layers.TCP
	udp     layers.UDP
	sctp    layers.SCTP
	icmp4   layers.ICMPv4
	icmp6   layers.ICMPv6
	decoded []gopacket.LayerType
	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser
}

// decode returns what Decode should make of frame, and how far gopacket
// got: ip when it decoded the IP header, l4 when also the transport
// header; err is the error that stopped it.
func (o *oracle) decode(lt flow.LinkType, frame []byte) (r flow.Record, ip, l4 bool, err error) {
	var first gopacket.LayerType
	switch lt {
	case flow.LinkTypeEthernet:
		first = layers.LayerTypeEthernet
	case flow.LinkTypeNull:
		first = layers.LayerTypeLoopback
	case flow.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case flow.LinkTypeLinuxSLL2:
		first = layers.LayerTypeLinuxSLL2
	default:
		first = layers.LayerTypeIPv4
		if len(frame) > 0 && frame[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
	}
	p := o.parsers[first]
	if p == nil {
		p = gopacket.NewDecodingLayerParser(first, &o.eth, &o.dot1q, &o.mpls, &o.loop, &o.sll, &o.sll2,
			&o.ip4, &o.ip6, &o.dest, &o.routing, &o.frag, &o.ah, &o.tcp, &o.udp, &o.sctp, &o.icmp4, &o.icmp6)
		p.IgnoreUnsupported = true
		if o.parsers == nil {
			o.parsers = map[gopacket.LayerType]*gopacket.DecodingLayerParser{}
		}
		o.parsers[first] = p
	}
	err = p.DecodeLayers(frame, &o.decoded)
	r.Packets = 1
	for _, t := range o.decoded {
		switch t {
		case layers.LayerTypeEthernet:
			r.SrcMAC = mac(o.eth.SrcMAC)
		case layers.LayerTypeLinuxSLL:
			if o.sll.AddrType == 1 && o.sll.AddrLen == 6 {
				r.SrcMAC = mac(o.sll.Addr)
			}
		case layers.LayerTypeLinuxSLL2:
			if o.sll2.ARPHardwareType == 1 && o.sll2.AddrLength == 6 {
				r.SrcMAC = mac(o.sll2.Addr)
			}
		case layers.LayerTypeIPv4:
			ip = true
			r.Src, _ = netip.AddrFromSlice(o.ip4.SrcIP.To4())
			r.Dst, _ = netip.AddrFromSlice(o.ip4.DstIP.To4())
			r.Proto, r.Bytes = uint8(o.ip4.Protocol), uint64(o.ip4.Length)
			if o.ip4.FragOffset != 0 {
				r.Flags |= flow.FlagFragment
			}
		case layers.LayerTypeIPv6:
			ip = true
			r.Src, _ = netip.AddrFromSlice(o.ip6.SrcIP)
			r.Dst, _ = netip.AddrFromSlice(o.ip6.DstIP)
			r.Src, r.Dst = r.Src.Unmap(), r.Dst.Unmap()
			r.Proto, r.Bytes = uint8(o.ip6.NextHeader), uint64(o.ip6.Length)+40
			if o.ip6.HopByHop != nil {
				r.Proto = uint8(o.ip6.HopByHop.NextHeader)
			}
		case layers.LayerTypeIPv6Destination:
			r.Proto = uint8(o.dest.NextHeader)
		case layers.LayerTypeIPv6Routing:
			r.Proto = uint8(o.routing.NextHeader)
		case layers.LayerTypeIPSecAH:
			r.Proto = uint8(o.ah.NextHeader)
		case layers.LayerTypeIPv6Fragment:
			r.Proto = uint8(o.frag.NextHeader)
			if o.frag.FragmentOffset != 0 {
				r.Flags |= flow.FlagFragment
			}
		case layers.LayerTypeTCP:
			l4 = true
			r.SrcPort, r.DstPort = uint16(o.tcp.SrcPort), uint16(o.tcp.DstPort)
			r.TCPFlags = tcpFlags(&o.tcp)
		case layers.LayerTypeUDP:
			l4 = true
			r.SrcPort, r.DstPort = uint16(o.udp.SrcPort), uint16(o.udp.DstPort)
		case layers.LayerTypeSCTP:
			l4 = true
			r.SrcPort, r.DstPort = uint16(o.sctp.SrcPort), uint16(o.sctp.DstPort)
		case layers.LayerTypeICMPv4:
			l4 = true
			r.DstPort = uint16(o.icmp4.TypeCode)
		case layers.LayerTypeICMPv6:
			l4 = true
			r.DstPort = uint16(o.icmp6.TypeCode)
		}
	}
	return r, ip, l4, err
}

func mac(b []byte) uint64 {
	var v uint64
	for _, x := range b[:6] {
		v = v<<8 | uint64(x)
	}
	return v
}

func tcpFlags(l *layers.TCP) uint8 {
	var f uint8
	for i, set := range []bool{l.FIN, l.SYN, l.RST, l.PSH, l.ACK, l.URG, l.ECE, l.CWR} {
		if set {
			f |= 1 << i
		}
	}
	return f
}

// differ compares Decode with gopacket on one frame. It returns whether
// the transport fields were compared.
func (o *oracle) differ(t *testing.T, lt flow.LinkType, frame []byte) (compared bool) {
	t.Helper()
	var got flow.Record
	err := packet.Decode(lt, frame, &got)
	want, ip, l4, oerr := o.decode(lt, frame)
	if !ip {
		switch {
		case err != nil:
		case got.Flags&flow.FlagTruncated != 0 && oerr != nil && (oerr.Error() == "Not all IP header bytes available" ||
			strings.HasPrefix(oerr.Error(), "Invalid ip6-extension header. Length")):
			// IPv4 options or an IPv6 hop-by-hop header cut by the
			// capture: gopacket (v1.7.7) drops the packet, Decode keeps
			// addresses and size and flags it truncated.
		default:
			t.Fatalf("Decode() = %+v, gopacket finds no IP header (%v) in % x", got, oerr, frame)
		}
		return false
	}
	if err != nil {
		t.Fatalf("Decode() error = %v, gopacket decodes IP in % x", err, frame)
	}
	if !l4 || got.Flags&(flow.FlagTruncated|flow.FlagFragment) != 0 {
		// Compare only what both reached: gopacket gives up on a cut
		// transport header, and does not decode first fragments.
		got = flow.Record{Src: got.Src, Dst: got.Dst, Bytes: got.Bytes, SrcMAC: got.SrcMAC, Packets: 1, Flags: got.Flags & flow.FlagFragment}
		want = flow.Record{Src: want.Src, Dst: want.Dst, Bytes: want.Bytes, SrcMAC: want.SrcMAC, Packets: 1, Flags: want.Flags}
	}
	if !sameOwned(&got, &want) {
		t.Fatalf("Decode() (-got, +gopacket):\n%s\nframe % x", cmp.Diff(got, want, cmpAddr), frame)
	}
	return l4
}

// TestDifferentialGopacket decodes every frame of every shared capture,
// of a synthetic capture and of the hand-built tables with both Decode and
// gopacket, field by field.
func TestDifferentialGopacket(t *testing.T) {
	o := new(oracle)
	t.Run("real", func(t *testing.T) {
		dir := testutil.SharedDir(t, "real")
		files, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
		total, compared := 0, 0
		for _, file := range files {
			for _, f := range readCapture(t, file) {
				total++
				if o.differ(t, f.LinkType, f.Data) {
					compared++
				}
				// Every cut through the headers (none here is longer
				// than 128 bytes); past them nothing changes.
				for i := range min(len(f.Data), 160) {
					o.differ(t, f.LinkType, f.Data[:i:i])
				}
			}
		}
		// Non-IP frames (ARP) and the few gopacket rejects aside, almost
		// every frame must be compared down to its ports.
		if compared < total*95/100 {
			t.Fatalf("compared %d of %d frames down to the transport header, want 95%%", compared, total)
		}
		t.Logf("%d frames, %d compared down to the transport header", total, compared)
	})
	t.Run("synthetic", func(t *testing.T) {
		var buf bytes.Buffer
		if err := pktgen.Synthetic(&buf, 20000, 7); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "s.pcap")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, f := range readCapture(t, path) {
			if !o.differ(t, f.LinkType, f.Data) {
				t.Fatalf("synthetic frame not compared to the transport header: % x", f.Data)
			}
		}
	})
	t.Run("hand-built", func(t *testing.T) {
		type lf struct {
			lt    flow.LinkType
			frame []byte
		}
		e := func(b []byte) lf { return lf{flow.LinkTypeEthernet, b} }
		frames := []lf{
			e(eth(tcp4(flow.TCPSyn|flow.TCPEce|flow.TCPCwr, 0), 0x8100, 0x0800)),
			e(eth(udp6(10), 0x88a8, 0x8100, 0x86dd)),
			e(eth(mpls(tcp6(flow.TCPAck, 10), 1, 2, 3), 0x8847)),
			e(eth(withIPv4Options(udp4(30), []byte{1, 1, 1, 0, 0x94, 4, 0, 0}), 0x0800)),
			e(eth(withExt(tcp6(flow.TCPRst, 0), ext{0, hdr8(0)}, ext{60, hdr8(1)}, ext{43, hdr8(2)}), 0x86dd)),
			e(eth(withExt(udp6(100), ext{44, frag6(0, false)}), 0x86dd)),
			e(eth(withExt(pktgen.ICMPEchoRaw(src6.Addr(), dst6.Addr(), false), ext{51, ah(4)}), 0x86dd)),
			e(pktgen.ICMPEcho(src4.Addr(), dst4.Addr(), true)),
			e(eth(func() []byte { b := udp6(20); b[6] = 132; return b }(), 0x86dd)),
			{flow.LinkTypeNull, null(2, binary.LittleEndian, udp4(5))},
			{flow.LinkTypeNull, null(30, binary.LittleEndian, tcp6(flow.TCPFin, 5))},
			{flow.LinkTypeLinuxSLL, sll(1, 0x0800, tcp4(flow.TCPSyn, 0))},
			{flow.LinkTypeLinuxSLL2, sll2(1, 0x86dd, udp6(0))},
			{flow.LinkTypeRaw, pktgen.ICMPEchoRaw(src6.Addr(), dst6.Addr(), true)},
		}
		// Fragments: gopacket stops at the IP layer, so only addresses,
		// size and the fragment flag are compared.
		for _, f := range []lf{
			e(eth(fragment4(udp4(100), 20, false), 0x0800)),
			e(eth(withExt(udp6(100), ext{44, frag6(9, false)}), 0x86dd)),
		} {
			o.differ(t, f.lt, f.frame)
		}
		for _, f := range frames {
			if !o.differ(t, f.lt, f.frame) {
				t.Fatalf("hand-built frame not compared to the transport header: % x", f.frame)
			}
			for i := range f.frame {
				o.differ(t, f.lt, f.frame[:i:i])
			}
		}
	})
}
