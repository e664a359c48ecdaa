// Package pktgen builds packets and captures for tests and benchmarks:
// single frames with correct lengths and checksums (tcpdump and tshark
// accept them), pcap files of them, and a large deterministic synthetic
// traffic mix.
//
// Frames built here are what a mirror port of a hosting provider sees:
// Ethernet II, optionally 802.1Q-tagged, IPv4 (DF set, no options) or
// IPv6 (no extension headers), TCP without options, UDP, ICMP echo. The
// payload is a fixed letter pattern. Only tests and benchmarks import it.
package pktgen

import (
	"net/netip"

	"abuseguard/flow"
)

// TCP returns an Ethernet frame with one TCP segment from src to dst with
// the given flags (flow.TCPSyn...) and payload bytes.
func TCP(src, dst netip.AddrPort, flags uint8, payload int) []byte {
	p := Packet{Src: src, Dst: dst, Proto: flow.ProtoTCP, TCPFlags: flags, Payload: payload}
	return p.AppendEthernet(nil)
}

// UDP returns an Ethernet frame with one UDP datagram from src to dst.
func UDP(src, dst netip.AddrPort, payload int) []byte {
	p := Packet{Src: src, Dst: dst, Proto: flow.ProtoUDP, Payload: payload}
	return p.AppendEthernet(nil)
}

// ICMPEcho returns an Ethernet frame with an ICMP (IPv4) or ICMPv6 (IPv6)
// echo request, or echo reply when reply is true, with identifier 1,
// sequence 1 and 56 bytes of data, as ping sends.
func ICMPEcho(src, dst netip.Addr, reply bool) []byte {
	p := echo(src, dst, reply)
	return p.AppendEthernet(nil)
}

// TCPRaw is TCP without the Ethernet header, for flow.LinkTypeRaw.
func TCPRaw(src, dst netip.AddrPort, flags uint8, payload int) []byte {
	p := Packet{Src: src, Dst: dst, Proto: flow.ProtoTCP, TCPFlags: flags, Payload: payload}
	return p.AppendIP(nil)
}

// UDPRaw is UDP without the Ethernet header, for flow.LinkTypeRaw.
func UDPRaw(src, dst netip.AddrPort, payload int) []byte {
	p := Packet{Src: src, Dst: dst, Proto: flow.ProtoUDP, Payload: payload}
	return p.AppendIP(nil)
}

// ICMPEchoRaw is ICMPEcho without the Ethernet header, for flow.LinkTypeRaw.
func ICMPEchoRaw(src, dst netip.Addr, reply bool) []byte {
	p := echo(src, dst, reply)
	return p.AppendIP(nil)
}

// ICMP types of echo request and reply.
const (
	icmpEchoReply     = 0
	icmpEchoRequest   = 8
	icmpv6EchoRequest = 128
	icmpv6EchoReply   = 129
	pingPayload       = 56 // ping's default -s
)

func echo(src, dst netip.Addr, reply bool) Packet {
	p := Packet{
		Src:     netip.AddrPortFrom(src, 0),
		Dst:     netip.AddrPortFrom(dst, 0),
		ICMPID:  1,
		ICMPSeq: 1,
		Payload: pingPayload,
	}
	switch {
	case src.Is4() && reply:
		p.Proto, p.ICMPType = flow.ProtoICMP, icmpEchoReply
	case src.Is4():
		p.Proto, p.ICMPType = flow.ProtoICMP, icmpEchoRequest
	case reply:
		p.Proto, p.ICMPType = flow.ProtoICMPv6, icmpv6EchoReply
	default:
		p.Proto, p.ICMPType = flow.ProtoICMPv6, icmpv6EchoRequest
	}
	return p
}
