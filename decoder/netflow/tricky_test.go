package netflow

import (
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"abuseguard/flow"
)

// One test per malformed or tricky case that ../shared/testdata/flows/
// SOURCES.md lists, on the real datagrams.

// decodeFiles decodes logstash files in order through one decoder.
func decodeFiles(t *testing.T, d *Decoder, names ...string) ([]flow.Record, []error) {
	t.Helper()
	var grams [][]byte
	for _, n := range names {
		grams = append(grams, splitConcatenated(t, n, flowsFile(t, filepath.Join("logstash", n)))...)
	}
	return decodeAll(d, testExporter, grams)
}

func onlyErrors(errs []error) []Kind {
	var k []Kind
	for _, err := range errs {
		if err != nil {
			k = append(k, KindOf(err))
		}
	}
	return k
}

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestWrongHeaderCounts(t *testing.T) {
	for _, tc := range []struct {
		file    string
		records int
		errs    []Kind
	}{
		// count 55582 and 163 in 1464 bytes: the 30 records that fit.
		{"netflow5_test_invalid01.dat", 30, []Kind{ErrShort}},
		{"netflow5_test_invalid02.dat", 30, []Kind{ErrShort}},
		// count 2 for 6 flowsets: all of them, 2 data records, no error.
		{"netflow9_test_invalid01.dat", 2, nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			recs, errs := decodeFiles(t, New(Config{}), tc.file)
			if len(recs) != tc.records {
				t.Errorf("%d records, want %d", len(recs), tc.records)
			}
			if diff := cmp.Diff(onlyErrors(errs), tc.errs); diff != "" {
				t.Errorf("errors (-got, +want):\n%s", diff)
			}
		})
	}
	// invalid01's options data sets interface-scoped sampling 1:100
	// (sampling interval 100, algorithm 1): its data records get it.
	recs, _ := decodeFiles(t, New(Config{}), "netflow9_test_invalid01.dat")
	for _, r := range recs {
		if r.SamplingRate != 100 {
			t.Errorf("SamplingRate = %d, want 100 from options data", r.SamplingRate)
		}
	}
}

func TestTrailingZeroPadding(t *testing.T) {
	// Cisco ACI: 64 zero bytes after the last template flowset.
	d := New(Config{})
	recs, errs := decodeFiles(t, d, "netflow9_test_cisco_aci_tpl256-258.dat", "netflow9_test_cisco_aci_data256.dat")
	if k := onlyErrors(errs); k != nil || len(recs) != 3 {
		t.Errorf("Cisco ACI: %d records, errors %v; want 3, none", len(recs), k)
	}
	if got := d.Stats().Templates; got != 3 {
		t.Errorf("Cisco ACI: %d templates, want 3", got)
	}
	// Palo Alto: 1220 zero bytes after the one data flowset.
	recs, errs = decodeFiles(t, New(Config{}), "netflow9_test_paloalto_81_tpl256-263.dat", "netflow9_test_paloalto_81_data257_1flowset_in_large_zerofilled_packet.dat")
	if k := onlyErrors(errs); k != nil || len(recs) != 1 {
		t.Errorf("Palo Alto: %d records, errors %v; want 1, none", len(recs), k)
	}
	// The same padding with a non-zero byte in it is an error, and the
	// records before it are kept.
	p := append([]byte(nil), flowsFile(t, "logstash/netflow9_test_paloalto_81_data257_1flowset_in_large_zerofilled_packet.dat")...)
	p[len(p)-7] = 1
	d = New(Config{})
	decodeFiles(t, d, "netflow9_test_paloalto_81_tpl256-263.dat")
	recs, err := d.Decode(testExporter, p, testRecv, nil)
	if len(recs) != 1 || !errors.Is(err, ErrSetLength) {
		t.Errorf("non-zero padding: %d records, %v; want 1, ErrSetLength", len(recs), err)
	}
}

func TestZeroLengthFields(t *testing.T) {
	// Template 256 ends with three (type 0, length 0) fields and has
	// IN/OUT counts both; the first record is a plain IPv4 UDP flow.
	recs, errs := decodeFiles(t, New(Config{}), "netflow9_test_0length_fields_tpl_data.dat")
	if k := onlyErrors(errs); k != nil || len(recs) != 10 {
		t.Fatalf("%d records, errors %v; want 10, none", len(recs), k)
	}
	// Misaligned fields would show as wild interfaces or protocols: the
	// capture has IGMP and UDP between interfaces 2 and 3.
	for _, r := range recs {
		if !r.Src.Is4() || !r.Dst.Is4() || (r.Proto != 2 && r.Proto != 17) || r.InIf+r.OutIf != 5 {
			t.Errorf("record with zero-length fields misread: %+v", r)
		}
	}
}

func TestMissingTemplates(t *testing.T) {
	// ipt_NETFLOW: sets 259 (×5) and 262 without a template in the file,
	// 260 with its template in the same datagram.
	d := New(Config{})
	recs, errs := decodeFiles(t, d, "netflow9_test_iptnetflow_reduced_size_encoding_tpldata260.dat")
	if len(recs) != 12 {
		t.Errorf("ipt_NETFLOW: %d records, want the 12 of template 260", len(recs))
	}
	if diff := cmp.Diff(onlyErrors(errs), []Kind{ErrTemplateNotFound}); diff != "" {
		t.Errorf("ipt_NETFLOW errors (-got, +want):\n%s", diff)
	}
	if s := d.Stats(); s.Held != 6 || s.HeldDecoded != 0 {
		t.Errorf("ipt_NETFLOW: held %d, decoded %d; want 6 held, none decoded", s.Held, s.HeldDecoded)
	}
	// They are never decoded with a guessed layout, and they expire.
	d.Expire(testRecv.Add(DefaultHoldTime + time.Second))
	if s := d.Stats(); s.HeldExpired != 6 {
		t.Errorf("ipt_NETFLOW: %d expired, want 6", s.HeldExpired)
	}

	// NetScaler: data set 280 has no template; 258×2 and 257 do.
	d = New(Config{})
	recs, errs = decodeFiles(t, d, "ipfix_test_netscaler_tpl.dat", "ipfix_test_netscaler_data.dat")
	if len(recs) != 3 {
		t.Errorf("NetScaler: %d records, want 3", len(recs))
	}
	if diff := cmp.Diff(onlyErrors(errs), []Kind{ErrTemplateNotFound}); diff != "" {
		t.Errorf("NetScaler errors (-got, +want):\n%s", diff)
	}
	var e *Error
	if !errors.As(errs[1], &e) || e.ID != 280 || e.Version != 10 {
		t.Errorf("NetScaler error %#v, want set 280 in IPFIX", errs[1])
	}
}

func TestConcatenatedDatagrams(t *testing.T) {
	// nc -k captures: 12 v5 datagrams of 2-3 records, 3 IPFIX messages.
	for _, tc := range []struct {
		file               string
		datagrams, records int
	}{
		{"netflow5.dat", 12, 30},
		{"ipfix.dat", 3, 12},
	} {
		grams := splitConcatenated(t, tc.file, flowsFile(t, "logstash/"+tc.file))
		d := New(Config{})
		recs, errs := decodeAll(d, testExporter, grams)
		if len(grams) != tc.datagrams || len(recs) != tc.records || onlyErrors(errs) != nil {
			t.Errorf("%s: %d datagrams, %d records, errors %v; want %d, %d, none", tc.file, len(grams), len(recs), onlyErrors(errs), tc.datagrams, tc.records)
		}
		// ipfix.dat's 13th record (tshark's count) is its options record.
		if tc.file == "ipfix.dat" && d.Stats().OptionsRecords != 1 {
			t.Errorf("ipfix.dat: %d options records, want 1", d.Stats().OptionsRecords)
		}
	}
}

func TestVariableLengthLongerThan255(t *testing.T) {
	// NetScaler's cookie uses the 3-byte length form (ff 02 5a = 602
	// bytes); the fields after it must still line up: the record's
	// addresses and ports come before it, the record after it must decode.
	// The third record carries the cookie (logstash's event 2: 601
	// characters once trimmed).
	recs, _ := decodeFiles(t, New(Config{}), "ipfix_test_netscaler_tpl.dat", "ipfix_test_netscaler_data.dat")
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	if r := recs[2]; r.Src.String() != "192.168.0.1" || r.Dst.String() != "10.0.0.1" || r.SrcPort != 51053 || r.DstPort != 443 {
		t.Errorf("cookie record: %v:%d -> %v:%d, want 192.168.0.1:51053 -> 10.0.0.1:443", r.Src, r.SrcPort, r.Dst, r.DstPort)
	}

	// Synthetic: a 300-byte string between two mapped fields, then a
	// 3-byte form of a short value, then the next record.
	tpl := set(2, tmpl(300, field{id: ieSourceIPv4Address, length: 4}, field{id: 96, length: varLen}, field{id: ieDestinationTransportPort, length: 2}))
	long := make([]byte, 300)
	rec1 := be([]byte{10, 0, 0, 1}, uint8(255), uint16(300), long, uint16(443))
	rec2 := be([]byte{10, 0, 0, 2}, uint8(255), uint16(3), []byte("abc"), uint16(53))
	rec3 := be([]byte{10, 0, 0, 3}, uint8(0), uint16(25))
	got, err := New(Config{}).Decode(testExporter, ipfixMsg(1, 0, tpl, set(300, rec1, rec2, rec3)), testRecv, nil)
	if err != nil || len(got) != 3 || got[0].DstPort != 443 || got[1].DstPort != 53 || got[2].DstPort != 25 || got[2].Src.String() != "10.0.0.3" {
		t.Errorf("varlen records: %v, %+v", err, got)
	}
}

func TestSetLengthNotMultipleOf4(t *testing.T) {
	// Cisco NBAR data flowset 262 is 409 bytes.
	recs, errs := decodeFiles(t, New(Config{}), "netflow9_test_cisco_nbar_tpl262.dat", "netflow9_test_cisco_nbar_data262.dat")
	if k := onlyErrors(errs); k != nil || len(recs) != 5 {
		t.Errorf("NBAR: %d records, errors %v; want 5, none", len(recs), k)
	}
}

func TestEmptyOptionsTemplateSet(t *testing.T) {
	// telegraf ipfix_0.bin carries an options template set of length 4
	// (no record): not an error.
	_, err := New(Config{}).Decode(testExporter, flowsFile(t, "telegraf/ipfix_example/ipfix_0.bin"), testRecv, nil)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
}

func TestTemplateDefinedTwice(t *testing.T) {
	// telegraf ipfix_0.bin defines 49176, 49171, 53253, 49157, 47104
	// and 45825 twice in the same message, and ipfix_1.bin resends some.
	d := New(Config{})
	for _, f := range []string{"ipfix_0.bin", "ipfix_1.bin"} {
		if _, err := d.Decode(testExporter, flowsFile(t, "telegraf/ipfix_example/"+f), testRecv, nil); err != nil {
			t.Fatalf("Decode(%s): %v", f, err)
		}
	}
	// 45825, 47104, 49155-49157, 49160, 49161, 49171, 49173, 49176,
	// 53253 and options templates 53251, 53252: 13 distinct.
	if got := d.Stats().Templates; got != 13 {
		t.Errorf("%d templates, want 13 (each counted once)", got)
	}
}

func TestV9VariableLength(t *testing.T) {
	// H3C NetStream sends an IPFIX-style variable-length field (236,
	// length 65535) in NetFlow v9, after a field of type 0, length 1.
	recs, errs := decodeFiles(t, New(Config{}), "netflow9_test_h3c_netstream_varstring_tpl3281.dat", "netflow9_test_h3c_netstream_varstring_data3281.dat")
	if k := onlyErrors(errs); k != nil || len(recs) != 1 {
		t.Fatalf("%d records, errors %v; want 1, none", len(recs), k)
	}
	// Values as logstash's spec expects them.
	r := recs[0]
	if r.Src.String() != "20.20.20.20" || r.Dst.String() != "20.20.255.255" || r.SrcPort != 137 || r.DstPort != 137 ||
		r.Bytes != 702 || r.Packets != 9 || r.InIf != 17 || r.Proto != 17 || r.FlowDirection != flow.DirectionIngress {
		t.Errorf("record %+v", r)
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	// Steady state: templates known, the output slice reused.
	for _, tc := range []struct {
		name  string
		setup []string
		data  string
	}{
		{"v5", nil, "netflow5_test_microtik.dat"},
		{"v9", []string{"netflow9_test_cisco_asr9k_tpl260.dat"}, "netflow9_test_cisco_asr9k_data260.dat"},
		{"ipfix", []string{"ipfix_test_mikrotik_tpl.dat"}, "ipfix_test_mikrotik_data258.dat"},
		{"ipfix varlen", []string{"ipfix_test_netscaler_tpl.dat"}, "ipfix_test_netscaler_data.dat"},
		{"v9 sampler table", []string{"netflow9_test_macaddr_tpl.dat"}, "netflow9_test_macaddr_data.dat"},
	} {
		d := New(Config{})
		decodeFiles(t, d, tc.setup...)
		// Without NetScaler's set 280, whose missing template is an
		// error (and an *Error is allocated).
		p := dropSet(flowsFile(t, "logstash/"+tc.data), 280)
		out := make([]flow.Record, 0, 64)
		allocs := testing.AllocsPerRun(100, func() {
			out, _ = d.Decode(testExporter, p, testRecv, out[:0])
		})
		if allocs != 0 || len(out) == 0 {
			t.Errorf("%s: %v allocations for %d records, want 0", tc.name, allocs, len(out))
		}
	}
}

func TestHeaderLengthShorterThanDatagram(t *testing.T) {
	// telegraf issue_14370: header length 290, 292 bytes, and the last
	// set ends at 292.
	recs, err := New(Config{}).Decode(testExporter, flowsFile(t, "telegraf/issue_14370/message.bin"), testRecv, nil)
	if err != nil || len(recs) != 2 {
		t.Errorf("%d records, %v; want 2, no error", len(recs), err)
	}
	// Export time 0: records are stamped with the receive time.
	for _, r := range recs {
		if r.Start != testRecv.UnixNano() {
			t.Errorf("Start = %d, want the receive time %d", r.Start, testRecv.UnixNano())
		}
	}
	// A header length longer than the datagram: cut in transit.
	p := append([]byte(nil), flowsFile(t, "telegraf/issue_14370/message.bin")...)
	recs, err = New(Config{}).Decode(testExporter, p[:200], testRecv, nil)
	if !errors.Is(err, ErrShort) {
		t.Errorf("cut message: %v, want ErrShort", err)
	}
	if len(recs) != 0 {
		t.Errorf("cut message: %d records, want 0 (its data sets are cut)", len(recs))
	}
}

func TestTemplateRefreshSRv6(t *testing.T) {
	// 170 datagrams over 302 s resend every template 11 times: the
	// decoder keeps one of each, and a refresh does not allocate.
	grams := pcapDatagrams(t, "ipfix_netgauze_srv6.pcap")
	d := New(Config{})
	var recs []flow.Record
	var tplOnly []byte
	for _, g := range grams {
		n := len(recs)
		var err error
		if recs, err = d.Decode(g.src.Addr(), g.payload, g.at, recs); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if len(recs) == n && tplOnly == nil && be16(g.payload[16:]) == 2 {
			tplOnly = g.payload
		}
	}
	if got := d.Stats().Templates; got != 8 {
		t.Errorf("%d templates, want 8 (339-342; options 256, 257, 334, 338)", got)
	}
	if tplOnly == nil {
		t.Fatal("no template-only datagram found")
	}
	src := grams[0].src.Addr()
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := d.Decode(src, tplOnly, grams[0].at, recs[:0]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("template refresh: %v allocations, want 0", allocs)
	}
}

func TestOptionsSampling(t *testing.T) {
	type rates map[uint32]int // rate → records
	decodePcap := func(d *Decoder, name string) rates {
		got := rates{}
		for _, g := range pcapDatagrams(t, name) {
			recs, err := d.Decode(g.src.Addr(), g.payload, g.at, nil)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			for _, r := range recs {
				got[r.SamplingRate]++
			}
		}
		return got
	}
	// 104: options template 257 scoped by selectorId 1 says random 1 out
	// of 256 (samplingSize 1, samplingPopulation 256); the data records
	// name selectorId 1.
	d := New(Config{})
	if diff := cmp.Diff(decodePcap(d, "ipfix_netgauze_104-cisco-ipv6-sampling.pcap"), rates{256: 3}); diff != "" {
		t.Errorf("104 rates (-got, +want):\n%s", diff)
	}
	if n := d.Stats().NoSamplingRate; n != 0 {
		t.Errorf("104: %d records without rate, want 0", n)
	}

	// 102: samplerId 1 in every record, no options data in the capture:
	// unknown (0), counted; pmacct's test supplies the rate from its
	// sampling map, which is SetSamplingRate here.
	d = New(Config{})
	if diff := cmp.Diff(decodePcap(d, "nfv9_netgauze_102-cisco-sampling.pcap"), rates{0: 35}); diff != "" {
		t.Errorf("102 rates (-got, +want):\n%s", diff)
	}
	if n := d.Stats().NoSamplingRate; n != 35 {
		t.Errorf("102: %d records without rate, want 35", n)
	}
	d = New(Config{})
	d.SetSamplingRate(netip.MustParseAddr("10.10.0.33"), 1000, false)
	if diff := cmp.Diff(decodePcap(d, "nfv9_netgauze_102-cisco-sampling.pcap"), rates{1000: 35}); diff != "" {
		t.Errorf("102 with configured rate (-got, +want):\n%s", diff)
	}

	// A configured rate does not override what the exporter sends,
	// unless forced.
	exp104 := netip.MustParseAddr("2a02:a90:4007:700::54")
	d = New(Config{})
	d.SetSamplingRate(exp104, 1000, false)
	if diff := cmp.Diff(decodePcap(d, "ipfix_netgauze_104-cisco-ipv6-sampling.pcap"), rates{256: 3}); diff != "" {
		t.Errorf("104 with fallback (-got, +want):\n%s", diff)
	}
	d = New(Config{})
	d.SetSamplingRate(netip.MustParseAddr("::ffff:0:0").Unmap(), 1, true) // another exporter: no effect
	d.SetSamplingRate(exp104, 1000, true)
	if diff := cmp.Diff(decodePcap(d, "ipfix_netgauze_104-cisco-ipv6-sampling.pcap"), rates{1000: 3}); diff != "" {
		t.Errorf("104 forced (-got, +want):\n%s", diff)
	}
}

func TestUptimeTimes(t *testing.T) {
	// netflow5.dat's first datagram: sysUptime 3381 ms, unix 1430591888 s
	// + 280328000 ns, first = 0xffffffff (1 ms before the uptime wrapped
	// to 0, i.e. 3382 ms before export), last = 2577.
	recs, _ := decodeFiles(t, New(Config{}), "netflow5.dat")
	export := time.Unix(1430591888, 280328000)
	if got, want := time.Unix(0, recs[0].Start), export.Add(-3382*time.Millisecond); !got.Equal(want) {
		t.Errorf("v5 Start = %v, want %v", got, want)
	}
	if got, want := time.Unix(0, recs[0].End), export.Add(-(3381-2577)*time.Millisecond); !got.Equal(want) {
		t.Errorf("v5 End = %v, want %v", got, want)
	}

	// v9: a flow that started before the uptime wrapped and one stamped
	// 5 ms after the header (clock skew between line card and RP).
	tpl := set(0, tmpl(256, field{id: ieFlowStartSysUpTime, length: 4}, field{id: ieFlowEndSysUpTime, length: 4}, field{id: ieSourceIPv4Address, length: 4}))
	data := set(256,
		be(uint32(0xfffffc18), uint32(1000), []byte{1, 2, 3, 4}), // 3000 ms (across the wrap) and 1000 ms before
		be(uint32(2000), uint32(2005), []byte{1, 2, 3, 5}))       // now, 5 ms after
	got, err := New(Config{}).Decode(testExporter, v9Msg(2000, 1700000000, 0, tpl, data), testRecv, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := int64(1700000000) * 1e9
	want := []struct{ start, end int64 }{{base - 3000e6, base - 1000e6}, {base, base + 5e6}}
	for i, w := range want {
		if got[i].Start != w.start || got[i].End != w.end {
			t.Errorf("v9 record %d: %d..%d, want %d..%d", i, got[i].Start, got[i].End, w.start, w.end)
		}
	}
}

// dropSet returns an IPFIX message without its sets of the given ID.
func dropSet(p []byte, id uint16) []byte {
	if be16(p) != 10 {
		return p
	}
	out := append([]byte(nil), p[:ipfixHeaderLen]...)
	for b := p[ipfixHeaderLen:]; len(b) >= 4; {
		n := int(be16(b[2:]))
		if n < 4 || n > len(b) {
			break
		}
		if be16(b) != id {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	out[2], out[3] = byte(len(out)>>8), byte(len(out))
	return out
}
