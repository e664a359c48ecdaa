package pktgen

import (
	"encoding/binary"
	"net/netip"

	"abuseguard/flow"
)

// Packet describes one packet to build. Zero fields take the defaults
// noted; Src and Dst must be of the same address family, which chooses
// IPv4 or IPv6.
type Packet struct {
	// Src and Dst are the addresses and ports (ports are ignored for ICMP).
	Src, Dst netip.AddrPort
	// Proto is flow.ProtoTCP, ProtoUDP, ProtoICMP or ProtoICMPv6; any other
	// number gets no transport header, only Payload bytes.
	Proto uint8
	// TCPFlags, Seq and Ack fill the TCP header; Window defaults to 64240.
	TCPFlags uint8
	Seq, Ack uint32
	Window   uint16
	// ICMPType and ICMPCode fill the ICMP header; ICMPID and ICMPSeq its
	// second word (echo identifier and sequence).
	ICMPType, ICMPCode uint8
	ICMPID, ICMPSeq    uint16
	// Payload is the number of payload bytes after the transport header,
	// a letter pattern; Data, when not nil, is the payload instead.
	Payload int
	Data    []byte
	// TTL is the IPv4 TTL or IPv6 hop limit; default 64.
	TTL uint8
	// IPID is the IPv4 identification.
	IPID uint16
	// SrcMAC and DstMAC are packed into the low 48 bits; default
	// MAC(Src.Addr()) and MAC(Dst.Addr()).
	SrcMAC, DstMAC uint64
	// VLAN, when not 0, adds an 802.1Q tag with this VLAN id.
	VLAN uint16
}

const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	tcpHeaderLen  = 20
	udpHeaderLen  = 8
	icmpHeaderLen = 8
	defaultTTL    = 64
	defaultWindow = 64240 // Linux's initial window for a 1460-byte MSS
)

// MAC returns the MAC address the builders give addr by default: the
// locally administered unicast 02:00:a.b.c.d with the address's last four
// bytes, so tests can tell senders apart by Record.SrcMAC.
func MAC(addr netip.Addr) uint64 {
	b := addr.As16()
	return 0x02_00_00_00_00_00 | uint64(binary.BigEndian.Uint32(b[12:16]))
}

// AppendEthernet appends the Ethernet frame (with the VLAN tag, if any)
// carrying the packet to b and returns the extended slice.
func (p *Packet) AppendEthernet(b []byte) []byte {
	dst, src := p.DstMAC, p.SrcMAC
	if dst == 0 {
		dst = MAC(p.Dst.Addr())
	}
	if src == 0 {
		src = MAC(p.Src.Addr())
	}
	b = appendMAC(b, dst)
	b = appendMAC(b, src)
	if p.VLAN != 0 {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, p.VLAN&0x0fff)
	}
	if p.Src.Addr().Is4() {
		b = binary.BigEndian.AppendUint16(b, 0x0800)
	} else {
		b = binary.BigEndian.AppendUint16(b, 0x86dd)
	}
	return p.AppendIP(b)
}

// AppendIP appends the IP packet (IPv4 or IPv6 header, transport header,
// payload) to b, with correct lengths and checksums.
func (p *Packet) AppendIP(b []byte) []byte {
	l4 := p.transportLen()
	start := len(b)
	v4 := p.Src.Addr().Is4()
	ttl := p.TTL
	if ttl == 0 {
		ttl = defaultTTL
	}
	if v4 {
		total := ipv4HeaderLen + l4
		b = append(b, 0x45, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(total))
		b = binary.BigEndian.AppendUint16(b, p.IPID)
		b = binary.BigEndian.AppendUint16(b, 0x4000) // don't fragment, as Linux sends
		b = append(b, ttl, p.Proto, 0, 0)
		src, dst := p.Src.Addr().As4(), p.Dst.Addr().As4()
		b = append(b, src[:]...)
		b = append(b, dst[:]...)
		binary.BigEndian.PutUint16(b[start+10:], checksum(0, b[start:start+ipv4HeaderLen]))
	} else {
		b = append(b, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(l4))
		b = append(b, p.Proto, ttl)
		src, dst := p.Src.Addr().As16(), p.Dst.Addr().As16()
		b = append(b, src[:]...)
		b = append(b, dst[:]...)
	}
	hlen := len(b) - start
	l4start := len(b)
	b = p.appendTransport(b)
	if p.Data != nil {
		b = append(b, p.Data...)
	} else {
		b = appendPayload(b, p.Payload)
	}

	seg := b[l4start:]
	var sum uint32
	if p.Proto != flow.ProtoICMP {
		// TCP, UDP and ICMPv6 checksums cover a pseudo-header: addresses,
		// upper-layer length and protocol (RFC 793, 768, 8200 section 8.1).
		ip := b[start : start+hlen]
		if v4 {
			sum = sumBytes(sum, ip[12:20])
		} else {
			sum = sumBytes(sum, ip[8:40])
		}
		sum += uint32(len(seg)) + uint32(p.Proto)
	}
	switch p.Proto {
	case flow.ProtoTCP:
		binary.BigEndian.PutUint16(seg[16:], checksum(sum, seg))
	case flow.ProtoUDP:
		c := checksum(sum, seg)
		if c == 0 {
			c = 0xffff // 0 means "no checksum" in UDP (RFC 768)
		}
		binary.BigEndian.PutUint16(seg[6:], c)
	case flow.ProtoICMP, flow.ProtoICMPv6:
		binary.BigEndian.PutUint16(seg[2:], checksum(sum, seg))
	}
	return b
}

// transportLen is the length of the transport header and payload.
func (p *Packet) transportLen() int {
	n := p.payloadLen()
	switch p.Proto {
	case flow.ProtoTCP:
		return tcpHeaderLen + n
	case flow.ProtoUDP:
		return udpHeaderLen + n
	case flow.ProtoICMP, flow.ProtoICMPv6:
		return icmpHeaderLen + n
	}
	return n
}

func (p *Packet) payloadLen() int {
	if p.Data != nil {
		return len(p.Data)
	}
	return p.Payload
}

// appendTransport appends the transport header with a zero checksum.
func (p *Packet) appendTransport(b []byte) []byte {
	switch p.Proto {
	case flow.ProtoTCP:
		win := p.Window
		if win == 0 {
			win = defaultWindow
		}
		b = binary.BigEndian.AppendUint16(b, p.Src.Port())
		b = binary.BigEndian.AppendUint16(b, p.Dst.Port())
		b = binary.BigEndian.AppendUint32(b, p.Seq)
		b = binary.BigEndian.AppendUint32(b, p.Ack)
		b = append(b, tcpHeaderLen/4<<4, p.TCPFlags)
		b = binary.BigEndian.AppendUint16(b, win)
		b = append(b, 0, 0, 0, 0) // checksum, urgent pointer
	case flow.ProtoUDP:
		b = binary.BigEndian.AppendUint16(b, p.Src.Port())
		b = binary.BigEndian.AppendUint16(b, p.Dst.Port())
		b = binary.BigEndian.AppendUint16(b, uint16(udpHeaderLen+p.payloadLen()))
		b = append(b, 0, 0)
	case flow.ProtoICMP, flow.ProtoICMPv6:
		b = append(b, p.ICMPType, p.ICMPCode, 0, 0)
		b = binary.BigEndian.AppendUint16(b, p.ICMPID)
		b = binary.BigEndian.AppendUint16(b, p.ICMPSeq)
	}
	return b
}

// appendPayload appends n bytes of a fixed pattern (not zeros, so that a
// checksum bug cannot hide behind all-zero data).
func appendPayload(b []byte, n int) []byte {
	for i := range n {
		b = append(b, byte('a'+i%26))
	}
	return b
}

func appendMAC(b []byte, mac uint64) []byte {
	return append(b, byte(mac>>40), byte(mac>>32), byte(mac>>24), byte(mac>>16), byte(mac>>8), byte(mac))
}

// sumBytes adds b to a ones'-complement sum as big-endian 16-bit words.
func sumBytes(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// checksum is the Internet checksum (RFC 1071) of b on top of sum.
func checksum(sum uint32, b []byte) uint16 {
	sum = sumBytes(sum, b)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
