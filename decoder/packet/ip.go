package packet

import (
	"encoding/binary"
	"net/netip"

	"abuseguard/flow"
)

var zeroAddr netip.Addr

const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40

	// maxExtHeaders bounds the IPv6 extension header walk. Real traffic
	// carries at most three or four (hop-by-hop, routing, fragment, AH);
	// the chains THC-IPv6's denial6 builds to exhaust routers are longer,
	// and a bound keeps the cost per packet fixed.
	maxExtHeaders = 16
)

// IPv6 extension headers (IANA "IPv6 Extension Header Types").
const (
	extHopByHop    = 0
	extRouting     = 43
	extFragment    = 44
	extAH          = 51
	extDestination = 60
	extMobility    = 135
	extHIP         = 139
	extShim6       = 140
)

// decodeIP tells IPv4 from IPv6 by the version nibble (raw IP captures).
func decodeIP(frame []byte, off int, r *flow.Record, pl *udpPayload) error {
	if len(frame) <= off {
		return errTruncated("ip header", off, 0, 1)
	}
	switch frame[off] >> 4 {
	case 4:
		return decodeIPv4(frame, off, r, pl)
	case 6:
		return decodeIPv6(frame, off, r, pl)
	}
	return errUnknown("ip version", off, int(frame[off]>>4))
}

// decodeIPv4 decodes the IPv4 header at frame[off:] and what follows it.
func decodeIPv4(frame []byte, off int, r *flow.Record, pl *udpPayload) error {
	if off > len(frame) || len(frame)-off < ipv4HeaderLen {
		return errTruncated("ipv4 header", off, max(len(frame)-off, 0), ipv4HeaderLen)
	}
	b := frame[off:]
	if v := int(b[0] >> 4); v != 4 {
		return errMismatch("ipv4 version", off, v, 4)
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < ipv4HeaderLen {
		return errTooSmall("ipv4 header length", off, ihl, ipv4HeaderLen)
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	end := len(b)
	switch {
	case total == 0:
		// TCP segmentation offload: a capture on the sending host sees the
		// super-segment before the NIC splits it, with total length 0
		// (tcpdump prints "bad-len 0"). The captured bytes are the best size.
		total = len(b)
	case total < ihl:
		return errTooSmall("ipv4 total length", off+2, total, ihl)
	case total < end:
		end = total // Ethernet pads frames to 60 bytes: ignore the padding
	}

	r.Src = netip.AddrFrom4([4]byte(b[12:16]))
	r.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	r.Proto = b[9]
	r.Packets = 1
	r.Bytes = uint64(total)

	// Fragment offset in 8-byte units, low 13 bits of bytes 6-7. Only the
	// first fragment (offset 0) carries the transport header.
	if binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
		r.Flags |= flow.FlagFragment
		return nil
	}
	if end < ihl {
		r.Flags |= flow.FlagTruncated // options cut: no transport header
		return nil
	}
	decodeTransport(b[ihl:end], r, pl)
	return nil
}

// decodeIPv6 decodes the IPv6 header at frame[off:], walks the extension
// header chain and decodes the transport header it leads to.
func decodeIPv6(frame []byte, off int, r *flow.Record, pl *udpPayload) error {
	if off > len(frame) || len(frame)-off < ipv6HeaderLen {
		return errTruncated("ipv6 header", off, max(len(frame)-off, 0), ipv6HeaderLen)
	}
	b := frame[off:]
	if v := int(b[0] >> 4); v != 6 {
		return errMismatch("ipv6 version", off, v, 6)
	}
	payload := int(binary.BigEndian.Uint16(b[4:6]))
	end := len(b)
	total := ipv6HeaderLen + payload
	switch {
	case payload == 0:
		// A jumbogram (RFC 2675) or a GSO/BIG TCP super-packet captured on
		// the sending host: the captured bytes are the best size.
		total = len(b)
	case total < end:
		end = total
	}

	r.Src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
	r.Dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
	r.Packets = 1
	r.Bytes = uint64(total)

	next := b[6]
	p := ipv6HeaderLen
	for range maxExtHeaders {
		var n int // length of the extension header at p
		switch next {
		case extHopByHop, extRouting, extDestination, extMobility, extHIP, extShim6:
			// Next Header(1) Hdr Ext Len(1) in 8-octet units, not counting
			// the first 8 octets.
			if end-p < 2 {
				return truncatedChain(next, r)
			}
			n = (int(b[p+1]) + 1) * 8
		case extAH:
			// RFC 4302: Payload Len in 4-octet units, minus 2.
			if end-p < 2 {
				return truncatedChain(next, r)
			}
			n = (int(b[p+1]) + 2) * 4
		case extFragment:
			// Next Header(1) Reserved(1) Offset(13 bits) Res(2) M(1) Id(4).
			n = 8
			if end-p < 4 {
				return truncatedChain(next, r)
			}
			if binary.BigEndian.Uint16(b[p+2:p+4])&^7 != 0 {
				r.Proto = b[p]
				r.Flags |= flow.FlagFragment
				return nil
			}
		default:
			// An upper-layer protocol, or ESP (50) / No Next Header (59)
			// which end the chain with nothing to read after them.
			r.Proto = next
			decodeTransport(b[p:end], r, pl)
			return nil
		}
		if end-p < n {
			return truncatedChain(next, r)
		}
		next = b[p]
		p += n
	}
	// Chain longer than maxExtHeaders: counted like a cut capture so that
	// floods built from long chains still reach the detectors.
	return truncatedChain(next, r)
}

// truncatedChain ends an IPv6 header walk that could not reach the
// transport header: Proto is the header where the walk stopped.
func truncatedChain(next uint8, r *flow.Record) error {
	r.Proto = next
	r.Flags |= flow.FlagTruncated
	return nil
}
