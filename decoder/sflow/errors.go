package sflow

import (
	"errors"
	"strconv"
)

// Kind classifies a decode error so that a caller can count errors by kind
// (one metric label per Kind). Each Kind is itself an error, so
// errors.Is(err, sflow.ErrSampleLength) works on any error Decode returns.
type Kind uint8

// Error kinds.
const (
	// ErrShort: the datagram ends inside its header, or before the
	// samples its header counts.
	ErrShort Kind = iota + 1
	// ErrVersion: the version field is not 5.
	ErrVersion
	// ErrAddressType: the agent address type is neither 1 (IPv4) nor 2
	// (IPv6): the rest of the header cannot be located.
	ErrAddressType
	// ErrSampleLength: a sample's length runs past the end of the
	// datagram, or its fixed fields past its length.
	ErrSampleLength
	// ErrRecordLength: a flow record's length runs past its sample, or
	// its fixed fields past its length.
	ErrRecordLength
	kindCount = iota + 1
)

var kindNames = [kindCount]string{
	ErrShort:        "short",
	ErrVersion:      "version",
	ErrAddressType:  "address_type",
	ErrSampleLength: "sample_length",
	ErrRecordLength: "record_length",
}

// String returns a short snake_case name fit for a metric label.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind_" + strconv.Itoa(int(k))
}

// Error returns the kind as a sentence, so that a Kind can be compared
// with errors.Is.
func (k Kind) Error() string { return "sflow: " + k.String() }

// KindOf returns the Kind of err, or 0 when err is nil or not a decode
// error.
func KindOf(err error) Kind {
	var k Kind
	if errors.As(err, &k) {
		return k
	}
	return 0
}

// Error describes where a datagram went wrong. It unwraps to its Kind.
type Error struct {
	Kind Kind
	// Offset is the byte offset in the datagram where the problem starts.
	Offset int
	// Format is the sample or record format concerned (enterprise << 12 |
	// format, as on the wire), 0 when none is.
	Format uint32
	// Detail says more, in a constant phrase.
	Detail string
}

func (e *Error) Error() string {
	b := make([]byte, 0, 80)
	b = append(b, "sflow: "...)
	b = append(b, e.Kind.String()...)
	if e.Format != 0 {
		b = append(b, " format "...)
		b = strconv.AppendUint(b, uint64(e.Format>>12), 10)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(e.Format&0xfff), 10)
	}
	b = append(b, " at offset "...)
	b = strconv.AppendInt(b, int64(e.Offset), 10)
	if e.Detail != "" {
		b = append(b, ": "...)
		b = append(b, e.Detail...)
	}
	return string(b)
}

// Unwrap returns the Kind.
func (e *Error) Unwrap() error { return e.Kind }
