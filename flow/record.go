// Package flow defines the record every input produces and every detector
// consumes: one packet seen on the wire, or one flow exported by a router.
//
// The package has no project imports. Records are plain values so that a
// batch of them is one allocation; the hot path passes *Record and never
// copies the raw header bytes.
package flow

import (
	"net/netip"
)

// Record is one observation of traffic: a single packet (from pcap,
// AF_PACKET or an sFlow sample) or an aggregated flow (NetFlow, IPFIX).
//
// Addresses are Unmap()ped at ingest: an IPv4-mapped IPv6 address never
// appears here. Counters are as observed, not scaled: multiply by
// SamplingRate to estimate the real traffic.
type Record struct {
	// Src and Dst are the network-layer addresses.
	Src, Dst netip.Addr
	// Exporter is the address of the router or agent that exported the
	// record; zero for packets read from pcap or AF_PACKET.
	Exporter netip.Addr

	// Start and End are the first and last packet times in Unix
	// nanoseconds. For a single packet Start == End. int64 instead of
	// time.Time saves 32 bytes per record (time.Time is 24 bytes with a
	// location pointer the GC must scan); the record is 168 bytes on amd64.
	Start, End int64

	// Packets and Bytes are the observed counts. Bytes counts the
	// network layer (IP header included, link layer excluded), as
	// NetFlow's IN_BYTES does.
	Packets, Bytes uint64

	// SamplingRate is N for 1-in-N sampling: 1 for unsampled input,
	// 0 when the rate is unknown (treated as 1 and counted by the
	// collector, see DESIGN.md "wrong or missing sampling rates").
	SamplingRate uint32

	// InIf and OutIf are SNMP interface indexes where the export has
	// them, 0 otherwise.
	InIf, OutIf uint32

	// SrcPort and DstPort are the transport ports for TCP, UDP and SCTP.
	// For ICMP and ICMPv6, SrcPort is 0 and DstPort carries
	// type<<8 | code, the NetFlow convention, so that "ICMP echo request"
	// is DstPort == 0x0800 (ICMPv6: 0x8000).
	SrcPort, DstPort uint16

	// Proto is the IP protocol number of the transport header
	// (after IPv6 extension headers).
	Proto uint8

	// TCPFlags is the OR of the TCP flags of all packets in the record.
	TCPFlags uint8

	// Flags holds the Flag* bits below.
	Flags uint8

	// FlowDirection is what the exporter said about the direction of the
	// flow relative to the interface it was metered on, where it says so.
	FlowDirection Direction

	// SrcMAC is the Ethernet source address packed into the low 48 bits,
	// 0 when unknown. Used to attribute traffic from unassigned source
	// addresses to the server that sent it (M5).
	SrcMAC uint64

	// Header is the raw captured frame, starting at the layer given by
	// HeaderType, truncated to the capture length; nil for flow exports.
	// It is kept for the traffic dump (M3) and references memory owned by
	// the input: a consumer that keeps it past the batch must copy it.
	Header []byte
	// HeaderType is the link type of Header.
	HeaderType LinkType
	// OrigLen is the length of the frame on the wire when Header is set.
	OrigLen uint32
}

// Flag bits of Record.Flags.
const (
	// FlagFragment marks a non-first IP fragment: it has no transport
	// header, so ports and TCP flags are zero.
	FlagFragment uint8 = 1 << iota
	// FlagTruncated marks a packet whose transport header was cut off by
	// the capture length; ports and flags may be zero.
	FlagTruncated
)

// Direction is the exporter's view of a flow's direction.
type Direction uint8

// Directions, as NetFlow v9/IPFIX flowDirection (element 61) defines them,
// shifted by one so that the zero value means "not exported".
const (
	DirectionUnknown Direction = iota
	DirectionIngress
	DirectionEgress
)

// TCP flag bits, as in the TCP header.
const (
	TCPFin uint8 = 1 << iota
	TCPSyn
	TCPRst
	TCPPsh
	TCPAck
	TCPUrg
	TCPEce
	TCPCwr
)

// IP protocol numbers used by the detectors.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
	ProtoSCTP   uint8 = 132
)

// Rate returns the sampling rate to scale counters by: SamplingRate, or 1
// when it is unknown.
func (r *Record) Rate() uint64 {
	if r.SamplingRate == 0 {
		return 1
	}
	return uint64(r.SamplingRate)
}
