package pktgen

import (
	"encoding/binary"
	"strconv"
)

// appendDNS appends a DNS message asking for the A (or AAAA) records of
// host<name>.example.com: a query when answers is 0, else a response with
// that many records pointing back at the question name. Wireshark decodes
// it as DNS, which keeps synthetic captures readable in tools.
func appendDNS(b []byte, id uint16, name uint32, aaaa bool, answers int) []byte {
	flags := uint16(0x0100) // query, recursion desired
	if answers > 0 {
		flags = 0x8180 // response, recursion desired and available
	}
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, 1) // questions
	b = binary.BigEndian.AppendUint16(b, uint16(answers))
	b = append(b, 0, 0, 0, 0) // authority, additional

	at := len(b)
	b = append(b, 0, 'h', 'o', 's', 't')
	b = strconv.AppendUint(b, uint64(name), 10)
	b[at] = byte(len(b) - at - 1) // label length
	b = append(b, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0)
	qtype, rdlen := uint16(1), 4
	if aaaa {
		qtype, rdlen = 28, 16
	}
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, 1) // class IN

	for i := range answers {
		b = append(b, 0xc0, 12) // compressed pointer to the question name
		b = binary.BigEndian.AppendUint16(b, qtype)
		b = binary.BigEndian.AppendUint16(b, 1)
		b = binary.BigEndian.AppendUint32(b, 300) // TTL
		b = binary.BigEndian.AppendUint16(b, uint16(rdlen))
		if aaaa {
			b = append(b, 0x20, 0x01, 0x0d, 0xb8, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, byte(name>>16), byte(name>>8), byte(i+1))
		} else {
			b = append(b, 198, 18+byte(name>>16&1), byte(name>>8), byte(i+1))
		}
	}
	return b
}
