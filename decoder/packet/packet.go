// Package packet decodes one captured frame into a flow.Record: addresses,
// protocol, ports, TCP flags and size. It is the hot path of every packet
// input (pcap files, AF_PACKET, the headers inside sFlow samples), so it is
// a pure function over bytes that never allocates when it succeeds and
// never panics, whatever the bytes.
//
// What it understands:
//   - link layers: Ethernet with any number of 802.1Q/802.1ad tags, MPLS
//     label stacks, BSD loopback, raw IP, Linux cooked captures v1 and v2;
//   - IPv4 with options and fragments;
//   - IPv6 with its extension header chain (hop-by-hop, routing, fragment,
//     destination options, AH, mobility, HIP, shim6), at most 16 headers;
//   - TCP, UDP, UDP-Lite and SCTP ports, TCP flags, ICMP/ICMPv6 type and code.
//
// Tunnels (GRE, IP-in-IP, VXLAN) are not opened: the record describes the
// outer packet, which is what the edge routers see and block.
package packet

import (
	"encoding/binary"

	"abuseguard/flow"
)

// EtherTypes Decode dispatches on.
const (
	etherTypeIPv4      = 0x0800
	etherTypeIPv6      = 0x86dd
	etherTypeVLAN      = 0x8100 // 802.1Q
	etherTypeQinQ      = 0x88a8 // 802.1ad service tag
	etherTypeQinQOld   = 0x9100 // pre-standard QinQ, still sent by some switches
	etherTypeMPLS      = 0x8847
	etherTypeMPLSMulti = 0x8848 // same label format as unicast
)

// BSD loopback address families (LINKTYPE_NULL).
const (
	familyInet         = 2
	familyInet6Linux   = 10 // not in the LINKTYPE_NULL spec; libpcap and gopacket accept it
	familyInet6BSD     = 24 // NetBSD, OpenBSD, BSD/OS
	familyInet6FreeBSD = 28
	familyInet6Darwin  = 30
)

// Link header sizes.
const (
	ethernetHeaderLen  = 14
	vlanTagLen         = 4
	mplsLabelLen       = 4
	nullHeaderLen      = 4
	linuxSLLHeaderLen  = 16
	linuxSLL2HeaderLen = 20
	arphrdEther        = 1 // Linux ARPHRD_ETHER: the cooked header's address is a MAC
)

// Decode fills r from one frame of link type lt.
//
// It sets Src and Dst (Unmap()ped), Proto (the upper-layer protocol after
// IPv6 extension headers; ESP and No Next Header end the chain as 50 and
// 59; IPv4 keeps its header's protocol, AH included, as routers export
// it), SrcPort, DstPort (ICMP: 0 and type<<8|code), TCPFlags, Bytes (the
// IP length from the header, not the captured length; when that field is
// 0, as for TSO super-segments and jumbograms, the captured IP length),
// Packets = 1, Flags and SrcMAC (Ethernet or cooked-capture source
// address, 0 when the link has none). It first resets exactly those
// fields, so a reused Record carries nothing stale, and leaves all the
// others (times, sampling rate, Header, Exporter) to the caller.
//
// Flags: flow.FlagFragment for a non-first IP fragment (no ports);
// flow.FlagTruncated when the bytes (as captured, or as the IP length
// says) end before the fixed transport header — TCP 20, UDP 8, SCTP 12,
// ICMP 8, ICMPv6 4 bytes — or before the IPv4 options or IPv6 extension
// headers that lead to it: a cut capture or a tiny first fragment. Ports
// are then set only if their 4 bytes are there, TCP flags only if byte 13
// is, and after a cut IPv6 chain Proto is the header where it stopped. A
// chain longer than 16 headers is treated the same way, so that floods
// built of long chains are still counted.
//
// Errors: ErrNotIP for frames without IPv4/IPv6, ErrLinkType for an unknown
// link type, a *MalformedError (matching ErrMalformed) when a link header or
// the fixed IP header is cut or invalid. On error the fields Decode owns
// hold no meaningful values.
//
// Decode keeps no state: it is safe for concurrent use on distinct records.
func Decode(lt flow.LinkType, frame []byte, r *flow.Record) error {
	return decode(lt, frame, r, nil)
}

// decode is Decode; when pl is not nil it also receives the UDP payload.
func decode(lt flow.LinkType, frame []byte, r *flow.Record, pl *udpPayload) error {
	r.Src, r.Dst = zeroAddr, zeroAddr
	r.Packets, r.Bytes = 0, 0
	r.SrcPort, r.DstPort = 0, 0
	r.Proto, r.TCPFlags, r.Flags = 0, 0, 0
	r.SrcMAC = 0

	switch lt {
	case flow.LinkTypeEthernet:
		if len(frame) < ethernetHeaderLen {
			return errTruncated("ethernet header", 0, len(frame), ethernetHeaderLen)
		}
		r.SrcMAC = mac48(frame[6:12])
		return decodeEtherType(binary.BigEndian.Uint16(frame[12:14]), frame, ethernetHeaderLen, r, pl)
	case flow.LinkTypeRaw:
		return decodeIP(frame, 0, r, pl)
	case flow.LinkTypeIPv4:
		return decodeIPv4(frame, 0, r, pl)
	case flow.LinkTypeIPv6:
		return decodeIPv6(frame, 0, r, pl)
	case flow.LinkTypeNull:
		return decodeNull(frame, r, pl)
	case flow.LinkTypeLinuxSLL:
		// packet type(2) ARPHRD type(2) address length(2) address(8) protocol(2)
		if len(frame) < linuxSLLHeaderLen {
			return errTruncated("linux sll header", 0, len(frame), linuxSLLHeaderLen)
		}
		if binary.BigEndian.Uint16(frame[2:4]) == arphrdEther && binary.BigEndian.Uint16(frame[4:6]) == 6 {
			r.SrcMAC = mac48(frame[6:12])
		}
		return decodeEtherType(binary.BigEndian.Uint16(frame[14:16]), frame, linuxSLLHeaderLen, r, pl)
	case flow.LinkTypeLinuxSLL2:
		// protocol(2) reserved(2) ifindex(4) ARPHRD type(2) packet type(1)
		// address length(1) address(8)
		if len(frame) < linuxSLL2HeaderLen {
			return errTruncated("linux sll2 header", 0, len(frame), linuxSLL2HeaderLen)
		}
		if binary.BigEndian.Uint16(frame[8:10]) == arphrdEther && frame[11] == 6 {
			r.SrcMAC = mac48(frame[12:18])
		}
		return decodeEtherType(binary.BigEndian.Uint16(frame[0:2]), frame, linuxSLL2HeaderLen, r, pl)
	}
	return ErrLinkType
}

// decodeEtherType dispatches on an EtherType whose payload starts at off,
// stepping over VLAN tags (each 4 bytes: TCI, then the next EtherType).
// The loop ends because every tag consumes 4 bytes of a finite frame.
func decodeEtherType(et uint16, frame []byte, off int, r *flow.Record, pl *udpPayload) error {
	for {
		switch et {
		case etherTypeIPv4:
			return decodeIPv4(frame, off, r, pl)
		case etherTypeIPv6:
			return decodeIPv6(frame, off, r, pl)
		case etherTypeVLAN, etherTypeQinQ, etherTypeQinQOld:
			if len(frame) < off+vlanTagLen {
				return errTruncated("vlan tag", off, len(frame)-off, vlanTagLen)
			}
			et = binary.BigEndian.Uint16(frame[off+2 : off+4])
			off += vlanTagLen
		case etherTypeMPLS, etherTypeMPLSMulti:
			return decodeMPLS(frame, off, r, pl)
		default:
			return ErrNotIP
		}
	}
}

// decodeMPLS skips a label stack (4 bytes per entry, bottom of stack in
// bit 0 of the third byte). MPLS does not say what it carries, so the
// payload is guessed from the IP version nibble, as routers do for IP VPNs;
// anything else (an Ethernet pseudowire, a control word) is ErrNotIP.
func decodeMPLS(frame []byte, off int, r *flow.Record, pl *udpPayload) error {
	for {
		if len(frame) < off+mplsLabelLen {
			return errTruncated("mpls label", off, len(frame)-off, mplsLabelLen)
		}
		bottom := frame[off+2]&1 != 0
		off += mplsLabelLen
		if bottom {
			break
		}
	}
	if len(frame) <= off {
		return errTruncated("mpls payload", off, 0, 1)
	}
	switch frame[off] >> 4 {
	case 4:
		return decodeIPv4(frame, off, r, pl)
	case 6:
		return decodeIPv6(frame, off, r, pl)
	}
	return ErrNotIP
}

// decodeNull reads the 4-byte address family of BSD loopback captures. It
// is in the byte order of the machine that captured, which the file does not
// record: families are small numbers, so a value above 0xffff is the other
// order.
func decodeNull(frame []byte, r *flow.Record, pl *udpPayload) error {
	if len(frame) < nullHeaderLen {
		return errTruncated("null header", 0, len(frame), nullHeaderLen)
	}
	family := binary.LittleEndian.Uint32(frame[0:4])
	if family > 0xffff {
		family = binary.BigEndian.Uint32(frame[0:4])
	}
	switch family {
	case familyInet:
		return decodeIPv4(frame, nullHeaderLen, r, pl)
	case familyInet6Linux, familyInet6BSD, familyInet6FreeBSD, familyInet6Darwin:
		return decodeIPv6(frame, nullHeaderLen, r, pl)
	}
	return ErrNotIP
}

// mac48 packs a 6-byte MAC address into the low 48 bits of a uint64.
func mac48(b []byte) uint64 {
	_ = b[5]
	return uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 |
		uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
}
