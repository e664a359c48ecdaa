package netflow

import (
	"bytes"
	"net/netip"

	"abuseguard/flow"
)

// Header sizes (RFC 3954 §5.1, RFC 7011 §3.1).
const (
	v9HeaderLen    = 20
	ipfixHeaderLen = 16
)

// header is what decoding a data set needs from its message.
type header struct {
	key domainKey
	// exportNs is the export time in Unix ns, or the receive time when
	// the exporter sends 0 (as telegraf's issue_14370 capture does).
	exportNs int64
	// uptimeMs is the NetFlow v9 sysUptime: v9 flow times are relative
	// to it.
	uptimeMs uint32
	recvNs   int64
}

// run is the state of one Decode call of a v9 or IPFIX datagram.
type run struct {
	d    *Decoder
	e    *exporter
	addr netip.Addr
	// sampling is the exporter's configured rate, loaded once.
	sampling uint64
	err      *Error
	noRate   uint64
	// last caches the most recent sampler table lookup: records of one
	// set nearly always name the same sampler.
	lastKey  samplerKey
	lastRate uint32
	lastOK   bool
}

// fail records the first error of the datagram.
func (r *run) fail(kind Kind, h *header, id uint16, off int, detail string) {
	if kind == ErrBadTemplate || kind == ErrTemplateLimit {
		r.d.stats.templatesRejected.Add(1)
	}
	if r.err == nil {
		r.err = &Error{Kind: kind, Version: h.key.version, Domain: h.key.id, ID: id, Offset: off, Detail: detail}
	}
}

func (d *Decoder) decodeTemplated(addr netip.Addr, version uint16, p []byte, recvNs int64, out []flow.Record) ([]flow.Record, error) {
	h := header{key: domainKey{version: version}, recvNs: recvNs}
	var secs uint32
	var sets []byte
	var base int
	var short *Error
	if version == 9 {
		if len(p) < v9HeaderLen {
			return out, &Error{Kind: ErrShort, Version: version, Detail: "shorter than the 20-byte header"}
		}
		// The count field (p[2:4]) is not trusted: RFC 3954 §5.1 makes
		// it the number of records, exporters get it wrong (logstash's
		// netflow9_test_invalid01 says 2 for 6 flowsets), and set
		// lengths say all there is to know.
		h.uptimeMs = be32(p[4:])
		secs = be32(p[8:])
		h.key.id = be32(p[16:])
		sets, base = p[v9HeaderLen:], v9HeaderLen
	} else {
		if len(p) < ipfixHeaderLen {
			return out, &Error{Kind: ErrShort, Version: version, Detail: "shorter than the 16-byte header"}
		}
		length := int(be16(p[2:]))
		secs = be32(p[4:])
		h.key.id = be32(p[12:])
		switch {
		case length < ipfixHeaderLen:
			return out, &Error{Kind: ErrShort, Version: version, Domain: h.key.id, Detail: "length field below the header size"}
		case length > len(p):
			// Cut in transit: decode the sets that are whole.
			short = &Error{Kind: ErrShort, Version: version, Domain: h.key.id, Offset: len(p), Detail: "datagram shorter than the message length"}
		}
		// A shorter length than the datagram is not trusted: one message
		// travels in one datagram (RFC 7011 §10.3.3) and sets delimit
		// themselves. telegraf's issue_14370 says 290 for a 292-byte
		// message whose last set ends at byte 292.
		sets = p[ipfixHeaderLen:]
		base = ipfixHeaderLen
	}
	h.exportNs = int64(secs) * 1e9
	if secs == 0 {
		h.exportNs = recvNs
	}
	r := run{d: d, addr: addr, err: short}
	if r.e = d.exporter(addr); r.e == nil {
		return out, &Error{Kind: ErrExporterLimit, Version: version, Domain: h.key.id}
	}
	r.sampling = r.e.sampling.Load()
	out = r.sets(&h, sets, base, out)
	if r.noRate > 0 {
		d.stats.noRate.Add(r.noRate)
	}
	if r.err != nil {
		return out, r.err
	}
	return out, nil
}

// sets walks the sets of one message.
func (r *run) sets(h *header, b []byte, base int, out []flow.Record) []flow.Record {
	tmplID, optID := uint16(0), uint16(1)
	if h.key.version == 10 {
		tmplID, optID = 2, 3
	}
	for off := 0; off < len(b); {
		rest := b[off:]
		if len(rest) < 4 {
			if !allZero(rest) {
				r.fail(ErrSetLength, h, 0, base+off, "set header cut short")
			}
			break
		}
		id, n := be16(rest), int(be16(rest[2:]))
		if n < 4 || n > len(rest) {
			// Cisco ACI pads its template datagrams with 64 zero bytes,
			// PAN-OS 8.1 its data datagrams with over a kilobyte: a set
			// header of zeros followed by zeros is padding.
			if !allZero(rest) {
				r.fail(ErrSetLength, h, id, base+off, "set length below 4 or past the end")
			}
			break
		}
		body := rest[4:n]
		switch {
		case id == tmplID:
			out = r.templates(h, false, body, base+off+4, out)
		case id == optID:
			out = r.templates(h, true, body, base+off+4, out)
		case id >= 256:
			out = r.data(h, id, body, base+off+4, out)
		}
		// Set IDs 4-255 (IPFIX) and 2-255 (v9) are reserved: skipped, as
		// RFC 7011 §3.3.2 asks.
		off += n
	}
	return out
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// templates reads a template or options template set, publishes what
// changed and decodes the data sets that were waiting for it.
func (r *run) templates(h *header, options bool, b []byte, base int, out []flow.Record) []flow.Record {
	var released []heldSet
	for off := 0; off < len(b); {
		rec, n, ok, kind, detail := splitTemplate(h.key.version, options, b[off:], false)
		if kind != 0 {
			r.fail(kind, h, rec.id, base+off, detail)
		}
		if !ok {
			break
		}
		if kind == 0 {
			released = r.template(h, options, rec, b[off:], base+off, released)
		}
		off += n
	}
	for i := range released {
		out = r.data(&released[i].hdr, released[i].id, released[i].data, 0, out)
		r.d.stats.heldDecoded.Add(1)
	}
	return out
}

// template publishes one template record unless the same one is already
// published, and appends to released the sets it makes decodable.
func (r *run) template(h *header, options bool, rec templateRecord, b []byte, off int, released []heldSet) []heldSet {
	e := r.e
	if rec.withdraw {
		e.mu.Lock()
		e.withdraw(h.key, rec.id, options)
		e.mu.Unlock()
		return released
	}
	if rec.id < 256 {
		r.fail(ErrBadTemplate, h, rec.id, off, "template ID below 256")
		return released
	}
	// Exporters resend unchanged templates every few seconds or packets:
	// recognise them under the read lock, without parsing.
	e.mu.RLock()
	var cur *template
	if dom := e.domains[h.key]; dom != nil {
		cur = dom.templates[rec.id]
	}
	templates, fields := e.templates+1, e.fields+rec.nfields
	e.mu.RUnlock()
	if cur != nil && cur.options == options && bytes.Equal(cur.wire, rec.wire) {
		return released
	}
	// Refuse before parsing what cannot fit (a hostile exporter sends
	// 16000-field templates); checked again under the write lock.
	if cur != nil {
		templates, fields = templates-1, fields-cur.nfields
	}
	if templates > r.d.cfg.MaxTemplates || fields > r.d.cfg.MaxTemplateFields {
		r.fail(ErrTemplateLimit, h, rec.id, off, "exporter holds too many templates or fields")
		return released
	}
	rec, _, _, _, _ = splitTemplate(h.key.version, options, b, true)
	t, kind, detail := compile(h.key.version, options, &rec)
	if t == nil {
		r.fail(kind, h, rec.id, off, detail)
		return released
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	dom := e.domain(h.key)
	old := dom.templates[rec.id]
	templates, fields = e.templates+1, e.fields+t.nfields
	if old != nil {
		templates--
		fields -= old.nfields
	}
	if templates > r.d.cfg.MaxTemplates || fields > r.d.cfg.MaxTemplateFields {
		r.fail(ErrTemplateLimit, h, rec.id, off, "exporter holds too many templates or fields")
		return released
	}
	dom.templates[rec.id] = t
	e.templates, e.fields = templates, fields
	if len(e.held) > 0 {
		r.d.stats.heldExpired.Add(uint64(e.expire(h.recvNs - int64(r.d.cfg.HoldTime))))
		released = e.release(h.key, rec.id, released)
	}
	return released
}

// withdraw removes template id of domain key, or all (options) templates
// when id is the (options) template set ID. Callers hold e.mu.
func (e *exporter) withdraw(key domainKey, id uint16, options bool) {
	dom := e.domains[key]
	if dom == nil {
		return
	}
	all := id == 2 || id == 3
	for tid, t := range dom.templates {
		if tid == id || (all && t.options == options) {
			delete(dom.templates, tid)
			e.templates--
			e.fields -= t.nfields
		}
	}
}

// data decodes one data or options data set, or holds it when its template
// is unknown.
func (r *run) data(h *header, id uint16, b []byte, off int, out []flow.Record) []flow.Record {
	e := r.e
	e.mu.RLock()
	dom, t := e.lookup(h.key, id)
	if t == nil {
		e.mu.RUnlock()
		if r.hold(h, id, b, off) == nil {
			return out
		}
		// The template was published between the two locks.
		e.mu.RLock()
		if dom, t = e.lookup(h.key, id); t == nil {
			e.mu.RUnlock() // and withdrawn again since
			return out
		}
	}
	if t.options {
		// Options data changes the sampler tables. It is rare (once per
		// template refresh) and the template pointer stays valid between
		// the locks.
		e.mu.RUnlock()
		e.mu.Lock()
		n := r.options(e.domain(h.key), t, b)
		e.mu.Unlock()
		r.d.stats.optionsRecords.Add(uint64(n))
		if r.d.setHook != nil {
			r.d.setHook(id, true, n)
		}
		return out
	}
	n := len(out)
	out = r.records(h, dom, t, id, b, off, out)
	e.mu.RUnlock()
	if r.d.setHook != nil {
		r.d.setHook(id, false, len(out)-n)
	}
	return out
}

// lookup returns the domain and template for a data set. Callers hold e.mu.
func (e *exporter) lookup(key domainKey, id uint16) (*domain, *template) {
	dom := e.domains[key]
	if dom == nil {
		return nil, nil
	}
	return dom, dom.templates[id]
}

// hold keeps a copy of a data set whose template is unknown, unless the
// exporter's hold buffer is full. It returns the template instead when it
// was published meanwhile.
func (r *run) hold(h *header, id uint16, b []byte, off int) *template {
	d, e := r.d, r.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, t := e.lookup(h.key, id); t != nil {
		return t
	}
	d.stats.heldExpired.Add(uint64(e.expire(h.recvNs - int64(d.cfg.HoldTime))))
	hs := heldSet{hdr: *h, id: id}
	cost := len(b) + heldOverhead
	if d.cfg.HoldBytes < 0 || e.heldBytes+cost > d.cfg.HoldBytes {
		d.stats.heldDropped.Add(1)
		r.fail(ErrTemplateNotFound, h, id, off, "dropped: hold buffer full or disabled")
		return nil
	}
	hs.data = bytes.Clone(b)
	e.held = append(e.held, hs)
	e.heldBytes += cost
	d.stats.held.Add(1)
	r.fail(ErrTemplateNotFound, h, id, off, "held until the template arrives")
	return nil
}
