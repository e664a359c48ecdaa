package netflow

import "bytes"

// template is a compiled template or options template. Once published in
// a domain it is never modified, so a reader may keep using it after
// releasing the exporter's lock.
type template struct {
	options bool
	// fixed is true when no field has variable length: then every record
	// is recLen bytes and ops hold only the mapped fields, at their
	// offsets. Otherwise recLen is the shortest possible record and ops
	// hold every field in order.
	fixed  bool
	recLen int
	ops    []op
	// plan reads the records of a fixed template (nil otherwise).
	plan *plan
	// nfields counts the fields, charged to Config.MaxTemplateFields.
	nfields int
	// wire is the template record as received, so that a refresh that
	// changes nothing is recognised with one comparison and no allocation.
	wire []byte
}

type op struct {
	off    uint16 // offset in the record; fixed templates only
	length uint16 // varLen for variable-length fields
	kind   opKind
}

// maxRecordLen is the longest data record a message can carry: a 65535
// byte IPFIX message less its 16-byte header and a 4-byte set header
// (NetFlow v9 has no length field, but a UDP datagram is no longer).
// Templates describing longer records are hostile or broken.
const maxRecordLen = 65535 - 16 - 4

// templateRecord is one parsed template record of a template or options
// template set.
type templateRecord struct {
	id uint16
	// fields are the scope fields followed by the other fields, when
	// parsed; nfields counts them either way.
	fields  []fieldSpec
	nfields int
	scope   int
	// withdraw is set for an IPFIX withdrawal (field count 0): of template
	// id, or of all templates (id 2) or all options templates (id 3) when
	// id is the set ID.
	withdraw bool
	wire     []byte
}

// splitTemplate reads the template record at the start of b. It returns
// the record, the number of bytes it takes, and ok = false when the rest
// of b is padding (no record). When parse is false the fields are not
// parsed (no allocation): enough to compare the wire bytes with the
// published template.
func splitTemplate(version uint16, options bool, b []byte, parse bool) (rec templateRecord, n int, ok bool, err Kind, detail string) {
	ipfix := version == 10
	if len(b) < 4 {
		return rec, 0, false, 0, ""
	}
	rec.id = be16(b)
	count := int(be16(b[2:]))
	switch {
	case !ipfix && options:
		// template ID, scope length and option length in bytes, then
		// 4-byte (type, length) fields (RFC 3954 §6.1).
		if rec.id == 0 {
			return rec, 0, false, 0, "" // zero padding
		}
		if len(b) < 6 {
			return rec, 0, false, ErrBadTemplate, "options template header cut short"
		}
		scopeLen, optLen := count, int(be16(b[4:]))
		if scopeLen%4 != 0 || optLen%4 != 0 {
			return rec, 0, false, ErrBadTemplate, "options template lengths not a multiple of 4"
		}
		n = 6 + scopeLen + optLen
		if n > len(b) {
			return rec, 0, false, ErrBadTemplate, "options template cut short"
		}
		rec.scope = scopeLen / 4
		rec.nfields = (scopeLen + optLen) / 4
		if parse {
			rec.fields = make([]fieldSpec, 0, (scopeLen+optLen)/4)
			for p := 6; p < n; p += 4 {
				rec.fields = append(rec.fields, fieldSpec{id: be16(b[p:]), length: be16(b[p+2:])})
			}
		}
	case count == 0:
		if rec.id == 0 {
			return rec, 0, false, 0, "" // zero padding
		}
		if !ipfix {
			return rec, 4, true, ErrBadTemplate, "template with no fields"
		}
		// RFC 7011 §8.1: a withdrawal is the template ID and a field
		// count of 0, for options templates too (no scope count).
		rec.withdraw = true
		n = 4
	default:
		p := 4
		if ipfix && options {
			if len(b) < 6 {
				return rec, 0, false, ErrBadTemplate, "options template header cut short"
			}
			rec.scope = int(be16(b[4:]))
			if rec.scope > count {
				return rec, 0, false, ErrBadTemplate, "more scope fields than fields"
			}
			p = 6
		}
		rec.nfields = count
		if parse {
			rec.fields = make([]fieldSpec, 0, count)
		}
		for range count {
			if p+4 > len(b) {
				return rec, 0, false, ErrBadTemplate, "template cut short"
			}
			f := fieldSpec{id: be16(b[p:]), length: be16(b[p+2:])}
			p += 4
			if ipfix && f.id&0x8000 != 0 {
				// RFC 7011 §3.2: the enterprise bit adds a 4-byte
				// private enterprise number.
				if p+4 > len(b) {
					return rec, 0, false, ErrBadTemplate, "enterprise number cut short"
				}
				f.id &^= 0x8000
				f.pen = be32(b[p:])
				p += 4
			}
			if parse {
				rec.fields = append(rec.fields, f)
			}
		}
		n = p
	}
	rec.wire = b[:n]
	return rec, n, true, 0, ""
}

// compile turns a parsed template record into a template. NetFlow v9
// options scope fields are scope types (1 system, 2 interface, ...), not
// information elements, so they are skipped; IPFIX scope fields are
// elements and are read like the others (a selectorId scope names the
// sampler an options record describes).
func compile(version uint16, options bool, rec *templateRecord) (*template, Kind, string) {
	t := &template{options: options, fixed: true, nfields: len(rec.fields)}
	minLen := 0
	for _, f := range rec.fields {
		if f.length == varLen {
			t.fixed = false
			minLen++ // a variable-length field takes at least its length byte
		} else {
			minLen += int(f.length)
		}
	}
	if minLen > maxRecordLen {
		return nil, ErrTemplateLimit, "records cannot fit a 64 KiB message"
	}
	if minLen == 0 {
		// Every field has length 0: a data set of such records would be
		// an endless loop of empty records.
		return nil, ErrBadTemplate, "records of length 0"
	}
	t.recLen = minLen
	elements := rec.fields
	if version == 9 {
		elements = rec.fields[min(rec.scope, len(rec.fields)):]
	}
	c := chooseAll(elements)
	off := 0
	for i, f := range rec.fields {
		k := c.kindOf(f)
		if version == 9 && i < rec.scope {
			k = opSkip
		}
		if t.fixed {
			if k != opSkip {
				t.ops = append(t.ops, op{off: uint16(off), length: f.length, kind: k})
			}
			off += int(f.length)
		} else {
			t.ops = append(t.ops, op{length: f.length, kind: k})
		}
	}
	if t.fixed {
		t.plan = newPlan(t.ops)
	}
	t.wire = bytes.Clone(rec.wire)
	return t, 0, ""
}
