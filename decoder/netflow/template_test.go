package netflow

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"abuseguard/flow"
)

var (
	hostA = [4]byte{192, 0, 2, 10}
	hostB = [4]byte{203, 0, 113, 5}
)

func basicSet(id uint16, n int) []byte {
	var recs [][]byte
	for i := range n {
		recs = append(recs, basicRecord(hostA, hostB, uint16(40000+i), 443, 6, 1500, 1))
	}
	return set(id, recs...)
}

func TestTemplateWithdrawal(t *testing.T) {
	d := New(Config{})
	decode := func(sets ...[]byte) ([]flow.Record, error) {
		return d.Decode(testExporter, ipfixMsg(1700000000, 7, sets...), testRecv, nil)
	}
	tpl := set(2, tmpl(256, basicFields...), tmpl(257, basicFields...))
	opt := set(3, ipfixOptTmpl(258, 1, field{id: ieSelectorID, length: 4}, field{id: ieSamplingInterval, length: 4}))
	if recs, err := decode(tpl, opt, basicSet(256, 2), basicSet(257, 1)); err != nil || len(recs) != 3 {
		t.Fatalf("before withdrawal: %d records, %v", len(recs), err)
	}
	// RFC 7011 §8.1: template 256 withdrawn, 257 stays.
	recs, err := decode(set(2, be(uint16(256), uint16(0))), basicSet(256, 2), basicSet(257, 1))
	if len(recs) != 1 || !errors.Is(err, ErrTemplateNotFound) {
		t.Errorf("after withdrawing 256: %d records, %v; want 1, ErrTemplateNotFound", len(recs), err)
	}
	// All templates (ID 2 in a template set): 257 goes, the options
	// template 258 stays.
	decode(set(2, be(uint16(2), uint16(0))))
	if got := d.Stats().Templates; got != 1 {
		t.Errorf("after withdrawing all templates: %d templates, want 1 (the options template)", got)
	}
	// All options templates (ID 3 in an options template set).
	decode(set(3, be(uint16(3), uint16(0))))
	if got := d.Stats().Templates; got != 0 {
		t.Errorf("after withdrawing all options templates: %d templates, want 0", got)
	}
}

func TestForget(t *testing.T) {
	d := New(Config{})
	d.SetSamplingRate(testExporter, 10, false)
	d.Decode(testExporter, ipfixMsg(1, 0, set(2, tmpl(256, basicFields...))), testRecv, nil)
	d.Forget(netip.AddrFrom16(testExporter.As16()))
	if s := d.Stats(); s.Exporters != 0 || s.Templates != 0 {
		t.Errorf("after Forget: %+v", s)
	}
	recs, err := d.Decode(testExporter, ipfixMsg(1, 0, set(2, tmpl(256, basicFields...)), basicSet(256, 1)), testRecv, nil)
	if err != nil || len(recs) != 1 || recs[0].SamplingRate != 10 {
		t.Errorf("after Forget: %v %+v; want the configured rate kept", err, recs)
	}
}

func TestTemplateRedefinition(t *testing.T) {
	d := New(Config{})
	// 256 first: IPv4 src, dst port.
	first := set(2, tmpl(256, field{id: ieSourceIPv4Address, length: 4}, field{id: ieDestinationTransportPort, length: 2}))
	// Then 256 again with another layout, in the next message: RFC 7011
	// §8.1 allows redefinition over UDP without withdrawal.
	second := set(2, tmpl(256, field{id: ieDestinationTransportPort, length: 2}, field{id: ieSourceIPv4Address, length: 4}))
	recs, err := d.Decode(testExporter, ipfixMsg(1, 0, first, set(256, be(hostA[:], uint16(22)))), testRecv, nil)
	if err != nil || len(recs) != 1 || recs[0].DstPort != 22 || recs[0].Src != netip.AddrFrom4(hostA) {
		t.Fatalf("first layout: %v %+v", err, recs)
	}
	recs, err = d.Decode(testExporter, ipfixMsg(2, 0, second, set(256, be(uint16(80), hostB[:]))), testRecv, nil)
	if err != nil || len(recs) != 1 || recs[0].DstPort != 80 || recs[0].Src != netip.AddrFrom4(hostB) {
		t.Fatalf("second layout: %v %+v", err, recs)
	}
	if got := d.Stats().Templates; got != 1 {
		t.Errorf("%d templates, want 1", got)
	}
}

func TestScopes(t *testing.T) {
	// The same template ID means different things per exporter, per
	// version and per observation domain / source ID.
	d := New(Config{})
	other := netip.MustParseAddr("2001:db8::7")
	d.Decode(testExporter, ipfixMsg(1, 1, set(2, tmpl(256, basicFields...))), testRecv, nil)
	for _, tc := range []struct {
		name     string
		exporter netip.Addr
		msg      []byte
	}{
		{"other domain", testExporter, ipfixMsg(1, 2, basicSet(256, 1))},
		{"other version", testExporter, v9Msg(0, 1, 1, basicSet(256, 1))},
		{"other exporter", other, ipfixMsg(1, 1, basicSet(256, 1))},
	} {
		recs, err := d.Decode(tc.exporter, tc.msg, testRecv, nil)
		if len(recs) != 0 || !errors.Is(err, ErrTemplateNotFound) {
			t.Errorf("%s: %d records, %v; want none, ErrTemplateNotFound", tc.name, len(recs), err)
		}
	}
	// An IPv4-mapped exporter address is the same exporter.
	recs, err := d.Decode(netip.AddrFrom16(testExporter.As16()), ipfixMsg(1, 1, basicSet(256, 1)), testRecv, nil)
	if err != nil || len(recs) != 1 || recs[0].Exporter != testExporter {
		t.Errorf("mapped exporter address: %d records, %v", len(recs), err)
	}
}

func TestHoldAndReplay(t *testing.T) {
	tpl := set(2, tmpl(256, basicFields...))
	t.Run("replayed when the template arrives", func(t *testing.T) {
		d := New(Config{})
		recs, err := d.Decode(testExporter, ipfixMsg(100, 0, basicSet(256, 3)), testRecv, nil)
		if len(recs) != 0 || !errors.Is(err, ErrTemplateNotFound) {
			t.Fatalf("data first: %d records, %v", len(recs), err)
		}
		recs, err = d.Decode(testExporter, ipfixMsg(101, 0, tpl), testRecv.Add(time.Second), nil)
		if err != nil || len(recs) != 3 {
			t.Fatalf("template second: %d records, %v; want the 3 held", len(recs), err)
		}
		// Times come from the message that carried the data.
		if recs[0].Start != 100e9 {
			t.Errorf("replayed Start = %d, want the held message's export time", recs[0].Start)
		}
		if s := d.Stats(); s.Held != 1 || s.HeldDecoded != 1 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("expired after HoldTime", func(t *testing.T) {
		d := New(Config{HoldTime: 2 * time.Second})
		d.Decode(testExporter, ipfixMsg(100, 0, basicSet(256, 3)), testRecv, nil)
		recs, _ := d.Decode(testExporter, ipfixMsg(103, 0, tpl), testRecv.Add(3*time.Second), nil)
		if len(recs) != 0 {
			t.Errorf("%d records replayed after HoldTime", len(recs))
		}
		if s := d.Stats(); s.HeldExpired != 1 {
			t.Errorf("stats %+v, want 1 expired", s)
		}
	})
	t.Run("bounded per exporter", func(t *testing.T) {
		d := New(Config{HoldBytes: 1000})
		for i := range 10 {
			_, err := d.Decode(testExporter, ipfixMsg(100, 0, basicSet(256, 10)), testRecv, nil)
			var e *Error
			if !errors.As(err, &e) || e.Kind != ErrTemplateNotFound {
				t.Fatalf("datagram %d: %v", i, err)
			}
		}
		// 10 records of 29 bytes + overhead: 2 sets fit in 1000 bytes.
		if s := d.Stats(); s.Held != 2 || s.HeldDropped != 8 {
			t.Errorf("stats %+v, want 2 held, 8 dropped", s)
		}
		recs, _ := d.Decode(testExporter, ipfixMsg(101, 0, tpl), testRecv, nil)
		if len(recs) != 20 {
			t.Errorf("%d records replayed, want 20", len(recs))
		}
	})
	t.Run("disabled", func(t *testing.T) {
		d := New(Config{HoldBytes: -1})
		d.Decode(testExporter, ipfixMsg(100, 0, basicSet(256, 3)), testRecv, nil)
		recs, _ := d.Decode(testExporter, ipfixMsg(101, 0, tpl), testRecv, nil)
		if s := d.Stats(); len(recs) != 0 || s.Held != 0 || s.HeldDropped != 1 {
			t.Errorf("%d records, stats %+v; want none held, 1 dropped", len(recs), s)
		}
	})
}

func TestHostileTemplates(t *testing.T) {
	many := make([]field, 2000)
	for i := range many {
		many[i] = field{id: 100 + uint16(i%20), length: 4}
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		msgs [][]byte
		want Kind
	}{
		{
			name: "field count larger than the set",
			msgs: [][]byte{ipfixMsg(1, 0, set(2, be(uint16(256), uint16(65535), uint16(8), uint16(4))))},
			want: ErrBadTemplate,
		},
		{
			name: "records longer than a message",
			msgs: [][]byte{ipfixMsg(1, 0, set(2, tmpl(256, field{id: 1, length: 65000}, field{id: 2, length: 1000})))},
			want: ErrTemplateLimit,
		},
		{
			name: "records of length 0",
			msgs: [][]byte{ipfixMsg(1, 0, set(2, tmpl(256, field{id: 1, length: 0}, field{id: 0, length: 0})))},
			want: ErrBadTemplate,
		},
		{
			name: "reserved template ID",
			msgs: [][]byte{ipfixMsg(1, 0, set(2, tmpl(255, basicFields...)))},
			want: ErrBadTemplate,
		},
		{
			name: "more scope fields than fields",
			msgs: [][]byte{ipfixMsg(1, 0, set(3, be(uint16(256), uint16(1), uint16(2), uint16(1), uint16(4))))},
			want: ErrBadTemplate,
		},
		{
			name: "v9 options lengths not a multiple of 4",
			msgs: [][]byte{v9Msg(0, 1, 0, set(1, be(uint16(256), uint16(3), uint16(4), uint16(1), uint16(4), uint16(34), uint16(4))))},
			want: ErrBadTemplate,
		},
		{
			name: "too many templates",
			cfg:  Config{MaxTemplates: 3},
			msgs: [][]byte{ipfixMsg(1, 0, set(2, tmpl(256, basicFields...), tmpl(257, basicFields...), tmpl(258, basicFields...), tmpl(259, basicFields...)))},
			want: ErrTemplateLimit,
		},
		{
			name: "too many fields",
			cfg:  Config{MaxTemplateFields: 1500},
			msgs: [][]byte{ipfixMsg(1, 0, set(2, tmpl(256, many...)))},
			want: ErrTemplateLimit,
		},
		{
			name: "too many exporters",
			cfg:  Config{MaxExporters: 1},
			msgs: [][]byte{ipfixMsg(1, 0, set(2, tmpl(256, basicFields...)))},
			want: ErrExporterLimit,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New(tc.cfg)
			if tc.want == ErrExporterLimit {
				d.Decode(netip.MustParseAddr("192.0.2.99"), tc.msgs[0], testRecv, nil)
			}
			var err error
			for _, m := range tc.msgs {
				_, err = d.Decode(testExporter, m, testRecv, nil)
			}
			if KindOf(err) != tc.want {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			s := d.Stats()
			if tc.cfg.MaxTemplates != 0 && s.Templates > tc.cfg.MaxTemplates {
				t.Errorf("%d templates kept, limit %d", s.Templates, tc.cfg.MaxTemplates)
			}
			if tc.want != ErrExporterLimit && s.TemplatesRejected != 1 {
				t.Errorf("TemplatesRejected = %d, want 1", s.TemplatesRejected)
			}
		})
	}
}

func TestSamplerTables(t *testing.T) {
	// Cisco IOS v9: options template scoped by system, naming sampler 3
	// random 1 in 512 (elements 48, 49, 50); data records name sampler 3
	// or an unknown sampler 4. A second options record without sampler
	// ID sets the domain default 1 in 64.
	optTpl := set(1, v9OptTmpl(300, []field{{id: 1, length: 4}},
		field{id: ieSamplerID, length: 1}, field{id: 49, length: 1}, field{id: ieSamplerRandomInterval, length: 4}))
	optDefault := set(1, v9OptTmpl(301, []field{{id: 2, length: 4}},
		field{id: ieSamplingInterval, length: 4}, field{id: ieSamplingAlgorithm, length: 1}))
	optData := set(300, be(uint32(0), uint8(3), uint8(2), uint32(512)), be(uint32(0), uint8(5), uint8(2), uint32(0)))
	defData := set(301, be(uint32(7), uint32(64), uint8(1)))
	tpl := set(0, tmpl(256, field{id: ieSourceIPv4Address, length: 4}, field{id: ieSamplerID, length: 1}))
	data := set(256, be(hostA[:], uint8(3)), be(hostA[:], uint8(4)), be(hostA[:], uint8(5)))

	d := New(Config{})
	recs, err := d.Decode(testExporter, v9Msg(0, 1, 0, optTpl, optDefault, tpl, data, optData, defData, data), testRecv, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint32
	for _, r := range recs {
		got = append(got, r.SamplingRate)
	}
	// Before the options data: unknown; after: sampler 3 → 512, sampler
	// 4 unknown → default 64, sampler 5 has rate 0 → default 64.
	if diff := cmp.Diff(got, []uint32{0, 0, 0, 512, 64, 64}); diff != "" {
		t.Errorf("rates (-got, +want):\n%s", diff)
	}
	if n := d.Stats().NoSamplingRate; n != 3 {
		t.Errorf("NoSamplingRate = %d, want 3", n)
	}

	// Rates in the record itself, per RFC 5477 and RFC 7270.
	for _, tc := range []struct {
		name   string
		fields []field
		values []byte
		want   uint32
	}{
		{"samplingInterval", []field{{id: ieSamplingInterval, length: 4}}, be(uint32(1000)), 1000},
		{"packet interval and space", []field{{id: ieSamplingPacketInterval, length: 4}, {id: ieSamplingPacketSpace, length: 4}}, be(uint32(1), uint32(99)), 100},
		{"packet interval alone", []field{{id: ieSamplingPacketInterval, length: 4}}, be(uint32(1)), 0},
		{"size and population", []field{{id: ieSamplingSize, length: 4}, {id: ieSamplingPopulation, length: 4}}, be(uint32(10), uint32(10000)), 1000},
		{"reduced size", []field{{id: ieSamplingInterval, length: 2}}, be(uint16(4096)), 4096},
	} {
		tpl := set(2, tmpl(256, append([]field{{id: ieSourceIPv4Address, length: 4}}, tc.fields...)...))
		recs, err := New(Config{}).Decode(testExporter, ipfixMsg(1, 0, tpl, set(256, be(hostA[:], tc.values))), testRecv, nil)
		if err != nil || len(recs) != 1 || recs[0].SamplingRate != tc.want {
			t.Errorf("%s: %v %+v, want rate %d", tc.name, err, recs, tc.want)
		}
	}
}

func TestFieldMapping(t *testing.T) {
	// One IPFIX record with every mapped element, checked field by field.
	tpl := set(2, tmpl(256,
		field{id: ieSourceIPv6Address, length: 16}, field{id: ieDestinationIPv6Address, length: 16},
		field{id: ieProtocolIdentifier, length: 1}, field{id: ieICMPTypeCodeIPv6, length: 2},
		field{id: ieTCPControlBits, length: 2}, field{id: ieOctetDeltaCount, length: 4},
		field{id: iePacketDeltaCount, length: 4}, field{id: ieIngressInterface, length: 4},
		field{id: ieEgressInterface, length: 2}, field{id: ieFlowDirection, length: 1},
		field{id: ieSourceMacAddress, length: 6}, field{id: ieFlowStartNanoseconds, length: 8},
		field{id: ieFlowEndDeltaMicros, length: 4}, field{id: 18, length: 4, pen: 29305},
		field{id: ieSamplingInterval, length: 4}))
	src := netip.MustParseAddr("2001:db8::1")
	dst := netip.MustParseAddr("::ffff:198.51.100.9") // mapped: unmapped at ingest
	// 2024-10-23 04:47:20.5 UTC as NTP: seconds since 1900, half a second.
	ntp := uint64(1729658840+ntpEpochOffset)<<32 | 1<<31
	rec := be(src.AsSlice(), dst.AsSlice(), uint8(58), uint16(128<<8), uint16(0x0112),
		uint32(1280), uint32(10), uint32(7), uint16(9), uint8(1),
		[]byte{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}, ntp, uint32(250000), uint32(0xdeadbeef), uint32(100))
	recs, err := New(Config{}).Decode(testExporter, ipfixMsg(1729658841, 0, tpl, set(256, rec)), testRecv, nil)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	want := flow.Record{
		Src: src, Dst: netip.MustParseAddr("198.51.100.9"), Exporter: testExporter,
		Start: 1729658840_500000000, End: 1729658841_000000000 - 250_000_000,
		Packets: 10, Bytes: 1280, SamplingRate: 100, InIf: 7, OutIf: 9,
		DstPort: 128 << 8, Proto: 58, TCPFlags: 0x12, FlowDirection: flow.DirectionEgress,
		SrcMAC: 0x0242ac110002,
	}
	if diff := cmp.Diff(recs[0], want, addrCmp); diff != "" {
		t.Errorf("Decode() (-got, +want):\n%s", diff)
	}
}

func TestICMPFromSeparateElements(t *testing.T) {
	tpl := set(0, tmpl(256, field{id: ieSourceIPv4Address, length: 4}, field{id: ieProtocolIdentifier, length: 1},
		field{id: ieSourceTransportPort, length: 2}, field{id: ieDestinationTransportPort, length: 2},
		field{id: ieICMPTypeIPv4, length: 1}, field{id: ieICMPCodeIPv4, length: 1}))
	data := set(256,
		be(hostA[:], uint8(1), uint16(4711), uint16(0), uint8(3), uint8(1)),  // unreachable, host
		be(hostA[:], uint8(1), uint16(0), uint16(4711), uint8(0), uint8(0)),  // echo reply, id in port
		be(hostA[:], uint8(6), uint16(4711), uint16(80), uint8(0), uint8(0))) // TCP: ports kept
	recs, err := New(Config{}).Decode(testExporter, v9Msg(0, 1, 0, tpl, data), testRecv, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := [][2]uint16{}
	for _, r := range recs {
		got = append(got, [2]uint16{r.SrcPort, r.DstPort})
	}
	if diff := cmp.Diff(got, [][2]uint16{{0, 3<<8 | 1}, {0, 0}, {4711, 80}}); diff != "" {
		t.Errorf("ports (-got, +want):\n%s", diff)
	}
}

func TestV5SamplingHeader(t *testing.T) {
	p := flowsFile(t, "telegraf/netflow_v5_example/netflow_v5.bin")
	p = append([]byte(nil), p...)
	for _, tc := range []struct {
		field uint16
		want  uint32
	}{
		{0x0000, 0},
		{0x4000 | 100, 100}, // mode 1 (deterministic), 1 in 100
		{0x8000 | 1000, 1000},
		{100, 100}, // mode 0 with an interval: what many routers send
	} {
		p[22], p[23] = byte(tc.field>>8), byte(tc.field)
		recs, err := New(Config{}).Decode(testExporter, p, testRecv, nil)
		if err != nil || len(recs) != 8 || recs[0].SamplingRate != tc.want {
			t.Errorf("sampling field %#04x: %v, rate %d, want %d", tc.field, err, recs[0].SamplingRate, tc.want)
		}
	}
}

func TestConcurrentDecode(t *testing.T) {
	// Eight workers decode datagrams of the same exporter at once: some
	// refresh and redefine templates, some carry data. Run with -race.
	tplA := set(2, tmpl(256, basicFields...))
	// B differs on the wire (an empty enterprise field) but reads the
	// same records: a real redefinition each time A and B alternate.
	tplB := set(2, tmpl(256, append(append([]field{}, basicFields...), field{id: 999, length: 0, pen: 9})...))
	opt := set(3, ipfixOptTmpl(300, 1, field{id: ieSelectorID, length: 4}, field{id: ieSamplingInterval, length: 4}))
	optData := set(300, be(uint32(1), uint32(64)))
	msgs := [][]byte{
		ipfixMsg(1, 0, tplA, basicSet(256, 5)),
		ipfixMsg(1, 0, basicSet(256, 5)),
		ipfixMsg(1, 0, tplB),
		ipfixMsg(1, 0, opt, optData),
		ipfixMsg(1, 0, set(2, be(uint16(256), uint16(0)))),
	}
	d := New(Config{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out []flow.Record
			for i := range 2000 {
				out, _ = d.Decode(testExporter, msgs[(i+w)%len(msgs)], testRecv, out[:0])
				for _, r := range out {
					// A torn read would show as another address.
					if r.Src != netip.AddrFrom4(hostA) || r.Dst != netip.AddrFrom4(hostB) {
						t.Errorf("torn record %+v", r)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
