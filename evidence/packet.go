package evidence

import (
	"encoding/binary"
	"net/netip"
)

// The traffic dump reads a few things the sample's parsed fields do not
// carry from the raw frame, when there is one: the IP and TCP header
// lengths (for tcpdump's payload "length"), ICMP identifiers and sequence
// numbers, and the packet quoted in an ICMP error. This is a minimal parser
// for that and nothing more: it runs once per rendered sample, not per
// packet on the wire, and returns ok=false for anything it does not know
// rather than guessing.

// ipPacket is an IP packet located in a captured frame.
type ipPacket struct {
	v6    bool
	src   netip.Addr
	dst   netip.Addr
	proto uint8 // transport protocol, after IPv6 extension headers
	// length is the IP length from the header (total length, or 40 plus
	// the payload length), which may exceed what was captured.
	length int
	// hdrLen is the length of the IP header, IPv6 extension headers
	// included.
	hdrLen int
	// extHeaders is set when IPv6 extension headers precede the transport.
	extHeaders bool
	// fragment is set for non-first fragments: they have no transport
	// header.
	fragment bool
	// l4 is the captured transport header and payload, possibly truncated.
	l4 []byte
}

// EtherTypes and IPv6 next-header values the parser follows.
const (
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
	etherTypeVLAN  = 0x8100
	etherTypeQinQ  = 0x88a8
	ipv6HopByHop   = 0
	ipv6Routing    = 43
	ipv6Fragment   = 44
	ipv6AH         = 51
	ipv6DestOpts   = 60
	ipv6HeaderLen  = 40
	ipv4MinHdrLen  = 20
	maxVLANHeaders = 2
)

// ipOffset returns where the IP header starts in a frame of the given pcap
// link type, or -1.
func ipOffset(link uint16, data []byte) int {
	switch link {
	case 0: // NULL: 4-byte address family, then IP
		return 4
	case 101, 228, 229: // RAW, IPV4, IPV6
		return 0
	case 113: // LINUX_SLL: protocol at 14, header 16 bytes
		if len(data) < 16 || !isIPEtherType(binary.BigEndian.Uint16(data[14:])) {
			return -1
		}
		return 16
	case 276: // LINUX_SLL2: protocol at 0, header 20 bytes
		if len(data) < 20 || !isIPEtherType(binary.BigEndian.Uint16(data[0:])) {
			return -1
		}
		return 20
	case 1: // Ethernet, up to two 802.1Q/802.1ad tags
		off := 12
		for range maxVLANHeaders + 1 {
			if len(data) < off+2 {
				return -1
			}
			switch et := binary.BigEndian.Uint16(data[off:]); {
			case isIPEtherType(et):
				return off + 2
			case et == etherTypeVLAN || et == etherTypeQinQ:
				off += 4
			default:
				return -1
			}
		}
	}
	return -1
}

func isIPEtherType(et uint16) bool { return et == etherTypeIPv4 || et == etherTypeIPv6 }

// parseIP parses the IP packet at the start of b, following IPv6
// extension headers to the transport header.
func parseIP(b []byte) (p ipPacket, ok bool) {
	if len(b) < 1 {
		return p, false
	}
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0x0f) * 4
		if ihl < ipv4MinHdrLen || len(b) < ihl {
			return p, false
		}
		p.src = netip.AddrFrom4([4]byte(b[12:16]))
		p.dst = netip.AddrFrom4([4]byte(b[16:20]))
		p.proto = b[9]
		p.length = int(binary.BigEndian.Uint16(b[2:]))
		p.hdrLen = ihl
		p.fragment = binary.BigEndian.Uint16(b[6:])&0x1fff != 0
		p.l4 = b[ihl:]
		return p, true
	case 6:
		if len(b) < ipv6HeaderLen {
			return p, false
		}
		p.v6 = true
		p.src = netip.AddrFrom16([16]byte(b[8:24]))
		p.dst = netip.AddrFrom16([16]byte(b[24:40]))
		p.length = ipv6HeaderLen + int(binary.BigEndian.Uint16(b[4:]))
		next, off := b[6], ipv6HeaderLen
		for {
			var n int
			switch next {
			case ipv6HopByHop, ipv6Routing, ipv6DestOpts:
				if len(b) < off+2 {
					return p, false
				}
				n = (int(b[off+1]) + 1) * 8
			case ipv6Fragment:
				if len(b) < off+8 {
					return p, false
				}
				n = 8
				p.fragment = p.fragment || binary.BigEndian.Uint16(b[off+2:])&0xfff8 != 0
			case ipv6AH:
				if len(b) < off+2 {
					return p, false
				}
				n = (int(b[off+1]) + 2) * 4
			default:
				p.proto, p.hdrLen = next, off
				p.l4 = b[off:]
				return p, true
			}
			if len(b) < off+n {
				return p, false
			}
			p.extHeaders = true
			next, off = b[off], off+n
		}
	}
	return p, false
}

// parseFrame locates and parses the IP packet in a captured frame.
func parseFrame(link uint16, data []byte) (ipPacket, bool) {
	off := ipOffset(link, data)
	if off < 0 || off > len(data) {
		return ipPacket{}, false
	}
	return parseIP(data[off:])
}
