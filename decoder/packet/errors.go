package packet

import (
	"errors"
	"strconv"
)

// ErrNotIP is returned for a well-formed frame that carries no IPv4 or IPv6
// packet: ARP, LLDP, STP, 802.3 LLC frames, MPLS pseudowires, unknown BSD
// address families. Callers skip such frames and count them; it is a
// sentinel (no allocation) because on a mirror port a few percent of frames
// are ARP and similar.
var ErrNotIP = errors.New("packet: not an ip packet")

// ErrLinkType is returned for a link type Decode does not know. Callers
// usually check it once per capture rather than per frame.
var ErrLinkType = errors.New("packet: unsupported link type")

// ErrMalformed matches (errors.Is) every *MalformedError.
var ErrMalformed = errors.New("packet: malformed frame")

// problem says how a field broke its bound; it selects the message wording.
type problem uint8

const (
	// truncated: the frame ends before a header the decoder needs.
	truncated problem = iota
	// tooSmall: a length field is below its minimum.
	tooSmall
	// mismatch: a field does not hold the one value it must hold.
	mismatch
	// unknown: a field holds none of the values it may hold.
	unknown
)

// MalformedError describes a frame that cannot be decoded: which header or
// field was wrong, the value found, the bound it broke and the byte offset in
// the frame where it sits. Decode allocates one only on this error path.
type MalformedError struct {
	// Field names the header or field at fault, e.g. "ipv4 header length".
	Field string
	// Offset is the byte offset of that header or field from the start of
	// the frame.
	Offset int
	// Got is the value found; for a truncated header, the bytes captured.
	Got int
	// Want is the bound it broke; for a truncated header, the bytes needed;
	// 0 when the value is simply unknown (an IP version nibble of 5).
	Want    int
	problem problem
}

// Error returns a message such as
// "packet: ipv4 header length 4 < 20 at offset 14".
func (e *MalformedError) Error() string {
	b := make([]byte, 0, 80)
	b = append(b, "packet: "...)
	b = append(b, e.Field...)
	switch e.problem {
	case truncated:
		b = append(b, " truncated: "...)
		b = strconv.AppendInt(b, int64(e.Got), 10)
		b = append(b, " bytes < "...)
		b = strconv.AppendInt(b, int64(e.Want), 10)
	case tooSmall:
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(e.Got), 10)
		b = append(b, " < "...)
		b = strconv.AppendInt(b, int64(e.Want), 10)
	case mismatch:
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(e.Got), 10)
		b = append(b, " != "...)
		b = strconv.AppendInt(b, int64(e.Want), 10)
	case unknown:
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(e.Got), 10)
		b = append(b, " unknown"...)
	}
	b = append(b, " at offset "...)
	b = strconv.AppendInt(b, int64(e.Offset), 10)
	return string(b)
}

// Is reports whether target is ErrMalformed, so callers can count malformed
// frames without a type assertion.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func errTruncated(field string, off, got, want int) error {
	return &MalformedError{Field: field, Offset: off, Got: got, Want: want, problem: truncated}
}

func errTooSmall(field string, off, got, want int) error {
	return &MalformedError{Field: field, Offset: off, Got: got, Want: want, problem: tooSmall}
}

func errMismatch(field string, off, got, want int) error {
	return &MalformedError{Field: field, Offset: off, Got: got, Want: want, problem: mismatch}
}

func errUnknown(field string, off, got int) error {
	return &MalformedError{Field: field, Offset: off, Got: got, problem: unknown}
}
