package pcap

import "encoding/binary"

// Protocol is the flow-export protocol a UDP payload carries.
type Protocol uint8

// Protocols Recognize tells apart.
const (
	// NotFlow: the payload is not a flow export (or not one Recognize is
	// sure of).
	NotFlow Protocol = iota
	NetFlowV5
	NetFlowV9
	IPFIX
	SFlowV5
)

// String returns a name fit for a metric label: netflow_v5, netflow_v9,
// ipfix, sflow_v5, or none.
func (p Protocol) String() string {
	switch p {
	case NetFlowV5:
		return "netflow_v5"
	case NetFlowV9:
		return "netflow_v9"
	case IPFIX:
		return "ipfix"
	case SFlowV5:
		return "sflow_v5"
	}
	return "none"
}

// Header sizes and bounds used by Recognize.
const (
	v5HeaderLen    = 24
	v5RecordLen    = 48
	v5MaxRecords   = 30 // Cisco's limit; MikroTik and Juniper send 29-30
	v9HeaderLen    = 20
	ipfixHeaderLen = 16
	setHeaderLen   = 4
	sflowMinHeader = 28 // version, address type, IPv4 agent, sub-agent, sequence, uptime, count
	sflowMinSample = 8  // format and length
)

// Recognize tells whether a UDP payload is a whole flow export datagram,
// whatever port it was sent to: captures show exports on 2055, 2057, 4739,
// 6343, 9990-9992 and NetFlow v5 sent to sFlow's 6343. A version number
// alone would take a DNS query with ID 5, 9 or 10 for one, so the payload
// must also be laid out as the protocol says, to the last byte:
//   - NetFlow v5: 1 to 30 records, the datagram exactly 24 + 48 × count
//     bytes (fewer than 48 bytes of trailing padding allowed);
//   - NetFlow v9: flowsets of IDs 0, 1 or ≥ 256, each at least 4 bytes,
//     that end exactly at the end of the datagram or before zero padding
//     (Cisco ACI and Palo Alto pad with zeros);
//   - IPFIX: sets of IDs 2, 3 or ≥ 256 that fill the length the header
//     says (followed by zeros only) or, when it says less, the datagram;
//   - sFlow v5: agent address type 1 or 2, and exactly the number of
//     samples the header counts, each a multiple of 4 bytes long, ending
//     at the end of the datagram.
//
// Recognize reads only lengths and IDs: it does not allocate and is safe
// for concurrent use. A datagram it accepts may still hold bad records;
// the decoders count those.
func Recognize(b []byte) Protocol {
	if len(b) < 4 {
		return NotFlow
	}
	switch binary.BigEndian.Uint16(b) {
	case 5:
		if isV5(b) {
			return NetFlowV5
		}
	case 9:
		if isV9(b) {
			return NetFlowV9
		}
	case 10:
		if isIPFIX(b) {
			return IPFIX
		}
	case 0:
		if isSFlow(b) {
			return SFlowV5
		}
	}
	return NotFlow
}

func isV5(b []byte) bool {
	if len(b) < v5HeaderLen {
		return false
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n < 1 || n > v5MaxRecords {
		return false
	}
	extra := len(b) - v5HeaderLen - n*v5RecordLen
	return extra >= 0 && extra < v5RecordLen
}

func isV9(b []byte) bool {
	if len(b) < v9HeaderLen+setHeaderLen {
		return false
	}
	return setsFill(b[v9HeaderLen:], 0, 1)
}

func isIPFIX(b []byte) bool {
	if len(b) < ipfixHeaderLen+setHeaderLen {
		return false
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n < ipfixHeaderLen+setHeaderLen || n > len(b) {
		return false
	}
	if zeros(b[n:]) && setsFill(b[ipfixHeaderLen:n], 2, 3) {
		return true
	}
	// A header length short of sets that fill the datagram exactly: the
	// exporter got its header wrong (telegraf issue 14370, 2 bytes short),
	// the sets are sound and the decoder reads them.
	return n < len(b) && setsFill(b[ipfixHeaderLen:], 2, 3)
}

// setsFill reports whether b is a sequence of at least one (flow)set with
// IDs tmpl, opts or ≥ 256 and lengths ≥ 4 that ends exactly at the end of
// b or is followed by zeros only.
func setsFill(b []byte, tmpl, opts uint16) bool {
	sets := 0
	for len(b) > 0 {
		if len(b) < setHeaderLen {
			return sets > 0 && zeros(b)
		}
		id := binary.BigEndian.Uint16(b)
		n := int(binary.BigEndian.Uint16(b[2:]))
		if id == 0 && n == 0 && sets > 0 {
			return zeros(b) // padding after the last set
		}
		if (id != tmpl && id != opts && id < 256) || n < setHeaderLen || n > len(b) {
			return false
		}
		sets++
		b = b[n:]
	}
	return sets > 0
}

func isSFlow(b []byte) bool {
	if len(b) < sflowMinHeader || binary.BigEndian.Uint32(b) != 5 {
		return false
	}
	off := 0
	switch binary.BigEndian.Uint32(b[4:]) {
	case 1:
		off = 8 + 4
	case 2:
		off = 8 + 16
	default:
		return false
	}
	off += 12 // sub-agent ID, sequence number, uptime
	if len(b) < off+4 {
		return false
	}
	n := binary.BigEndian.Uint32(b[off:])
	off += 4
	if n == 0 || n > uint32(len(b)-off)/sflowMinSample {
		return false
	}
	for range n {
		if len(b)-off < sflowMinSample {
			return false
		}
		l := int(binary.BigEndian.Uint32(b[off+4:]))
		if l%4 != 0 || l > len(b)-off-sflowMinSample {
			return false
		}
		off += sflowMinSample + l
	}
	return off == len(b)
}

func zeros(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
