package netflow

import (
	"errors"
	"strconv"
)

// Kind classifies a decode error so that a caller can count errors by kind
// (one metric label per Kind) without parsing messages. Each Kind is itself
// an error, so errors.Is(err, netflow.ErrTemplateNotFound) works on any
// error Decode returns.
type Kind uint8

// Error kinds.
const (
	// ErrShort: the datagram is shorter than its header, than the length
	// the IPFIX header declares, or than the records a v5 header counts.
	ErrShort Kind = iota + 1
	// ErrVersion: the version field is not 5, 9 or 10.
	ErrVersion
	// ErrSetLength: a (flow)set length is below 4 or runs past the end of
	// the message, and the bytes left are not zero padding.
	ErrSetLength
	// ErrTemplateNotFound: a data set refers to a template the exporter has
	// not sent (yet). The set is held until the template arrives or
	// dropped; it is never decoded with a guessed layout.
	ErrTemplateNotFound
	// ErrBadTemplate: a template record is malformed (cut short, reserved
	// ID, records of length zero).
	ErrBadTemplate
	// ErrTemplateLimit: a template was refused because it cannot describe a
	// record that fits a 64 KiB message, or because the exporter already
	// holds Config.MaxTemplates templates or Config.MaxTemplateFields
	// fields. This is what a hostile exporter triggers.
	ErrTemplateLimit
	// ErrRecord: a data record with variable-length fields runs past the
	// end of its set.
	ErrRecord
	// ErrExporterLimit: the decoder already tracks Config.MaxExporters
	// exporters and this one is new.
	ErrExporterLimit
	kindCount = iota + 1
)

var kindNames = [kindCount]string{
	ErrShort:            "short",
	ErrVersion:          "version",
	ErrSetLength:        "set_length",
	ErrTemplateNotFound: "template_not_found",
	ErrBadTemplate:      "bad_template",
	ErrTemplateLimit:    "template_limit",
	ErrRecord:           "record",
	ErrExporterLimit:    "exporter_limit",
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
func (k Kind) Error() string { return "netflow: " + k.String() }

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
	// Version is the export version (5, 9, 10) or, for ErrVersion, the
	// value found.
	Version uint16
	// Domain is the NetFlow v9 source ID or IPFIX observation domain.
	Domain uint32
	// ID is the set or template ID concerned, 0 when none is.
	ID uint16
	// Offset is the byte offset in the datagram where the problem starts.
	Offset int
	// Detail says more, in a constant phrase.
	Detail string
}

func (e *Error) Error() string {
	b := make([]byte, 0, 96)
	b = append(b, "netflow"...)
	if e.Version != 0 {
		b = append(b, " v"...)
		b = strconv.AppendUint(b, uint64(e.Version), 10)
	}
	if e.Version == 9 || e.Version == 10 {
		b = append(b, " domain "...)
		b = strconv.AppendUint(b, uint64(e.Domain), 10)
	}
	b = append(b, ": "...)
	b = append(b, e.Kind.String()...)
	if e.ID != 0 {
		b = append(b, " id "...)
		b = strconv.AppendUint(b, uint64(e.ID), 10)
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
