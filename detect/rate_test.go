package detect

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"abuseguard"
	"abuseguard/flow"
)

const (
	server = "203.0.113.40"
	victim = "203.0.113.41"
)

// flowRec is a flow record of pkts packets of size bytes each over
// [start, start+dur).
func flowRec(start, dur time.Duration, src, dst string, proto uint8, sport, dport uint16, pkts, size uint64) flow.Record {
	r := rec(at(start+dur-time.Nanosecond), src, dst, proto, sport, dport, 0, 0)
	r.Start = at(start)
	r.Packets, r.Bytes = pkts, pkts*size
	if proto == flow.ProtoTCP {
		r.TCPFlags = flow.TCPAck | flow.TCPPsh
	}
	return r
}

// steady returns one record per second for secs seconds: pps packets of
// size bytes from src to dst.
func steady(secs int, src, dst string, proto uint8, dport uint16, pps, size uint64) []flow.Record {
	var rs []flow.Record
	for k := 0; k < secs; k++ {
		rs = append(rs, flowRec(time.Duration(k)*time.Second, time.Second, src, dst, proto, 40000, dport, pps, size))
	}
	return rs
}

func TestRateThresholds(t *testing.T) {
	tests := []struct {
		name string
		recs []flow.Record
		want []summary
	}{
		{"out 49 999 pps", steady(20, server, ext(1), flow.ProtoUDP, 9, 49_999, 100), nil},
		{"out 50 000 pps", steady(20, server, ext(1), flow.ProtoUDP, 9, 50_000, 100), []summary{
			{abuseguard.ReasonPacketLimit, abuseguard.SubkindPPS, server, false, 50_000, 0},
			{abuseguard.ReasonPacketLimit, abuseguard.SubkindPPS, server, true, 50_000, 0},
		}},
		// 10 000 packets/s of 12 500 bytes: 999 999 200 bit/s, then exactly
		// 1 Gbit/s.
		{"out just under 1 Gbit/s", steady(20, server, ext(1), flow.ProtoUDP, 9, 9_999, 12_500), nil},
		{"out 1 Gbit/s", steady(20, server, ext(1), flow.ProtoUDP, 9, 10_000, 12_500), []summary{
			{abuseguard.ReasonPacketLimit, abuseguard.SubkindBPS, server, false, 1e9, 0},
			{abuseguard.ReasonPacketLimit, abuseguard.SubkindBPS, server, true, 1e9, 0},
		}},
		{"in 199 999 pps", steady(20, ext(1), victim, flow.ProtoUDP, 80, 199_999, 60), nil},
		{"in 200 000 pps", steady(20, ext(1), victim, flow.ProtoUDP, 80, 200_000, 60), []summary{
			{abuseguard.ReasonIncomingFlood, abuseguard.SubkindPPS, victim, false, 200_000, 0},
			{abuseguard.ReasonIncomingFlood, abuseguard.SubkindPPS, victim, true, 200_000, 0},
		}},
		{"in 2 Gbit/s", steady(20, ext(1), victim, flow.ProtoUDP, 80, 20_000, 12_500), []summary{
			{abuseguard.ReasonIncomingFlood, abuseguard.SubkindBPS, victim, false, 2e9, 0},
			{abuseguard.ReasonIncomingFlood, abuseguard.SubkindBPS, victim, true, 2e9, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(run(t, testConfig(), tt.recs))
			if diff := gocmp.Diff(got, tt.want); diff != "" {
				t.Fatalf("detections (-got, +want):\n%s", diff)
			}
		})
	}
}

// TestRateTraps: high bit/s with large packets, bursts of flow exports and
// speed tests are not packet-limit breaches at the thresholds they stay
// under; the floods next to them are.
func TestRateTraps(t *testing.T) {
	speedtest := "203.0.113.200" // host group 1: 10 Gbit/s, 2 Mpps
	groups := []Thresholds{{}, {PacketLimit: RateThresholds{PPS: 2_000_000, BPS: 10_000_000_000}}}
	tests := []struct {
		name string
		recs func() []flow.Record
		want []summary
	}{
		{
			// The server downloads at 900 Mbit/s (75 000 packets/s of 1 500
			// bytes, well under 200 000 pps and 2 Gbit/s in) and acknowledges
			// every second segment (37 500 packets/s of 52 bytes out).
			name: "bulk download",
			recs: func() []flow.Record {
				rs := steady(60, ext(7), server, flow.ProtoTCP, 443, 75_000, 1500)
				return append(rs, steady(60, server, ext(7), flow.ProtoTCP, 443, 37_500, 52)...)
			},
		},
		{
			// A file server uploads at 550 Mbit/s: 45 833 packets/s of 1 500
			// bytes, under 50 000 pps and 1 Gbit/s.
			name: "file server upload",
			recs: func() []flow.Record { return steady(60, server, ext(7), flow.ProtoTCP, 50000, 45_833, 1500) },
		},
		{
			// A speed-test server in its own host group sends 5 Gbit/s to 8
			// clients for 15 s.
			name: "speed test server in its host group",
			recs: func() []flow.Record {
				var rs []flow.Record
				for c := 0; c < 8; c++ {
					rs = append(rs, steady(15, speedtest, ext(c), flow.ProtoTCP, 50000, 52_083, 1500)...)
				}
				return rs
			},
		},
		{
			// The same from a server of the default group is over 1 Gbit/s
			// and over 50 000 pps; the packet rate is crossed first (at
			// 600 Mbit/s of full-size packets).
			name: "speed test traffic from the default group",
			recs: func() []flow.Record {
				var rs []flow.Record
				for c := 0; c < 8; c++ {
					rs = append(rs, steady(15, server, ext(c), flow.ProtoTCP, 50000, 52_083, 1500)...)
				}
				return rs
			},
			want: []summary{
				// Crossed at the 10th record: 520 830 packets in the 10 s window.
				{abuseguard.ReasonPacketLimit, abuseguard.SubkindPPS, server, false, 52_083, 0},
				{abuseguard.ReasonPacketLimit, abuseguard.SubkindPPS, server, true, 416_664, 0},
			},
		},
		{
			// A NetFlow exporter with a 60 s active timeout reports a
			// 30 000 pps flow as one record of 1.8 M packets. Spread over its
			// minute, 30 000 pps; counted at its end, 180 000 pps.
			name: "NetFlow active-timeout export",
			recs: func() []flow.Record {
				var rs []flow.Record
				for m := 0; m < 5; m++ {
					rs = append(rs, flowRec(time.Duration(m)*time.Minute, time.Minute, server, ext(3), flow.ProtoUDP, 5000, 5000, 30_000*60, 200))
				}
				return rs
			},
		},
		{
			// The same export of a real 60 000 pps flood is still one: the
			// window holds the flow's last 10 s.
			name: "NetFlow active-timeout export of a flood",
			recs: func() []flow.Record {
				return []flow.Record{flowRec(0, time.Minute, server, ext(3), flow.ProtoUDP, 5000, 5000, 60_000*60, 200)}
			},
			want: []summary{
				{abuseguard.ReasonPacketLimit, abuseguard.SubkindPPS, server, false, 60_000, 0},
				{abuseguard.ReasonPacketLimit, abuseguard.SubkindPPS, server, true, 60_000, 0},
			},
		},
		{
			// sFlow at 1:1000: 250 samples a second of a flood is
			// 250 000 pps.
			name: "sampled flood",
			recs: func() []flow.Record {
				var rs []flow.Record
				for i := 0; i < 250*12; i++ {
					rs = append(rs, sampled(rec(at(time.Duration(i)*4*time.Millisecond), ext(i), victim, flow.ProtoUDP, 123, 80, 0, 468), 1000))
				}
				return rs
			},
			want: []summary{
				{abuseguard.ReasonIncomingFlood, abuseguard.SubkindPPS, victim, false, 200_000, 0},
				{abuseguard.ReasonIncomingFlood, abuseguard.SubkindPPS, victim, true, 250_000, 0},
			},
		},
		{
			// A wrong sampling rate of 1:10 000 000 on one sample would be
			// 1 M pps: one record proves nothing (MinObserved).
			name: "one sample at an absurd rate",
			recs: func() []flow.Record {
				return []flow.Record{sampled(rec(at(0), ext(1), victim, flow.ProtoUDP, 123, 80, 0, 468), 10_000_000)}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, s := newEngine(t, testConfig(), groups...)
			rs := tt.recs()
			sortByTime(rs)
			e.Process(rs)
			e.Flush()
			if diff := gocmp.Diff(summarize(s.all()), tt.want); diff != "" {
				t.Fatalf("detections (-got, +want):\n%s", diff)
			}
		})
	}
}

func TestFloodEvidenceAndEnd(t *testing.T) {
	// A SYN flood of 300 000 pps towards port 443 from spoofed sources,
	// with one real heavy source (60 000 pps, UDP 53) beside it, for 20 s;
	// then it stops.
	e, s := newEngine(t, testConfig())
	heavy := "45.200.0.1"
	r := rand.New(rand.NewPCG(1, 1))
	for sec := 0; sec < 20; sec++ {
		var rs []flow.Record
		for i := 0; i < 1000; i++ {
			ts := time.Duration(sec)*time.Second + time.Duration(i)*time.Millisecond
			src := netip.AddrFrom4([4]byte{45, byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}).String()
			f := rec(at(ts), src, victim, flow.ProtoTCP, 1234, 443, flow.TCPSyn, 60)
			f.Packets, f.Bytes = 240, 240*60
			h := rec(at(ts), heavy, victim, flow.ProtoUDP, 53, 40000, 0, 1400)
			h.Packets, h.Bytes = 60, 60*1400
			rs = append(rs, f, h)
		}
		e.Process(rs)
	}
	for sec := 20; sec <= 45; sec++ {
		e.Tick(t0.Add(time.Duration(sec) * time.Second))
	}
	ds := s.all()
	if len(ds) != 2 {
		t.Fatalf("got %v, want the opening and the Final report", summarize(ds))
	}
	fin := ds[1]
	if !fin.Final || fin.Subkind != abuseguard.SubkindPPS || fin.Direction != abuseguard.DirectionIn {
		t.Fatalf("Final report: %+v", summarize(ds[1:]))
	}
	// Ends when the window has been under threshold for a quiet window:
	// the rate falls under 200 000 pps about 3.4 s after the flood stops.
	if fin.PPS < 299_000 || fin.PPS > 300_001 {
		t.Fatalf("PPS = %v, want ≈ 300 000", fin.PPS)
	}
	if want := uint64(20 * 300_000); fin.Packets < want*9/10 || fin.Packets > want {
		t.Fatalf("Packets = %d, want ≈ %d", fin.Packets, want)
	}
	if len(fin.Peers) != 10 || fin.Peers[0].Addr != netip.MustParseAddr(heavy) {
		t.Fatalf("Peers = %+v, want 10 with %s first", fin.Peers, heavy)
	}
	if p := fin.Peers[0].PPS; p < 50_000 || p > 61_000 {
		t.Fatalf("heavy peer PPS = %v, want ≈ 60 000", p)
	}
	wantSvc := []abuseguard.ServiceTotal{{Proto: flow.ProtoTCP, Port: 443}, {Proto: flow.ProtoUDP, Port: 40000}}
	var gotSvc []abuseguard.ServiceTotal
	for _, sv := range fin.Services {
		gotSvc = append(gotSvc, abuseguard.ServiceTotal{Proto: sv.Proto, Port: sv.Port})
	}
	if diff := gocmp.Diff(gotSvc, wantSvc); diff != "" {
		t.Fatalf("Services (-got, +want):\n%s", diff)
	}
	if len(fin.Samples) != testConfig().MaxSamples {
		t.Fatalf("len(Samples) = %d, want the cap %d", len(fin.Samples), testConfig().MaxSamples)
	}
	if got := fin.LastSeen.Sub(t0); got < 19*time.Second || got > 20*time.Second {
		t.Fatalf("LastSeen at %v, want the flood's last record", got)
	}
	// The summaries were released once the flood ended.
	if sh := e.shards[0]; sh.topActive != 0 || sh.st[stEvictPeer] == 0 {
		t.Fatalf("topActive = %d, peer evictions = %d; want 0 and > 0", sh.topActive, sh.st[stEvictPeer])
	}
}

// TestSpoofedFloodBoundedMemory: a million distinct spoofed sources towards
// one server cost a bounded summary, and the flood is still found with its
// real heavy source on top.
func TestSpoofedFloodBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a million records")
	}
	cfg := testConfig()
	e, s := newEngine(t, cfg)
	heavy := netip.MustParseAddr("45.200.0.1")
	vic := netip.MustParseAddr(victim)
	r := rand.New(rand.NewPCG(2, 2))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const total = 1_000_000
	rs := make([]flow.Record, 10_000)
	for done := 0; done < total; done += len(rs) {
		for i := range rs {
			n := done + i
			src := netip.AddrFrom4([4]byte{byte(45 + r.Uint32()%50), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
			if n%20 == 0 {
				src = heavy
			}
			// 250 000 samples/s at 1:4: 1 M pps, crossing 200 000 pps
			// over 10 s after 2 s.
			ts := at(time.Duration(n) * 4 * time.Microsecond)
			rs[i] = flow.Record{Src: src, Dst: vic, Start: ts, End: ts, Packets: 1, Bytes: 60, SamplingRate: 4,
				Proto: flow.ProtoTCP, SrcPort: uint16(n), DstPort: 80, TCPFlags: flow.TCPSyn}
		}
		e.Process(rs)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	sh := e.shards[0]
	if sh.addrs.len() != 1 {
		t.Fatalf("tracked %d addresses, want 1 (the victim)", sh.addrs.len())
	}
	n := sh.addrs.node(sh.addrs.get(sh.addrs.node(0).key))
	// The summary starts at a quarter of the threshold (50 000 pps over
	// 10 s), after 125 000 records.
	if n.v.inTop.Len() != cfg.TopKCounters || n.v.inTop.Evictions() < total/2 {
		t.Fatalf("summary holds %d keys after %d evictions; want %d keys, most sources evicted",
			n.v.inTop.Len(), n.v.inTop.Evictions(), cfg.TopKCounters)
	}
	// The engine's own memory, not the records': the sample ring and
	// tables allocated once, a few MB.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Fatalf("heap grew by %d MB during the flood", grew>>20)
	}
	opening := s.all()
	if len(opening) != 1 || opening[0].Kind != abuseguard.ReasonIncomingFlood {
		t.Fatalf("got %v, want one open flood detection", summarize(opening))
	}
	if opening[0].Peers[0].Addr != heavy {
		t.Fatalf("top peer %v, want %v", opening[0].Peers[0].Addr, heavy)
	}
	e.Flush()
	// The heavy source sent 4 packets in every 20th record after the
	// summary started: 175 000.
	if fin := s.finals(); len(fin) != 1 || fin[0].Peers[0].Addr != heavy || fin[0].Peers[0].Packets < 175_000 {
		t.Fatalf("Final: %+v", fin)
	}
}

// TestCustomerSpaceFloodBoundedAddresses: a flood whose spoofed sources lie
// in customer space creates outgoing state for each: the address cap holds
// and evictions are counted.
func TestCustomerSpaceFloodBoundedAddresses(t *testing.T) {
	cfg := testConfig()
	cfg.MaxAddresses = 5000
	e, _ := newEngine(t, cfg)
	r := rand.New(rand.NewPCG(3, 3))
	const total = 200_000
	rs := make([]flow.Record, 10_000)
	for done := 0; done < total; done += len(rs) {
		for i := range rs {
			var b [16]byte
			copy(b[:], netip.MustParseAddr("2001:db8:c::").AsSlice())
			for j := 6; j < 16; j++ {
				b[j] = byte(r.Uint32())
			}
			ts := at(time.Duration(done+i) * 10 * time.Microsecond)
			rs[i] = flow.Record{Src: netip.AddrFrom16(b), Dst: netip.MustParseAddr(ext(1)), Start: ts, End: ts,
				Packets: 1, Bytes: 60, SamplingRate: 1, Proto: flow.ProtoUDP, SrcPort: 53, DstPort: 4444}
		}
		e.Process(rs)
	}
	sh := e.shards[0]
	if sh.addrs.len() > cfg.MaxAddresses {
		t.Fatalf("tracked %d addresses, over the cap %d", sh.addrs.len(), cfg.MaxAddresses)
	}
	if got, want := sh.st[stEvictAddress], uint64(total-cfg.MaxAddresses); got != want {
		t.Fatalf("address evictions = %d, want %d", got, want)
	}
}

// TestBackscatterNotPacketLimit: a server flooded with spoofed SYNs answers
// each with SYN-ACKs (retransmitted) and RSTs. Those replies are explained by
// the incoming flood and must not make the victim an attacker; replies with
// nothing coming in, or far more than the incoming traffic explains, count.
func TestBackscatterNotPacketLimit(t *testing.T) {
	const victim = "203.0.113.7" // shadows the file's victim: a server of its own
	cfg := testConfig()
	cfg.Defaults.PacketLimit.PPS = 1000
	cfg.Defaults.IncomingFlood.PPS = 1000
	// flood: per millisecond for n ms, one spoofed SYN in and k replies out.
	flood := func(ms int, in bool, k int, flags uint8) []flow.Record {
		var rs []flow.Record
		for i := 0; i < ms; i++ {
			src := ext(i)
			if in {
				rs = append(rs, rec(at(time.Duration(i)*time.Millisecond), src, victim, flow.ProtoTCP, 1024+uint16(i), 80, flow.TCPSyn, 40))
			}
			for j := 0; j < k; j++ {
				rs = append(rs, rec(at(time.Duration(i)*time.Millisecond+time.Duration(j+1)*time.Microsecond), victim, src, flow.ProtoTCP, 80, 1024+uint16(i), flags, 44))
			}
		}
		return rs
	}
	kinds := func(ds []abuseguard.Detection) []string {
		var out []string
		for _, d := range ds {
			if d.Final {
				out = append(out, string(d.Kind)+"/"+string(d.Direction))
			}
		}
		return out
	}
	tests := []struct {
		name string
		recs []flow.Record
		want []string
	}{
		// 20 000 SYNs in 20 s: 1 000 pps in; 2 000 pps of SYN-ACKs out.
		{"SYN-ACKs answering a SYN flood", flood(20000, true, 2, flow.TCPSyn|flow.TCPAck), []string{"incoming_flood/in"}},
		{"RSTs answering a SYN flood", flood(20000, true, 1, flow.TCPRst|flow.TCPAck), []string{"incoming_flood/in"}},
		{"RST flood with nothing coming in", flood(20000, false, 2, flow.TCPRst), []string{"packet_limit/out"}},
		// 10 replies per SYN: 6 are explained, 4 000 pps beyond it count.
		{"replies far beyond the incoming traffic", flood(20000, true, 10, flow.TCPSyn|flow.TCPAck), []string{"incoming_flood/in", "packet_limit/out"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kinds(run(t, cfg, tt.recs))
			slices.Sort(got)
			if diff := gocmp.Diff(got, tt.want); diff != "" {
				t.Fatalf("Final detections (-got, +want):\n%s", diff)
			}
		})
	}
}

// TestBackscatterKinds: which outgoing records count as replies, for every
// TCP flag combination and ICMP/ICMPv6 type.
func TestBackscatterKinds(t *testing.T) {
	e, _ := newEngine(t, testConfig())
	for f := range 256 {
		r := flow.Record{Proto: flow.ProtoTCP, TCPFlags: uint8(f)}
		synAck := f&int(flow.TCPSyn) != 0 && f&int(flow.TCPAck) != 0 && f&int(flow.TCPPsh|flow.TCPFin) == 0
		if got, want := e.backscatter(&r), f&int(flow.TCPRst) != 0 || synAck; got != want {
			t.Fatalf("TCP flags %#x: backscatter %v, want %v", f, got, want)
		}
	}
	for typ := range 256 {
		r := flow.Record{Proto: flow.ProtoICMP, DstPort: uint16(typ) << 8}
		want := typ == 0 || typ == 3 || typ == 4 || typ == 5 || typ == 11 || typ == 12
		if got := e.backscatter(&r); got != want {
			t.Fatalf("ICMP type %d: backscatter %v, want %v", typ, got, want)
		}
		r.Proto = flow.ProtoICMPv6
		if got, want := e.backscatter(&r), typ < 128 || typ == 129; got != want {
			t.Fatalf("ICMPv6 type %d: backscatter %v, want %v", typ, got, want)
		}
	}
}
