package sflow

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"abuseguard/flow"
)

// Builders for synthetic sFlow v5 datagrams (XDR: big-endian, 4-byte
// aligned).

func u32s(vals ...uint32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// datagram returns an sFlow v5 datagram from an IPv4 agent.
func datagram(agent [4]byte, samples ...[]byte) []byte {
	return cat(u32s(5, 1), agent[:], u32s(0, 1, 1000, uint32(len(samples))), cat(samples...))
}

// sample wraps a sample body with its format and length.
func sample(format uint32, body []byte) []byte { return cat(u32s(format, uint32(len(body))), body) }

// flowSample returns a compact flow sample on data source ifIndex src.
func flowSample(src, rate, in, out uint32, records ...[]byte) []byte {
	return sample(1, cat(u32s(1, src, rate, 1000*rate, 0, in, out, uint32(len(records))), cat(records...)))
}

// rawHeader returns a raw packet header record (padded to 4 bytes).
func rawHeader(proto, frameLen, stripped uint32, hdr []byte) []byte {
	body := cat(u32s(proto, frameLen, stripped, uint32(len(hdr))), hdr, make([]byte, (4-len(hdr)%4)%4))
	return cat(u32s(1, uint32(len(body))), body)
}

// ipv4Frame returns an Ethernet frame with an IPv4/UDP header claiming
// total length ipLen.
func ipv4Frame(src, dst [4]byte, sport, dport uint16, ipLen uint16) []byte {
	eth := []byte{0, 1, 2, 3, 4, 5, 0x02, 0x42, 0xac, 0x11, 0, 2, 0x08, 0x00}
	ip := []byte{0x45, 0, byte(ipLen >> 8), byte(ipLen), 0, 0, 0, 0, 64, 17, 0, 0}
	ip = append(append(ip, src[:]...), dst[:]...)
	udp := []byte{byte(sport >> 8), byte(sport), byte(dport >> 8), byte(dport), 0, 8, 0, 0}
	return cat(eth, ip, udp)
}

var (
	agentA = [4]byte{192, 0, 2, 50}
	hostA  = [4]byte{192, 0, 2, 10}
	hostB  = [4]byte{203, 0, 113, 5}
)

func TestDecodeSynthetic(t *testing.T) {
	frame := ipv4Frame(hostA, hostB, 5353, 53, 60)
	good := flowSample(7, 512, 7, 9, rawHeader(1, 78, 4, frame))
	want := flow.Record{
		Src: netip.AddrFrom4(hostA), Dst: netip.AddrFrom4(hostB), Exporter: testExporter,
		Start: testRecv.UnixNano(), End: testRecv.UnixNano(),
		Packets: 1, Bytes: 60, SamplingRate: 512, InIf: 7, OutIf: 9,
		SrcPort: 5353, DstPort: 53, Proto: 17, FlowDirection: flow.DirectionIngress,
		SrcMAC: 0x0242ac110002, Header: frame, HeaderType: flow.LinkTypeEthernet, OrigLen: 74,
	}
	opts := cmp.Options{cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmpopts.EquateEmpty()}
	for _, tc := range []struct {
		name    string
		payload []byte
		want    []flow.Record
		err     Kind
	}{
		{name: "one flow sample", payload: datagram(agentA, good), want: []flow.Record{want}},
		{name: "empty", payload: nil, err: ErrShort},
		{name: "version 4", payload: cat(u32s(4), datagram(agentA)[4:]), err: ErrVersion},
		{name: "address type 3", payload: cat(u32s(5, 3), make([]byte, 40)), err: ErrAddressType},
		{name: "header cut", payload: datagram(agentA)[:20], err: ErrShort},
		{
			name:    "more samples counted than sent",
			payload: cat(u32s(5, 1), agentA[:], u32s(0, 1, 1000, 3), good),
			want:    []flow.Record{want}, err: ErrShort,
		},
		{
			name:    "sample length past the datagram",
			payload: datagram(agentA, good, cat(u32s(1, 4000), make([]byte, 40))),
			want:    []flow.Record{want}, err: ErrSampleLength,
		},
		{
			name:    "record length past the sample",
			payload: datagram(agentA, sample(1, cat(u32s(1, 7, 512, 0, 0, 7, 9, 1), u32s(1, 100), make([]byte, 20)))),
			err:     ErrRecordLength,
		},
		{
			name:    "header length past the record",
			payload: datagram(agentA, flowSample(7, 512, 7, 9, cat(u32s(1, 20), u32s(1, 78, 4, 200), make([]byte, 4)))),
			err:     ErrRecordLength,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := New(Config{}).Decode(testExporter, tc.payload, testRecv, nil)
			if KindOf(err) != tc.err {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(got, tc.want, opts); diff != "" {
				t.Errorf("Decode() (-got, +want):\n%s", diff)
			}
		})
	}
}

func TestRecordSources(t *testing.T) {
	d := New(Config{})
	arp := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1}
	ipv4Rec := cat(u32s(3, 32), u32s(1500, 6), hostA[:], hostB[:], u32s(40000, 443, 0x12, 0))
	ethRec := cat(u32s(2, 24), u32s(1518), []byte{0x02, 0, 0, 0, 0, 0x99, 0, 0}, make([]byte, 8), u32s(0x0800))
	lying := ipv4Frame(hostA, hostB, 1, 2, 65000) // claims 65000 bytes in a 46-byte frame
	p := datagram(agentA,
		flowSample(3, 100, 3, 4, rawHeader(1, 64, 4, arp)),   // ARP: no record
		flowSample(3, 100, 3, 4, rawHeader(9, 64, 4, arp)),   // AAL5: no record
		flowSample(3, 0, 5, 3, ethRec, ipv4Rec),              // sampled IPv4, rate unknown
		flowSample(3, 100, 3, 4, rawHeader(1, 64, 4, lying)), // IP length capped
		sample(2, make([]byte, 8)), sample(4, make([]byte, 8)), sample(5, make([]byte, 8)), sample(0x123<<12|1, nil),
	)
	recs, err := d.Decode(testExporter, p, testRecv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	r := recs[0]
	if r.Src != netip.AddrFrom4(hostA) || r.DstPort != 443 || r.TCPFlags != 0x12 || r.Bytes != 1500 || r.Proto != 6 ||
		r.SamplingRate != 0 || r.SrcMAC != 0x020000000099 || r.Header != nil || r.FlowDirection != flow.DirectionEgress {
		t.Errorf("sampled IPv4 record: %+v", r)
	}
	if r := recs[1]; r.Bytes != 60 || r.OrigLen != 60 {
		t.Errorf("lying IP length: Bytes %d, OrigLen %d; want both 60 (frame 64 less 4 stripped)", r.Bytes, r.OrigLen)
	}
	want := Stats{FlowSamples: 4, CounterSamples: 2, DiscardSamples: 1, OtherSamples: 1, NoPacket: 2, NoSamplingRate: 1}
	if diff := cmp.Diff(d.Stats(), want); diff != "" {
		t.Errorf("Stats() (-got, +want):\n%s", diff)
	}
}

func TestExporterAddress(t *testing.T) {
	agent6 := netip.MustParseAddr("2001:db8::50")
	p := cat(u32s(5, 2), agent6.AsSlice(), u32s(0, 1, 1000, 1),
		flowSample(7, 512, 7, 9, rawHeader(1, 78, 4, ipv4Frame(hostA, hostB, 1, 2, 60))))
	for _, tc := range []struct {
		cfg  Config
		want netip.Addr
	}{
		{Config{}, testExporter},
		{Config{ExporterFromAgent: true}, agent6},
	} {
		recs, err := New(tc.cfg).Decode(netip.AddrFrom16(testExporter.As16()), p, testRecv, nil)
		if err != nil || len(recs) != 1 || recs[0].Exporter != tc.want {
			t.Errorf("%+v: %v, %+v; want exporter %v", tc.cfg, err, recs, tc.want)
		}
	}
}

func TestExpandedSample(t *testing.T) {
	// sFlow's tcpdump test capture: one expanded flow sample whose header
	// has source 52.52.52.52.
	grams := pcapGrams(t, "sflow5_tcpdump_expanded.pcap")
	d := New(Config{})
	recs, err := d.Decode(grams[0].exporter, grams[0].payload, grams[0].at, nil)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	if r := recs[0]; r.Src != netip.MustParseAddr("52.52.52.52") || r.Header == nil || r.SamplingRate == 0 {
		t.Errorf("record %+v", r)
	}
	// The other capture has only counter samples: 142 expanded, 2
	// compact. 5 of its 30 datagrams to port 6343 are NetFlow v5 (a
	// router at 168.87.240.x exporting to the sFlow port; tcpdump says
	// "sFlow version 327681 packet not supported"): ErrVersion.
	d = New(Config{})
	versionErrs := 0
	for _, g := range pcapGrams(t, "sflow5_tcpdump_multiple_counter_30_pdus.pcap") {
		recs, err := d.Decode(g.exporter, g.payload, g.at, nil)
		if errors.Is(err, ErrVersion) && g.payload[1] == 5 {
			versionErrs++
			continue
		}
		if err != nil || len(recs) != 0 {
			t.Errorf("counter datagram: %d records, %v", len(recs), err)
		}
	}
	if s := d.Stats(); s.CounterSamples != 144 || s.FlowSamples != 0 || versionErrs != 5 {
		t.Errorf("stats %+v, %d NetFlow datagrams; want 144 counter samples, 5", s, versionErrs)
	}
}

func TestInterfaces(t *testing.T) {
	// sflow_issue_15918's six flow samples: (data source, input, output)
	// as on the wire; output 0x8000000a is "multiple interfaces" (10).
	recs, err := New(Config{}).Decode(testExporter, telegrafCase(t, "sflow_issue_15918")[0].payload, testRecv, nil)
	if err != nil {
		t.Fatal(err)
	}
	type ifs struct {
		In, Out uint32
		Dir     flow.Direction
	}
	var got []ifs
	for _, r := range recs {
		got = append(got, ifs{r.InIf, r.OutIf, r.FlowDirection})
	}
	in, eg := flow.DirectionIngress, flow.DirectionEgress
	want := []ifs{{96, 95, in}, {101, 60, eg}, {97, 0, eg}, {60, 101, eg}, {6, 97, in}, {97, 0, eg}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("interfaces (-got, +want):\n%s", diff)
	}
}

func TestErrorsMatchKinds(t *testing.T) {
	_, err := New(Config{}).Decode(testExporter, []byte{0, 0, 0, 5}, testRecv, nil)
	var e *Error
	if !errors.Is(err, ErrShort) || !errors.As(err, &e) || e.Kind.String() != "short" {
		t.Errorf("error %v", err)
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	p := telegrafCase(t, "sflow_issue_15918")[0].payload
	d := New(Config{})
	out := make([]flow.Record, 0, 16)
	allocs := testing.AllocsPerRun(100, func() {
		out, _ = d.Decode(testExporter, p, testRecv, out[:0])
	})
	if allocs != 0 || len(out) != 6 {
		t.Errorf("%v allocations, %d records; want 0, 6", allocs, len(out))
	}
}
