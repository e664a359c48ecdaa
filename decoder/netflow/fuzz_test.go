package netflow

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"abuseguard/flow"
)

// fuzzConfig keeps the limits small so that the fuzzer reaches them.
var fuzzConfig = Config{MaxExporters: 4, MaxTemplates: 16, MaxTemplateFields: 512, HoldBytes: 4096, HoldTime: time.Second}

// frame joins datagrams with 2-byte length prefixes, so that one fuzz input
// is a sequence through which template state carries.
func frame(grams ...[]byte) []byte {
	var b []byte
	for _, g := range grams {
		b = binary.BigEndian.AppendUint16(b, uint16(len(g)))
		b = append(b, g...)
	}
	return b
}

// unframe splits a fuzz input back; a prefix longer than the rest takes
// the rest.
func unframe(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		n = min(n, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// checkInvariants verifies what must hold whatever the input: limits
// respected, hold buffers within budget, records sane.
func checkInvariants(t *testing.T, d *Decoder, cfg Config, payload []byte, recs []flow.Record, err error) {
	t.Helper()
	// Every record takes at least one byte of a data set (a template of
	// length 0 is refused); a replayed set was counted in an earlier
	// payload, so allow for the hold budget.
	if len(recs) > len(payload)+cfg.HoldBytes {
		t.Fatalf("%d records from %d bytes", len(recs), len(payload))
	}
	for i := range recs {
		if !recs[i].Exporter.IsValid() {
			t.Fatalf("record without exporter: %+v", recs[i])
		}
		if recs[i].Src.Is4In6() || recs[i].Dst.Is4In6() {
			t.Fatalf("mapped address left: %+v", recs[i])
		}
	}
	if err != nil && KindOf(err) == 0 {
		t.Fatalf("error without kind: %v", err)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if len(d.exporters) > cfg.MaxExporters {
		t.Fatalf("%d exporters, limit %d", len(d.exporters), cfg.MaxExporters)
	}
	for _, e := range d.exporters {
		e.mu.RLock()
		n, f := 0, 0
		for _, dom := range e.domains {
			n += len(dom.templates)
			for _, tp := range dom.templates {
				f += tp.nfields
			}
			if len(dom.samplers) > maxSamplers {
				t.Fatalf("%d samplers", len(dom.samplers))
			}
		}
		if n != e.templates || f != e.fields || n > cfg.MaxTemplates || f > cfg.MaxTemplateFields {
			t.Fatalf("templates %d (counted %d, limit %d), fields %d (counted %d, limit %d)", n, e.templates, cfg.MaxTemplates, f, e.fields, cfg.MaxTemplateFields)
		}
		held := 0
		for i := range e.held {
			held += heldCost(&e.held[i])
		}
		if held != e.heldBytes || held > cfg.HoldBytes {
			t.Fatalf("held %d bytes (counted %d), limit %d", held, e.heldBytes, cfg.HoldBytes)
		}
		e.mu.RUnlock()
	}
}

// FuzzNetflow decodes sequences of v5, v9 and IPFIX datagrams (the version
// field of each picks the decoder), seeded with every real sequence.
func FuzzNetflow(f *testing.F) {
	for _, s := range allSequences(f) {
		var grams [][]byte
		for _, g := range s.grams {
			grams = append(grams, g.payload)
		}
		f.Add(frame(grams...))
		for _, g := range grams {
			f.Add(frame(g, g))
		}
	}
	exporters := []netip.Addr{testExporter, netip.MustParseAddr("2001:db8::1")}
	f.Fuzz(func(t *testing.T, in []byte) {
		d := New(fuzzConfig)
		var recs []flow.Record
		for i, g := range unframe(in) {
			var err error
			recs, err = d.Decode(exporters[i%2], g, testRecv.Add(time.Duration(i)*100*time.Millisecond), recs[:0])
			checkInvariants(t, d, fuzzConfig, g, recs, err)
		}
	})
}

// FuzzTemplates builds template and options template sets from fuzzed
// field lists and declared counts, the way a hostile exporter would, and
// checks that the decoder stays within its limits and its heap stays
// bounded.
func FuzzTemplates(f *testing.F) {
	f.Add(uint16(256), uint16(3), []byte{0, 8, 0, 4, 0, 12, 0, 4, 0, 1, 0xff, 0xff}, false, true)
	f.Add(uint16(300), uint16(65535), []byte{0x80, 1, 0, 4, 0, 0, 0, 9}, true, true)
	f.Add(uint16(256), uint16(16000), make([]byte, 64000), false, false)
	f.Fuzz(func(t *testing.T, id, count uint16, fields []byte, options, ipfix bool) {
		// 2048 fields are four times fuzzConfig.MaxTemplateFields: longer
		// inputs only slow the fuzzer down.
		fields = fields[:min(len(fields), 8192)]
		d := New(fuzzConfig)
		var msg []byte
		body := append(be(id, count), fields...)
		switch {
		case ipfix && options:
			msg = ipfixMsg(1, 0, set(3, be(id, count, uint16(len(fields)%7)), fields))
		case ipfix:
			msg = ipfixMsg(1, 0, set(2, body))
		case options:
			msg = v9Msg(0, 1, 0, set(1, be(id, count, uint16(len(fields)&^3)), fields))
		default:
			msg = v9Msg(0, 1, 0, set(0, body))
		}
		if len(msg) > 65535 {
			return
		}
		// The same template under 20 IDs, more than
		// fuzzConfig.MaxTemplates: the template record starts
		// after the message and set headers.
		idOff := v9HeaderLen + 4
		if ipfix {
			idOff = ipfixHeaderLen + 4
		}
		for range 20 {
			binary.BigEndian.PutUint16(msg[idOff:], id)
			recs, err := d.Decode(testExporter, msg, testRecv, nil)
			checkInvariants(t, d, fuzzConfig, msg, recs, err)
			id++
		}
	})
}

// TestHostileTemplateMemory sends 2000 distinct maximal templates (each
// as many fields as a 64 KiB datagram holds) from one exporter and checks
// the heap: the per-exporter field budget must cap it.
func TestHostileTemplateMemory(t *testing.T) {
	fields := make([]field, 16000)
	for i := range fields {
		fields[i] = field{id: uint16(1 + i%300), length: 1}
	}
	d := New(Config{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 2000 {
		msg := ipfixMsg(1, 0, set(2, tmpl(uint16(256+i), fields...)))
		_, err := d.Decode(testExporter, msg, testRecv, nil)
		if i >= 2 && KindOf(err) != ErrTemplateLimit {
			t.Fatalf("template %d: %v, want ErrTemplateLimit once the field budget is spent", i, err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// DefaultMaxTemplateFields (32768) fields of 5 bytes compiled and 4
	// on the wire: well under 1 MiB.
	if grown > 1<<20 {
		t.Errorf("heap grew %d bytes for one hostile exporter", grown)
	}
	if s := d.Stats(); s.Templates != 2 {
		t.Errorf("%d templates kept, want 2 (2 × 16000 fields fit 32768)", s.Templates)
	}
}
