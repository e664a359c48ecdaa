package detect

import (
	"cmp"
	"net/netip"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"abuseguard"
	"abuseguard/flow"
)

const scanner = "203.0.113.7"

// sortByTime sorts records by end time, stably.
func sortByTime(recs []flow.Record) {
	slices.SortStableFunc(recs, func(a, b flow.Record) int { return cmp.Compare(a.End, b.End) })
}

// run sorts records by time (as they would arrive), processes them in one
// call, flushes, and returns every report.
func run(t *testing.T, cfg Configuration, recs []flow.Record) []abuseguard.Detection {
	t.Helper()
	sortByTime(recs)
	e, s := newEngine(t, cfg)
	e.Process(recs)
	e.Flush()
	return s.all()
}

func TestNetscanThresholds(t *testing.T) {
	horizontal := func(n int) []flow.Record {
		var rs []flow.Record
		for i := 0; i < n; i++ {
			rs = append(rs, syn(at(time.Duration(i)*100*time.Millisecond), scanner, ext(i), 22))
		}
		return rs
	}
	vertical := func(n int) []flow.Record {
		var rs []flow.Record
		for i := 0; i < n; i++ {
			rs = append(rs, syn(at(time.Duration(i)*10*time.Millisecond), scanner, "45.1.2.3", uint16(1+i)))
		}
		return rs
	}
	sweep := func(n int) []flow.Record {
		var rs []flow.Record
		for i := 0; i < n; i++ {
			rs = append(rs, rec(at(time.Duration(i)*time.Millisecond), scanner, ext(i), flow.ProtoICMP, 0, icmpEchoRequest, 0, 84))
		}
		return rs
	}
	udp := func(n int) []flow.Record {
		var rs []flow.Record
		for i := 0; i < n; i++ {
			rs = append(rs, rec(at(time.Duration(i)*time.Millisecond), scanner, ext(i), flow.ProtoUDP, 50000, 161, 0, 78))
		}
		return rs
	}
	sweep6 := func(n int) []flow.Record {
		var rs []flow.Record
		for i := 0; i < n; i++ {
			dst := netip.AddrFrom16([16]byte{0x26, 0x00, 15: byte(i), 14: byte(i >> 8)}).String()
			rs = append(rs, rec(at(time.Duration(i)*time.Millisecond), "2001:db8:c::7", dst, flow.ProtoICMPv6, 0, icmpv6EchoRequest, 0, 104))
		}
		return rs
	}
	tests := []struct {
		name string
		recs []flow.Record
		want []summary
	}{
		{"horizontal 99", horizontal(99), nil},
		{"horizontal 100", horizontal(100), []summary{
			{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, false, 100, 100},
			{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, true, 100, 100},
		}},
		{"vertical 99", vertical(99), nil},
		{"vertical 100", vertical(100), []summary{
			{abuseguard.ReasonNetscan, abuseguard.SubkindVertical, scanner, false, 100, 100},
			{abuseguard.ReasonNetscan, abuseguard.SubkindVertical, scanner, true, 100, 100},
		}},
		{"icmp sweep 99", sweep(99), nil},
		{"icmp sweep 100", sweep(100), []summary{
			{abuseguard.ReasonNetscan, abuseguard.SubkindICMPSweep, scanner, false, 100, 100},
			{abuseguard.ReasonNetscan, abuseguard.SubkindICMPSweep, scanner, true, 100, 100},
		}},
		{"icmpv6 sweep 100", sweep6(100), []summary{
			{abuseguard.ReasonNetscan, abuseguard.SubkindICMPSweep, "2001:db8:c::7", false, 100, 100},
			{abuseguard.ReasonNetscan, abuseguard.SubkindICMPSweep, "2001:db8:c::7", true, 100, 100},
		}},
		{"udp 99", udp(99), nil},
		{"udp 100", udp(100), []summary{
			{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, false, 100, 100},
			{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, true, 100, 100},
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

func TestNetscanEvidence(t *testing.T) {
	var rs []flow.Record
	for i := 0; i < 150; i++ {
		rs = append(rs, syn(at(time.Duration(i)*100*time.Millisecond), scanner, ext(i), 23))
	}
	// Traffic before the scan goes into the dump too.
	rs = append([]flow.Record{ack(at(-time.Second), "45.9.9.9", scanner, 443, 50000)}, rs...)
	cfg := testConfig()
	cfg.MaxAttempts = 120
	ds := run(t, cfg, rs)
	if len(ds) != 2 {
		t.Fatalf("got %d reports, want 2: %v", len(ds), summarize(ds))
	}
	first, final := ds[0], ds[1]
	if first.ID != final.ID || first.ID == "" {
		t.Fatalf("IDs differ or empty: %q %q", first.ID, final.ID)
	}
	want := abuseguard.Detection{
		ID: first.ID, Kind: abuseguard.ReasonNetscan, Subkind: abuseguard.SubkindHorizontal,
		Address: netip.MustParseAddr(scanner), Direction: abuseguard.DirectionOut,
		ServerID: "srv-6", CustomerID: "cust-6", HostGroup: "default",
		FirstSeen: t0, LastSeen: t0.Add(14900 * time.Millisecond),
		Value: 150, Threshold: 100, Unit: "destinations",
		Packets: 150, Bytes: 150 * 60, Distinct: 150, SamplingRate: 1, Final: true,
		Targets:       []abuseguard.Target{{Proto: flow.ProtoTCP, Port: 23}},
		AttemptsTotal: 150,
	}
	got := final
	got.Attempts, got.Samples = nil, nil
	if diff := gocmp.Diff(got, want, addrs); diff != "" {
		t.Fatalf("Final report (-got, +want):\n%s", diff)
	}
	if len(final.Attempts) != 120 {
		t.Fatalf("len(Attempts) = %d, want MaxAttempts 120", len(final.Attempts))
	}
	wantAttempt := abuseguard.Attempt{Time: t0, Src: netip.MustParseAddr(scanner), SrcPort: 40000,
		Dst: netip.MustParseAddr(ext(0)), DstPort: 23, Proto: flow.ProtoTCP, Size: 60}
	if diff := gocmp.Diff(final.Attempts[0], wantAttempt, addrs); diff != "" {
		t.Fatalf("Attempts[0] (-got, +want):\n%s", diff)
	}
	for i := 1; i < len(final.Attempts); i++ {
		if final.Attempts[i].Time.Before(final.Attempts[i-1].Time) {
			t.Fatalf("attempts out of order at %d", i)
		}
	}
	// The crossing report came when the 100th attempt was counted: 9.9 s
	// plus the 2 s grace.
	if first.Value != 100 || first.AttemptsTotal != 100 {
		t.Fatalf("first report: Value %v, AttemptsTotal %d; want 100, 100", first.Value, first.AttemptsTotal)
	}
	// The dump has the packet from before the scan, in and out.
	if len(final.Samples) == 0 || final.Samples[0].Src != netip.MustParseAddr("45.9.9.9") {
		t.Fatalf("dump does not start with the earlier incoming packet: %+v", final.Samples[:min(1, len(final.Samples))])
	}
	if n := len(final.Samples); n != 151 {
		t.Fatalf("len(Samples) = %d, want 151", n)
	}
}

func TestNetscanSampling(t *testing.T) {
	scan := func(n int, rate uint32) []flow.Record {
		var rs []flow.Record
		for i := 0; i < n; i++ {
			rs = append(rs, sampled(syn(at(time.Duration(i)*100*time.Millisecond), scanner, ext(i), 445), rate))
		}
		return rs
	}
	tests := []struct {
		name  string
		recs  []flow.Record
		value float64 // 0: no detection
	}{
		{"one sample at 1:1000 proves nothing", scan(1, 1000), 0},
		{"seven samples at 1:1000", scan(7, 1000), 0},
		{"eight samples at 1:1000 (MinObserved)", scan(8, 1000), 8000},
		{"99 at 1:1", scan(99, 1), 0},
		{"missing rate counts as 1: 99", scan(99, 0), 0},
		{"missing rate counts as 1: 100", scan(100, 0), 100},
		{"50 samples at 1:2", scan(50, 2), 100},
		{"49 samples at 1:2", scan(49, 2), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := run(t, testConfig(), tt.recs)
			if tt.value == 0 {
				if len(ds) != 0 {
					t.Fatalf("got %v, want no detection", summarize(ds))
				}
				return
			}
			if len(ds) != 2 || ds[0].Value != tt.value {
				t.Fatalf("got %v, want one detection of value %v", summarize(ds), tt.value)
			}
			if want := max(uint32(tt.recs[0].Rate()), 1); ds[1].SamplingRate != want {
				t.Fatalf("SamplingRate = %d, want %d", ds[1].SamplingRate, want)
			}
		})
	}
}

// TestNetscanTraps covers the false-positive traps of DESIGN.md for netscan,
// each next to the scan it must not hide.
func TestNetscanTraps(t *testing.T) {
	const mail, web, dns, mon, p2p = "203.0.113.25", "203.0.113.80", "203.0.113.53", "203.0.113.9", "203.0.113.66"
	tests := []struct {
		name string
		gen  func() []flow.Record
		want []summary
	}{
		{
			// 150 SYNs to 150 MX hosts leave within 15 ms, before any
			// handshake completes; each completes 40 ms later. Counting
			// attempts at once would see 150 open (TestNetscanGraceMatters);
			// the grace period sees none.
			name: "mail server delivering to 150 MX hosts",
			gen: func() []flow.Record {
				var rs []flow.Record
				for i := 0; i < 150; i++ {
					rs = append(rs, syn(at(time.Duration(i)*100*time.Microsecond), mail, ext(i), 25))
				}
				for i := 0; i < 150; i++ {
					d := time.Duration(i)*100*time.Microsecond + 40*time.Millisecond
					rs = append(rs, rec(at(d-time.Millisecond), ext(i), mail, flow.ProtoTCP, 25, 40000, flow.TCPSyn|flow.TCPAck, 60))
					rs = append(rs, ack(at(d), mail, ext(i), 40000, 25))
				}
				return rs
			},
		},
		{
			// 1 000 sites in a minute, 15 % of them dead: 150 unanswered
			// SYNs on port 443 is over the threshold, but a scanner's
			// targets mostly do not answer and these mostly do.
			name: "web crawler with dead hosts",
			gen: func() []flow.Record {
				var rs []flow.Record
				for i := 0; i < 1000; i++ {
					ts := time.Duration(i) * 50 * time.Millisecond
					port := uint16(443)
					if i%2 == 0 {
						port = 80
					}
					rs = append(rs, syn(at(ts), web, ext(i), port))
					if i%20 >= 3 { // 15 % dead
						rs = append(rs, ack(at(ts+30*time.Millisecond), web, ext(i), 40000, port))
					}
				}
				return rs
			},
		},
		{
			// Sampled 1:1000: the crawler's SYNs are sampled without their
			// ACKs (10 samples weigh 10 000), but its other packets to
			// port 443, sampled from 200 connections, show it is a client.
			name: "web crawler, sampled flows",
			gen: func() []flow.Record {
				var rs []flow.Record
				for i := 0; i < 10; i++ {
					rs = append(rs, sampled(syn(at(time.Duration(i)*time.Second), web, ext(i), 443), 1000))
				}
				for i := 0; i < 200; i++ {
					rs = append(rs, sampled(ack(at(time.Duration(i)*50*time.Millisecond), web, ext(1000+i), 40000, 443), 1000))
				}
				return rs
			},
		},
		{
			// A resolver answering 500 clients from port 53, and resolving
			// recursively towards 300 authoritative servers of which 10 are
			// lame (never answer).
			name: "DNS resolver",
			gen: func() []flow.Record {
				var rs []flow.Record
				for i := 0; i < 500; i++ {
					ts := at(time.Duration(i) * 10 * time.Millisecond)
					rs = append(rs, rec(ts, ext(i), dns, flow.ProtoUDP, uint16(30000+i), 53, 0, 70))
					rs = append(rs, rec(ts+1e6, dns, ext(i), flow.ProtoUDP, 53, uint16(30000+i), 0, 120))
				}
				for i := 0; i < 300; i++ {
					ts := at(time.Duration(i) * 10 * time.Millisecond)
					rs = append(rs, rec(ts, dns, ext(5000+i), flow.ProtoUDP, uint16(20000+i), 53, 0, 70))
					if i%30 != 0 {
						rs = append(rs, rec(ts+20e6, ext(5000+i), dns, flow.ProtoUDP, 53, uint16(20000+i), 0, 300))
					}
				}
				return rs
			},
		},
		{
			// A monitoring host probes 3 ports on 60 hosts every 30 s; the
			// ports of 5 hosts are down (RST). Below threshold however long
			// it runs.
			name: "monitoring host",
			gen: func() []flow.Record {
				var rs []flow.Record
				for round := 0; round < 10; round++ {
					for h := 0; h < 60; h++ {
						for _, port := range []uint16{22, 80, 9100} {
							ts := time.Duration(round)*30*time.Second + time.Duration(h)*10*time.Millisecond
							rs = append(rs, syn(at(ts), mon, ext(h), port))
							if h < 55 {
								rs = append(rs, ack(at(ts+5*time.Millisecond), mon, ext(h), 40000, port))
							} else {
								rs = append(rs, rec(at(ts+5*time.Millisecond), ext(h), mon, flow.ProtoTCP, port, 40000, flow.TCPRst|flow.TCPAck, 40))
							}
						}
					}
				}
				return rs
			},
		},
		{
			// A P2P client: 400 peers on random high ports write first or
			// answer; the client queries 300 DHT nodes on port 6881 and 280
			// answer.
			name: "P2P client",
			gen: func() []flow.Record {
				var rs []flow.Record
				for i := 0; i < 400; i++ {
					ts := at(time.Duration(i) * 20 * time.Millisecond)
					port := uint16(10000 + i*37)
					if i%2 == 0 {
						rs = append(rs, rec(ts, ext(i), p2p, flow.ProtoUDP, port, 51413, 0, 100))
						rs = append(rs, rec(ts+1e6, p2p, ext(i), flow.ProtoUDP, 51413, port, 0, 1200))
					} else {
						rs = append(rs, rec(ts, p2p, ext(i), flow.ProtoUDP, 51413, port, 0, 100))
						rs = append(rs, rec(ts+80e6, ext(i), p2p, flow.ProtoUDP, port, 51413, 0, 1200))
					}
				}
				for i := 0; i < 300; i++ {
					ts := at(time.Duration(i) * 20 * time.Millisecond)
					rs = append(rs, rec(ts, p2p, ext(2000+i), flow.ProtoUDP, 51413, 6881, 0, 100))
					if i%15 != 0 {
						rs = append(rs, rec(ts+60e6, ext(2000+i), p2p, flow.ProtoUDP, 6881, 51413, 0, 300))
					}
				}
				return rs
			},
		},
		{
			// Replies to spoofed SYNs: SYN-ACK to 500 addresses, RST to 500
			// more. Replies are not attempts.
			name: "backscatter",
			gen: func() []flow.Record {
				var rs []flow.Record
				for i := 0; i < 500; i++ {
					rs = append(rs, rec(at(time.Duration(i)*time.Millisecond), web, ext(i), flow.ProtoTCP, 80, uint16(1024+i), flow.TCPSyn|flow.TCPAck, 60))
					rs = append(rs, rec(at(time.Duration(i)*time.Millisecond), web, ext(1000+i), flow.ProtoTCP, 80, uint16(1024+i), flow.TCPRst|flow.TCPAck, 40))
					rs = append(rs, rec(at(time.Duration(i)*time.Millisecond), web, ext(2000+i), flow.ProtoTCP, 80, uint16(1024+i), flow.TCPRst, 40))
				}
				return rs
			},
		},
		{
			// A slow scan, one host a second: never 100 within a minute.
			name: "slow scan under the threshold",
			gen: func() []flow.Record {
				var rs []flow.Record
				for i := 0; i < 600; i++ {
					rs = append(rs, syn(at(time.Duration(i)*time.Second), scanner, ext(i), 22))
				}
				return rs
			},
		},
		{
			// nmap -sS: open ports answer SYN-ACK and the scanner's kernel
			// resets; closed ports answer RST. Both are still attempts.
			name: "SYN scan with answers is still a scan",
			gen: func() []flow.Record {
				var rs []flow.Record
				for i := 0; i < 120; i++ {
					ts := at(time.Duration(i) * 5 * time.Millisecond)
					rs = append(rs, syn(ts, scanner, ext(i), 3389))
					if i%2 == 0 {
						rs = append(rs, rec(ts+2e6, ext(i), scanner, flow.ProtoTCP, 3389, 40000, flow.TCPSyn|flow.TCPAck, 60))
						rs = append(rs, rec(ts+3e6, scanner, ext(i), flow.ProtoTCP, 40000, 3389, flow.TCPRst, 40))
					} else {
						rs = append(rs, rec(ts+2e6, ext(i), scanner, flow.ProtoTCP, 3389, 40000, flow.TCPRst|flow.TCPAck, 40))
					}
				}
				return rs
			},
			want: []summary{
				{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, false, 100, 100},
				{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, true, 120, 120},
			},
		},
		{
			// nmap -sF / -sX: probes without SYN or ACK. A record without
			// any flag (exporters that do not export flags) is not.
			name: "FIN and Xmas scans count, flagless flows do not",
			gen: func() []flow.Record {
				var rs []flow.Record
				for i := 0; i < 100; i++ {
					ts := at(time.Duration(i) * 5 * time.Millisecond)
					fin := rec(ts, scanner, ext(i), flow.ProtoTCP, 40000, 8080, flow.TCPFin, 40)
					xmas := rec(ts, scanner, ext(i), flow.ProtoTCP, 40000, 8443, flow.TCPFin|flow.TCPPsh|flow.TCPUrg, 40)
					none := rec(ts, web, ext(i), flow.ProtoTCP, 40000, 443, 0, 1500)
					rs = append(rs, fin, xmas, none)
				}
				return rs
			},
			want: []summary{
				{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, false, 100, 100},
				{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, true, 100, 100},
			},
		},
		{
			// A sampled SYN scan (1:1000, 20 samples) is still found.
			name: "sampled scan",
			gen: func() []flow.Record {
				var rs []flow.Record
				for i := 0; i < 20; i++ {
					rs = append(rs, sampled(syn(at(time.Duration(i)*time.Second), scanner, ext(i), 22), 1000))
				}
				return rs
			},
			want: []summary{
				{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, false, 8000, 8000},
				{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, true, 20000, 20000},
			},
		},
		{
			// NetFlow: a client's flows carry SYN|ACK|PSH|FIN; a scanner's
			// carry SYN alone.
			name: "flow records",
			gen: func() []flow.Record {
				var rs []flow.Record
				for i := 0; i < 200; i++ {
					ts := at(time.Duration(i) * 100 * time.Millisecond)
					c := rec(ts, web, ext(i), flow.ProtoTCP, 40000, 443, flow.TCPSyn|flow.TCPAck|flow.TCPPsh|flow.TCPFin, 20000)
					c.Start, c.Packets = ts-int64(2*time.Second), 20
					s := rec(ts, scanner, ext(i), flow.ProtoTCP, 40000, 22, flow.TCPSyn, 120)
					s.Start, s.Packets = ts-int64(time.Second), 2 // with a retransmission
					rs = append(rs, c, s)
				}
				return rs
			},
			want: []summary{
				{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, false, 100, 100},
				{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, true, 200, 200},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(run(t, testConfig(), tt.gen()))
			if diff := gocmp.Diff(got, tt.want); diff != "" {
				t.Fatalf("detections (-got, +want):\n%s", diff)
			}
		})
	}
}

// TestNetscanGraceMatters shows what the grace period buys: without it, the
// mail server's burst is a scan.
func TestNetscanGraceMatters(t *testing.T) {
	var rs []flow.Record
	for i := 0; i < 150; i++ {
		rs = append(rs, syn(at(time.Duration(i)*100*time.Microsecond), "203.0.113.25", ext(i), 25))
	}
	for i := 0; i < 150; i++ {
		rs = append(rs, ack(at(time.Duration(i)*100*time.Microsecond+40*time.Millisecond), "203.0.113.25", ext(i), 40000, 25))
	}
	cfg := testConfig()
	cfg.Defaults.Netscan.Grace = -1
	if ds := run(t, cfg, rs); len(ds) == 0 {
		t.Fatalf("without grace the burst was not counted: the grace test proves nothing")
	}
}

func TestNetscanEndsWhenQuiet(t *testing.T) {
	e, s := newEngine(t, testConfig())
	var rs []flow.Record
	for i := 0; i < 100; i++ {
		rs = append(rs, syn(at(time.Duration(i)*10*time.Millisecond), scanner, ext(i), 22))
	}
	e.Process(rs)
	// The attempts expire 60 s after they were seen (the last at 0.99 s),
	// by a sweep every 6 s: the scan was last above threshold at 60–66 s,
	// and the detection ends a quiet window later.
	ended := time.Duration(0)
	for sec := 5; sec <= 130 && ended == 0; sec++ {
		e.Tick(t0.Add(time.Duration(sec) * time.Second))
		if len(s.all()) == 2 {
			ended = time.Duration(sec) * time.Second
		}
	}
	if ended < 120*time.Second || ended > 126*time.Second {
		t.Fatalf("detection ended at %v, want 2m0s–2m6s", ended)
	}
	got := s.all()
	if got[0].Final || !got[1].Final || got[1].ID != got[0].ID {
		t.Fatalf("reports: %v, want the opening and the Final report", summarize(got))
	}
	if want := t0.Add(990 * time.Millisecond); !got[1].LastSeen.Equal(want) {
		t.Fatalf("LastSeen = %v, want %v (the last attempt, not the tick)", got[1].LastSeen, want)
	}
}

func TestNetscanMaxDuration(t *testing.T) {
	// A scan going on for 25 minutes at 10 hosts/s is reported in pieces
	// of at most MaxDuration (10 min): three detections.
	e, s := newEngine(t, testConfig())
	var rs []flow.Record
	for i := 0; i < 25*60*10; i++ {
		rs = append(rs, syn(at(time.Duration(i)*100*time.Millisecond), scanner, ext(i), 22))
	}
	e.Process(rs)
	e.Flush()
	ids := map[string]int{}
	for _, d := range s.all() {
		ids[d.ID]++
		// The evidence of a piece starts up to a window (and a grace and a
		// sweep period) before the piece opened.
		if d.Final && d.LastSeen.Sub(d.FirstSeen) > 10*time.Minute+70*time.Second {
			t.Fatalf("detection %s spans %v", d.ID, d.LastSeen.Sub(d.FirstSeen))
		}
	}
	if len(ids) != 3 {
		t.Fatalf("got %d detections, want 3: %v", len(ids), summarize(s.all()))
	}
	for id, n := range ids {
		if n != 2 {
			t.Fatalf("detection %s has %d reports, want 2", id, n)
		}
	}
}

func TestContactCap(t *testing.T) {
	cfg := testConfig()
	cfg.MaxContacts = 150
	e, s := newEngine(t, cfg)
	var rs []flow.Record
	for i := 0; i < 1000; i++ {
		rs = append(rs, syn(at(time.Duration(i)*time.Millisecond), scanner, ext(i), 22))
	}
	e.Process(rs)
	e.Flush()
	fin := s.finals()
	if len(fin) != 1 || fin[0].Value != 150 {
		t.Fatalf("got %v, want one detection at the cap of 150", summarize(fin))
	}
	if got := e.shards[0].st[stDropContact]; got != 850 {
		t.Fatalf("dropped contacts = %d, want 850", got)
	}
}

// TestIncomingFloodDoesNotHideScan: a UDP flood towards the scanner fills at
// most half its contact table with answered contacts.
func TestIncomingFloodDoesNotHideScan(t *testing.T) {
	cfg := testConfig()
	cfg.MaxContacts = 400
	var rs []flow.Record
	for i := 0; i < 5000; i++ {
		rs = append(rs, rec(at(time.Duration(i)*time.Microsecond), ext(100000+i), scanner, flow.ProtoUDP, uint16(i), 53, 0, 512))
	}
	for i := 0; i < 120; i++ {
		rs = append(rs, syn(at(time.Second+time.Duration(i)*time.Millisecond), scanner, ext(i), 22))
	}
	fin := summarize(run(t, cfg, rs))
	want := []summary{
		{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, false, 100, 100},
		{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, true, 120, 120},
	}
	if diff := gocmp.Diff(fin, want); diff != "" {
		t.Fatalf("detections (-got, +want):\n%s", diff)
	}
}

// TestProgressReports: a detection is reported at the crossing (its figure
// then equals the threshold), again each time its figure has doubled, and a
// last time when it ends, all with the same ID, so that policy can block a
// condition far past its threshold while it goes on.
func TestProgressReports(t *testing.T) {
	var rs []flow.Record
	for i := 0; i < 450; i++ { // 450 hosts in 45 s: within one 60 s window
		rs = append(rs, syn(at(time.Duration(i)*100*time.Millisecond), scanner, ext(i), 22))
	}
	sortByTime(rs)
	e, s := newEngine(t, testConfig())
	e.Process(rs)
	e.Flush()
	type report struct {
		Value float64
		Final bool
	}
	var got []report
	id := ""
	for _, d := range s.everything() {
		if id == "" {
			id = d.ID
		} else if d.ID != id {
			t.Fatalf("report of another detection %s (%s/%s)", d.ID, d.Kind, d.Subkind)
		}
		got = append(got, report{d.Value, d.Final})
	}
	want := []report{{100, false}, {200, false}, {400, false}, {450, true}}
	if diff := gocmp.Diff(got, want); diff != "" {
		t.Fatalf("reports (-got, +want):\n%s", diff)
	}
}
