package packet_test

import (
	"encoding/binary"
	"net/netip"

	"abuseguard/flow"
	"abuseguard/testutil/pktgen"
)

// Hand-built frames for the table tests. The IP packets come from pktgen
// (checked against tshark in its own tests); the link layers and IPv6
// extension headers are spelled out byte by byte here.

var (
	src4 = netip.MustParseAddrPort("203.0.113.7:3374")
	dst4 = netip.MustParseAddrPort("198.51.100.155:4001")
	src6 = netip.MustParseAddrPort("[2001:db8:100::7]:3374")
	dst6 = netip.MustParseAddrPort("[2001:db8:200::9]:443")

	macSrc = []byte{0x90, 0xb1, 0x1c, 0x99, 0x49, 0x29}
	macDst = []byte{0x00, 0x0c, 0x29, 0x40, 0x0e, 0xef}
)

const macSrc48 = 0x90b11c994929

func tcp4(flags uint8, payload int) []byte { return pktgen.TCPRaw(src4, dst4, flags, payload) }
func tcp6(flags uint8, payload int) []byte { return pktgen.TCPRaw(src6, dst6, flags, payload) }
func udp4(payload int) []byte              { return pktgen.UDPRaw(src4, dst4, payload) }
func udp6(payload int) []byte              { return pktgen.UDPRaw(src6, dst6, payload) }

// eth wraps an IP packet (or anything) in Ethernet with the given
// EtherTypes: all but the last are VLAN-style tags with a TCI of 100+i.
func eth(payload []byte, types ...uint16) []byte {
	b := append(append([]byte{}, macDst...), macSrc...)
	for i, t := range types {
		b = binary.BigEndian.AppendUint16(b, t)
		if i < len(types)-1 {
			b = binary.BigEndian.AppendUint16(b, uint16(100+i))
		}
	}
	return append(b, payload...)
}

// mpls prefixes a label stack; the last label has the bottom-of-stack bit.
func mpls(payload []byte, labels ...uint32) []byte {
	var b []byte
	for i, l := range labels {
		e := l<<12 | 64 // TTL 64
		if i == len(labels)-1 {
			e |= 1 << 8
		}
		b = binary.BigEndian.AppendUint32(b, e)
	}
	return append(b, payload...)
}

// null prefixes a BSD loopback header with family in the given byte order.
func null(family uint32, order binary.AppendByteOrder, payload []byte) []byte {
	b := order.AppendUint32(nil, family)
	return append(b, payload...)
}

// sll prefixes a Linux cooked v1 header for an incoming Ethernet frame.
func sll(hatype uint16, proto uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, 0) // packet for us
	b = binary.BigEndian.AppendUint16(b, hatype)
	b = binary.BigEndian.AppendUint16(b, 6)
	b = append(b, macSrc...)
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint16(b, proto)
	return append(b, payload...)
}

// sll2 prefixes a Linux cooked v2 header.
func sll2(hatype uint16, proto uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, proto)
	b = append(b, 0, 0)                          // reserved
	b = binary.BigEndian.AppendUint32(b, 2)      // ifindex
	b = binary.BigEndian.AppendUint16(b, hatype) // ARPHRD
	b = append(b, 0, 6)                          // packet type, address length
	b = append(b, macSrc...)
	b = append(b, 0, 0)
	return append(b, payload...)
}

// withIPv4Options inserts opts (a multiple of 4 bytes) after the IPv4
// header and fixes IHL and total length. The header checksum goes stale;
// decoders do not check it.
func withIPv4Options(ip []byte, opts []byte) []byte {
	b := append([]byte{}, ip[:20]...)
	b = append(b, opts...)
	b = append(b, ip[20:]...)
	b[0] = 0x40 | byte((20+len(opts))/4)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

// fragment4 sets the IPv4 fragment offset (8-byte units) and MF bit.
func fragment4(ip []byte, offset uint16, more bool) []byte {
	b := append([]byte{}, ip...)
	v := offset & 0x1fff
	if more {
		v |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:8], v)
	return b
}

// ext is one IPv6 extension header to insert: its type and body bytes
// after the next-header byte (the builder writes the next-header byte).
type ext struct {
	typ  uint8
	body []byte
}

// hdr8 is a generic 8n-byte extension header body: length byte then
// padding (PadN options), for hop-by-hop, destination, routing and the like.
func hdr8(units int) []byte {
	b := make([]byte, 8*(units+1)-1)
	b[0] = byte(units)
	return b
}

// ah is an Authentication Header body with payload length plen
// (4-octet units minus 2): total (plen+2)*4 bytes.
func ah(plen int) []byte {
	b := make([]byte, (plen+2)*4-1)
	b[0] = byte(plen)
	return b
}

// frag6 is a Fragment header body with the given offset (8-byte units).
func frag6(offset uint16, more bool) []byte {
	v := offset << 3
	if more {
		v |= 1
	}
	b := []byte{0, byte(v >> 8), byte(v), 0xca, 0xfe, 0xba, 0xbe}
	return b
}

// withExt inserts extension headers between the IPv6 header and its
// payload and fixes next-header fields and the payload length.
func withExt(ip []byte, exts ...ext) []byte {
	if len(exts) == 0 {
		return ip
	}
	upper := ip[6]
	b := append([]byte{}, ip[:40]...)
	b[6] = exts[0].typ
	for i, e := range exts {
		next := upper
		if i+1 < len(exts) {
			next = exts[i+1].typ
		}
		b = append(b, next)
		b = append(b, e.body...)
	}
	b = append(b, ip[40:]...)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)-40))
	return b
}

// record is the part of a flow.Record Decode owns, for table wants.
func record(src, dst netip.AddrPort, proto uint8, bytes uint64) flow.Record {
	return flow.Record{
		Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(),
		Proto: proto, Bytes: bytes, Packets: 1,
	}
}
