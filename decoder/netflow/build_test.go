package netflow

import "encoding/binary"

// Builders for synthetic NetFlow v9 and IPFIX messages, for the cases the
// shared captures do not cover.

func be(vals ...any) []byte {
	var b []byte
	for _, v := range vals {
		switch v := v.(type) {
		case uint8:
			b = append(b, v)
		case uint16:
			b = binary.BigEndian.AppendUint16(b, v)
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case []byte:
			b = append(b, v...)
		case int:
			panic("be: untyped int")
		}
	}
	return b
}

// ipfixMsg returns an IPFIX message of domain with the given sets.
func ipfixMsg(exportSecs, domain uint32, sets ...[]byte) []byte {
	var body []byte
	for _, s := range sets {
		body = append(body, s...)
	}
	return append(be(uint16(10), uint16(16+len(body)), exportSecs, uint32(1), domain), body...)
}

// v9Msg returns a NetFlow v9 datagram with the given flowsets.
func v9Msg(uptimeMs, unixSecs, sourceID uint32, sets ...[]byte) []byte {
	var body []byte
	for _, s := range sets {
		body = append(body, s...)
	}
	return append(be(uint16(9), uint16(len(sets)), uptimeMs, unixSecs, uint32(1), sourceID), body...)
}

// set returns a set with its header.
func set(id uint16, parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return append(be(id, uint16(4+len(body))), body...)
}

// field is a template field: element, length and enterprise number.
type field struct {
	id, length uint16
	pen        uint32
}

// tmpl returns a template record (IPFIX fields with the enterprise bit
// when pen is set).
func tmpl(id uint16, fields ...field) []byte {
	b := be(id, uint16(len(fields)))
	for _, f := range fields {
		if f.pen != 0 {
			b = append(b, be(f.id|0x8000, f.length, f.pen)...)
			continue
		}
		b = append(b, be(f.id, f.length)...)
	}
	return b
}

// ipfixOptTmpl returns an IPFIX options template record.
func ipfixOptTmpl(id uint16, scope int, fields ...field) []byte {
	b := be(id, uint16(len(fields)), uint16(scope))
	for _, f := range fields {
		b = append(b, be(f.id, f.length)...)
	}
	return b
}

// v9OptTmpl returns a NetFlow v9 options template record.
func v9OptTmpl(id uint16, scope []field, fields ...field) []byte {
	b := be(id, uint16(4*len(scope)), uint16(4*len(fields)))
	for _, f := range append(scope, fields...) {
		b = append(b, be(f.id, f.length)...)
	}
	return b
}

// basicFields is a small IPv4 template: src, dst, ports, proto, bytes,
// packets (4+4+2+2+1+8+8 = 29 bytes per record).
var basicFields = []field{
	{id: ieSourceIPv4Address, length: 4}, {id: ieDestinationIPv4Address, length: 4},
	{id: ieSourceTransportPort, length: 2}, {id: ieDestinationTransportPort, length: 2},
	{id: ieProtocolIdentifier, length: 1},
	{id: ieOctetDeltaCount, length: 8}, {id: iePacketDeltaCount, length: 8},
}

// basicRecord returns one record of basicFields.
func basicRecord(src, dst [4]byte, sport, dport uint16, proto uint8, bytes, packets uint64) []byte {
	return be(src[:], dst[:], sport, dport, proto, bytes, packets)
}
