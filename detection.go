package abuseguard

import (
	"net/netip"
	"time"
)

// Reason is why a case exists: the kind of detection that opened it, a
// third-party complaint, or an operator's manual block.
type Reason string

// Reasons. The first four are detection kinds (M1–M5 of DESIGN.md).
const (
	ReasonNetscan          Reason = "netscan"          // M1: outgoing port or host scan
	ReasonPacketLimit      Reason = "packet_limit"     // M2: outgoing pps or bit/s above the limit
	ReasonIncomingFlood    Reason = "incoming_flood"   // M4: attack on the server
	ReasonMisconfiguration Reason = "misconfiguration" // M5: faulty network configuration
	ReasonAbuse            Reason = "abuse"            // M14: third-party complaints
	ReasonManual           Reason = "manual"           // an operator's decision
)

// Subkinds of detections, more precise than the Reason.
const (
	SubkindHorizontal         = "horizontal"          // netscan: one port, many hosts
	SubkindVertical           = "vertical"            // netscan: one host, many ports
	SubkindICMPSweep          = "icmp_sweep"          // netscan: echo requests to many hosts
	SubkindPPS                = "pps"                 // packet limit or flood: packets/s crossed
	SubkindBPS                = "bps"                 // packet limit or flood: bit/s crossed
	SubkindPrivateDestination = "private_destination" // misconfiguration: private/reserved destinations leaking out
	SubkindUnassignedSource   = "unassigned_source"   // misconfiguration: provider address not assigned to any server
	SubkindSpoofedSource      = "spoofed_source"      // misconfiguration: source outside the provider's space
)

// Direction is the direction of traffic relative to the customer address.
type Direction string

// Directions.
const (
	DirectionOut Direction = "out" // from the customer address
	DirectionIn  Direction = "in"  // towards the customer address
)

// Detection is one detector firing for one customer address and window,
// with the evidence that shows why.
//
// A detector reports a detection twice: once when the threshold is crossed
// (Final false), so that enforcement can act within seconds, and once when
// the condition has ended or the evidence period is over (Final true), with
// complete figures and evidence. Both reports carry the same ID.
type Detection struct {
	ID      string `json:"id"`
	Kind    Reason `json:"kind"`
	Subkind string `json:"subkind"`
	// Address is the customer address the detection is about: the source
	// for outgoing kinds, the destination for incoming floods.
	Address   netip.Addr `json:"address"`
	Direction Direction  `json:"direction"`
	// ServerID, CustomerID and HostGroup say what the inventory knows of
	// Address; ServerID and CustomerID are empty for customer space that
	// has no server in the inventory.
	ServerID   string `json:"server_id,omitempty"`
	CustomerID string `json:"customer_id,omitempty"`
	HostGroup  string `json:"host_group,omitempty"`

	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`

	// Value is the figure that crossed Threshold, in Unit
	// ("destinations", "ports", "packets/s", "bits/s", "packets").
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Unit      string  `json:"unit"`

	// Packets and Bytes are the estimated totals (scaled by the sampling
	// rate) between FirstSeen and LastSeen; PPS and BPS the highest window
	// averages; Distinct the estimated distinct destinations (horizontal,
	// sweep, private destination), ports (vertical) or sources.
	Packets  uint64  `json:"packets"`
	Bytes    uint64  `json:"bytes"`
	PPS      float64 `json:"pps"`
	BPS      float64 `json:"bps"`
	Distinct uint64  `json:"distinct,omitempty"`
	// SamplingRate is the highest sampling rate among the records that
	// contributed; 1 for unsampled input.
	SamplingRate uint32 `json:"sampling_rate"`

	Final bool `json:"final"`

	// Targets name what crossed the threshold of a netscan: the protocol
	// and port of a horizontal scan or sweep (ICMP: type<<8|code), or the
	// host of a vertical scan (Port 0). Bounded (8).
	Targets []Target `json:"targets,omitempty"`

	// Attempts are the first connection attempts (netscan, private
	// destinations), bounded; AttemptsTotal counts all of them.
	Attempts      []Attempt `json:"attempts,omitempty"`
	AttemptsTotal uint64    `json:"attempts_total,omitempty"`
	// Peers are the top external addresses by packets: destinations for
	// outgoing kinds, sources for incoming floods. Bounded.
	Peers []PeerTotal `json:"peers,omitempty"`
	// Services break an incoming flood down by protocol and destination
	// port. Bounded.
	Services []ServiceTotal `json:"services,omitempty"`
	// Samples are sampled packets to and from Address, in and out, for the
	// traffic dump (M3). Bounded.
	Samples []PacketSample `json:"-"`
	// Evidence is the rendered evidence (logs and pcap) as the customer
	// receives it; set by the evidence renderer, stored with the case.
	Evidence []Evidence `json:"evidence,omitempty"`
}

// Target is a service or a host a netscan crossed its threshold on.
type Target struct {
	Host  netip.Addr `json:"host,omitzero"`
	Proto uint8      `json:"proto,omitempty"`
	Port  uint16     `json:"port,omitempty"`
}

// Attempt is one connection attempt (or flow of attempts) in a netscan log.
type Attempt struct {
	Time    time.Time  `json:"time"`
	Src     netip.Addr `json:"src"`
	SrcPort uint16     `json:"src_port"`
	Dst     netip.Addr `json:"dst"`
	DstPort uint16     `json:"dst_port"`
	Proto   uint8      `json:"proto"`
	// Size is the IP length of the packet, or the mean per packet for a flow.
	Size uint32 `json:"size"`
}

// PeerTotal is the traffic between a customer address and one external
// address, estimated (scaled by the sampling rate), and its rate over the
// detection window.
type PeerTotal struct {
	Addr    netip.Addr `json:"addr"`
	Packets uint64     `json:"packets"`
	Bytes   uint64     `json:"bytes"`
	PPS     float64    `json:"pps"`
	BPS     float64    `json:"bps"`
}

// ServiceTotal is the traffic towards a customer address for one protocol and
// destination port (ICMP: type<<8|code), estimated, with its rate.
type ServiceTotal struct {
	Proto   uint8   `json:"proto"`
	Port    uint16  `json:"port"`
	Packets uint64  `json:"packets"`
	Bytes   uint64  `json:"bytes"`
	PPS     float64 `json:"pps"`
	BPS     float64 `json:"bps"`
}

// PacketSample is one packet (or, for flow input, one flow record) kept for
// the traffic dump (M3). The header fields are parsed at capture time so
// that rendering needs no packet parser; Data holds the raw frame when the
// input had one (pcap, AF_PACKET, sFlow), nil for NetFlow/IPFIX.
type PacketSample struct {
	Time     time.Time  `json:"time"`
	Src      netip.Addr `json:"src"`
	Dst      netip.Addr `json:"dst"`
	SrcPort  uint16     `json:"src_port"`
	DstPort  uint16     `json:"dst_port"` // ICMP: type<<8|code
	Proto    uint8      `json:"proto"`
	TCPFlags uint8      `json:"tcp_flags"`
	// Length is the IP length of the packet; for a flow record, the mean
	// per packet.
	Length uint32 `json:"length"`
	// Packets is 1 for a packet and the packet count of a flow record.
	Packets uint64 `json:"packets"`
	// SamplingRate is the rate the sample was taken at (1: unsampled).
	SamplingRate uint32 `json:"sampling_rate"`

	// LinkType is the pcap LINKTYPE_ of Data (1 Ethernet, 101 raw IP, ...).
	LinkType uint16 `json:"link_type,omitempty"`
	// OrigLen is the frame's length on the wire; Data may be shorter.
	OrigLen uint32 `json:"orig_len,omitempty"`
	Data    []byte `json:"data,omitempty"`
}

// Evidence is one rendered piece of evidence: a log file or a pcap, exactly
// as the customer receives it by mail, in the portal and through the API.
type Evidence struct {
	// Name is the file name, e.g. "netscan.log" or "traffic.pcap".
	Name string `json:"name"`
	// ContentType is the MIME type: "text/plain; charset=utf-8" or
	// "application/vnd.tcpdump.pcap".
	ContentType string `json:"content_type"`
	Data        []byte `json:"data"`
}
