package packet

import (
	"encoding/binary"

	"abuseguard/flow"
)

// udpPayload is where DecodePayload's walk leaves the UDP payload.
type udpPayload struct {
	b        []byte
	complete bool
}

// set takes the payload of the UDP datagram b (header included), which
// ends where the IP packet or the capture ends.
func (p *udpPayload) set(b []byte) {
	n := int(binary.BigEndian.Uint16(b[4:6]))
	switch {
	case n >= 8 && n <= len(b):
		p.b, p.complete = b[8:n], true
	case n == 0:
		// RFC 2675 jumbograms and UDP GSO super-packets captured on the
		// sender carry length 0: the IP length bounds the payload.
		p.b, p.complete = b[8:], true
	default:
		// Longer than captured (snap length, first of several IP
		// fragments) or shorter than its own header.
		p.b, p.complete = b[8:], false
	}
}

// DecodePayload is Decode that also returns the payload of a UDP datagram:
// the bytes after the UDP header, as far as the UDP length field says.
// Inputs use it to find flow exports (NetFlow, IPFIX, sFlow) inside
// captured packets without walking the headers twice.
//
// payload is nil when the frame is not UDP, is a non-first fragment, or
// its UDP header is cut. complete is false when the UDP length field asks
// for more bytes than the frame holds (a capture cut by its snap length,
// the first fragment of a fragmented datagram) or is below 8: payload then
// holds what there is, which a flow decoder must not be given as a whole
// datagram. r is filled exactly as Decode fills it. DecodePayload does not
// allocate and is safe for concurrent use on distinct records.
func DecodePayload(lt flow.LinkType, frame []byte, r *flow.Record) (payload []byte, complete bool, err error) {
	var pl udpPayload
	err = decode(lt, frame, r, &pl)
	return pl.b, pl.complete, err
}
