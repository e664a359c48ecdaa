package evidence

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"abuseguard"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Test packets are built and decoded with gopacket, not with this package's
// parser, so that the tests do not grade the parser with its own answers.

var (
	macServer = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	macRouter = net.HardwareAddr{0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc}
)

// serialize builds a packet from layers, fixing lengths and checksums.
func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	var network gopacket.NetworkLayer
	for _, l := range ls {
		if n, ok := l.(gopacket.NetworkLayer); ok && network == nil {
			network = n
		}
	}
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(network)
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(network)
		case *layers.ICMPv6:
			l.SetNetworkLayerForChecksum(network)
		}
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return buf.Bytes()
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto,
		SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next,
		SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

func eth(src, dst net.HardwareAddr, typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: typ}
}

// sampleOf decodes a frame with gopacket and fills a PacketSample as the
// capture path does: parsed fields, link type, data.
func sampleOf(t *testing.T, at time.Time, link layers.LinkType, data []byte) abuseguard.PacketSample {
	t.Helper()
	s, ok := trySample(at, link, data)
	if !ok {
		t.Fatalf("sampleOf: gopacket found no IP header in % x", data)
	}
	return s
}

// trySample is sampleOf for frames that may not be IP.
func trySample(at time.Time, link layers.LinkType, data []byte) (abuseguard.PacketSample, bool) {
	if len(data) == 0 {
		return abuseguard.PacketSample{}, false
	}
	var first gopacket.Decoder = link
	if link == layers.LinkTypeRaw {
		first = layers.LayerTypeIPv4
		if data[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
	}
	pkt := gopacket.NewPacket(data, first, gopacket.Default)
	s := abuseguard.PacketSample{Time: at, Packets: 1, SamplingRate: 1,
		LinkType: uint16(link), OrigLen: uint32(len(data)), Data: data}
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			s.Src, _ = netip.AddrFromSlice(l.SrcIP.To4())
			s.Dst, _ = netip.AddrFromSlice(l.DstIP.To4())
			s.Length = uint32(l.Length)
			s.Proto = uint8(l.Protocol)
		case *layers.IPv6:
			s.Src, _ = netip.AddrFromSlice(l.SrcIP)
			s.Dst, _ = netip.AddrFromSlice(l.DstIP)
			s.Length = 40 + uint32(l.Length)
			s.Proto = uint8(l.NextHeader)
		case *layers.TCP:
			s.SrcPort, s.DstPort = uint16(l.SrcPort), uint16(l.DstPort)
			s.TCPFlags = tcpFlagsOf(l)
		case *layers.UDP:
			s.SrcPort, s.DstPort = uint16(l.SrcPort), uint16(l.DstPort)
		case *layers.ICMPv4:
			s.DstPort = uint16(l.TypeCode)
			return s, true // the rest is the quoted packet
		case *layers.ICMPv6:
			s.DstPort = uint16(l.TypeCode)
			return s, true
		}
	}
	return s, s.Src.IsValid()
}

func tcpFlagsOf(l *layers.TCP) uint8 {
	var f uint8
	for i, set := range []bool{l.FIN, l.SYN, l.RST, l.PSH, l.ACK, l.URG, l.ECE, l.CWR} {
		if set {
			f |= 1 << i
		}
	}
	return f
}
