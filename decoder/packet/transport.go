package packet

import (
	"encoding/binary"

	"abuseguard/flow"
)

// protoUDPLite is UDP-Lite (RFC 3828): UDP's port layout, another number.
const protoUDPLite = 136

// decodeTransport reads ports and flags of r.Proto from b, which starts at
// the transport header and ends where the IP packet or the capture ends.
// Fixed header sizes decide FlagTruncated: TCP 20, UDP and UDP-Lite 8, SCTP
// common header 12, ICMP 8 (RFC 792: type, code, checksum, 4 bytes) and
// ICMPv6 4 (RFC 4443: type, code, checksum).
func decodeTransport(b []byte, r *flow.Record, pl *udpPayload) {
	var need int
	switch r.Proto {
	case flow.ProtoTCP:
		need = 20
	case flow.ProtoUDP, protoUDPLite:
		need = 8
	case flow.ProtoSCTP:
		need = 12
	case flow.ProtoICMP:
		need = 8
	case flow.ProtoICMPv6:
		need = 4
	default:
		return // no ports: GRE, ESP, OSPF...
	}
	if len(b) < need {
		r.Flags |= flow.FlagTruncated
	}
	if r.Proto == flow.ProtoICMP || r.Proto == flow.ProtoICMPv6 {
		if len(b) >= 2 {
			r.DstPort = uint16(b[0])<<8 | uint16(b[1]) // type<<8 | code, as NetFlow
		}
		return
	}
	if len(b) >= 4 {
		r.SrcPort = binary.BigEndian.Uint16(b[0:2])
		r.DstPort = binary.BigEndian.Uint16(b[2:4])
	}
	if pl != nil && r.Proto == flow.ProtoUDP && len(b) >= 8 {
		pl.set(b)
	}
	if r.Proto == flow.ProtoTCP && len(b) >= 14 {
		r.TCPFlags = b[13]
	}
}
