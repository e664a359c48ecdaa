package detect

import (
	"net/netip"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"abuseguard"
	"abuseguard/flow"
)

func TestPrivateDestinations(t *testing.T) {
	const src = "203.0.113.12"
	private := func(n int, every time.Duration, rate uint32) []flow.Record {
		var rs []flow.Record
		for i := 0; i < n; i++ {
			dst := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String()
			r := rec(at(time.Duration(i)*every), src, dst, flow.ProtoTCP, 40000, 445, flow.TCPAck, 52)
			// the same destination again: distinct destinations count
			rs = append(rs, sampled(r, rate), sampled(r, rate))
		}
		return rs
	}
	tests := []struct {
		name string
		recs []flow.Record
		want []summary
	}{
		{"19 in 4 minutes", private(19, 12*time.Second, 1), nil},
		{"20 in 4 minutes", private(20, 12*time.Second, 1), []summary{
			{abuseguard.ReasonMisconfiguration, abuseguard.SubkindPrivateDestination, src, false, 20, 20},
			{abuseguard.ReasonMisconfiguration, abuseguard.SubkindPrivateDestination, src, true, 20, 20},
		}},
		{"40 over 20 minutes (10 per 5 minutes)", private(40, 30*time.Second, 1), nil},
		{"one sample at 1:100", private(1, time.Second, 100), nil},
		{"eight samples at 1:100", private(8, time.Second, 100), []summary{
			{abuseguard.ReasonMisconfiguration, abuseguard.SubkindPrivateDestination, src, false, 800, 800},
			{abuseguard.ReasonMisconfiguration, abuseguard.SubkindPrivateDestination, src, true, 800, 800},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := run(t, testConfig(), tt.recs)
			if diff := gocmp.Diff(summarize(ds), tt.want); diff != "" {
				t.Fatalf("detections (-got, +want):\n%s", diff)
			}
			if len(ds) == 2 {
				if n := len(ds[1].Attempts); uint64(n) != ds[1].AttemptsTotal || n != len(tt.recs)/2 {
					t.Fatalf("%d attempts, AttemptsTotal %d; want one per destination (%d)", n, ds[1].AttemptsTotal, len(tt.recs)/2)
				}
				if a := ds[1].Attempts[0]; a.Dst != netip.MustParseAddr("10.0.0.0") || a.DstPort != 445 {
					t.Fatalf("first attempt %+v", a)
				}
			}
		})
	}
}

// TestPrivateDestinationsNotReplies: a server answering traffic from
// reserved sources (a SYN flood with random spoofed sources; replies to
// misrouted packets) sends to reserved destinations without being
// misconfigured. Only what it starts counts.
func TestPrivateDestinationsNotReplies(t *testing.T) {
	const src = "203.0.113.12"
	to := func(n int, proto uint8, sport, dport uint16, flags uint8) []flow.Record {
		var rs []flow.Record
		for i := 0; i < n; i++ {
			dst := netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)}).String()
			rs = append(rs, rec(at(time.Duration(i)*time.Second), src, dst, proto, sport, dport, flags, 60))
		}
		return rs
	}
	tests := []struct {
		name string
		recs []flow.Record
		want int
	}{
		{"SYN-ACK backscatter", to(40, flow.ProtoTCP, 80, 40000, flow.TCPSyn|flow.TCPAck), 0},
		{"RST backscatter", to(40, flow.ProtoTCP, 80, 40000, flow.TCPRst|flow.TCPAck), 0},
		{"ICMP port unreachable", to(40, flow.ProtoICMP, 0, 3<<8|3, 0), 0},
		{"ICMP echo reply", to(40, flow.ProtoICMP, 0, 0, 0), 0},
		{"DNS answers", to(40, flow.ProtoUDP, 53, 40000, 0), 0},
		{"SYNs the server starts", to(40, flow.ProtoTCP, 40000, 445, flow.TCPSyn), 2},
		{"DNS queries the server starts", to(40, flow.ProtoUDP, 40000, 53, 0), 2},
		{"GRE", to(40, 47, 0, 0, 0), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := run(t, testConfig(), tt.recs)
			if len(ds) != tt.want {
				t.Fatalf("%d detections %v, want %d", len(ds), summarize(ds), tt.want)
			}
		})
	}
}

const serverMAC = 0x020000000005 // server 4 ("srv-4")

func unassigned(n int, mac uint64, srcs ...string) []flow.Record {
	var rs []flow.Record
	for i := 0; i < n; i++ {
		r := rec(at(time.Duration(i)*time.Second), srcs[i%len(srcs)], ext(i%7), flow.ProtoTCP, 40000, 443, flow.TCPSyn, 60)
		r.SrcMAC = mac
		rs = append(rs, r)
	}
	return rs
}

func TestUnassignedSource(t *testing.T) {
	tests := []struct {
		name string
		recs []flow.Record
		want []abuseguard.Detection
	}{
		{"49 packets", unassigned(49, serverMAC, "198.51.100.10", "198.51.100.11", "198.51.100.12"), nil},
		{
			// One server using three wrong addresses is one detection,
			// attributed to the server by its MAC.
			name: "50 packets from one MAC",
			recs: unassigned(50, serverMAC, "198.51.100.10", "198.51.100.11", "198.51.100.12"),
			want: []abuseguard.Detection{{
				Kind: abuseguard.ReasonMisconfiguration, Subkind: abuseguard.SubkindUnassignedSource,
				Address: netip.MustParseAddr("198.51.100.10"), Direction: abuseguard.DirectionOut,
				ServerID: "srv-4", CustomerID: "cust-4", HostGroup: "default",
				FirstSeen: t0, LastSeen: t0.Add(49 * time.Second),
				Value: 50, Threshold: 50, Unit: "packets", Packets: 50, Bytes: 3000,
				PPS: 50.0 / 300, BPS: 3000 * 8.0 / 300, Distinct: 3, SamplingRate: 1, Final: true,
			}},
		},
		{
			name: "50 packets without MAC",
			recs: unassigned(50, 0, "198.51.100.20"),
			want: []abuseguard.Detection{{
				Kind: abuseguard.ReasonMisconfiguration, Subkind: abuseguard.SubkindUnassignedSource,
				Address: netip.MustParseAddr("198.51.100.20"), Direction: abuseguard.DirectionOut,
				HostGroup: "default", FirstSeen: t0, LastSeen: t0.Add(49 * time.Second),
				Value: 50, Threshold: 50, Unit: "packets", Packets: 50, Bytes: 3000,
				PPS: 50.0 / 300, BPS: 3000 * 8.0 / 300, Distinct: 1, SamplingRate: 1, Final: true,
			}},
		},
		{"protected source", unassigned(500, 0, "198.51.100.1"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, s := newEngine(t, testConfig())
			e.Process(tt.recs)
			e.Flush()
			got := s.finals()
			for i := range got {
				// The evidence: every packet the wrong sources sent, the
				// first of them at the crossing from the sample ring.
				srcs := map[netip.Addr]bool{}
				for _, a := range got[i].Attempts {
					srcs[a.Src] = true
				}
				if n := len(tt.recs); got[i].AttemptsTotal != uint64(n) || len(got[i].Attempts) != n || uint64(len(srcs)) != got[i].Distinct {
					t.Fatalf("evidence: %d attempts (total %d) from %d sources; want %d from %d",
						len(got[i].Attempts), got[i].AttemptsTotal, len(srcs), n, got[i].Distinct)
				}
				got[i].ID, got[i].Samples, got[i].Attempts, got[i].AttemptsTotal = "", nil, nil, 0
			}
			if diff := gocmp.Diff(got, tt.want, addrs); diff != "" {
				t.Fatalf("Final reports (-got, +want):\n%s", diff)
			}
		})
	}
}

func TestUnassignedSourceSlow(t *testing.T) {
	// 50 packets over 25 minutes: never 50 within 5.
	var rs []flow.Record
	for i := 0; i < 50; i++ {
		r := rec(at(time.Duration(i)*30*time.Second), "198.51.100.10", ext(1), flow.ProtoUDP, 123, 123, 0, 76)
		r.SrcMAC = serverMAC
		rs = append(rs, r)
	}
	if ds := run(t, testConfig(), rs); len(ds) != 0 {
		t.Fatalf("got %v, want none", summarize(ds))
	}
}

func TestUnassignedSourceEvidence(t *testing.T) {
	e, s := newEngine(t, testConfig())
	e.Process(unassigned(60, serverMAC, "198.51.100.10"))
	e.Flush()
	fin := s.finals()
	if len(fin) != 1 || len(fin[0].Samples) != 60 {
		t.Fatalf("got %d reports, %d samples; want one with 60 samples", len(fin), len(fin[0].Samples))
	}
	if smp := fin[0].Samples[0]; smp.Src != netip.MustParseAddr("198.51.100.10") || smp.DstPort != 443 {
		t.Fatalf("first sample %+v", smp)
	}
}

func TestSpoofedSource(t *testing.T) {
	spoofed := func(n int, inIf uint32) []flow.Record {
		var rs []flow.Record
		for i := 0; i < n; i++ {
			r := rec(at(time.Duration(i)*time.Second), ext(1000+i), ext(i), flow.ProtoUDP, 53, 53, 0, 512)
			r.SrcMAC = 0x020000000007
			r.Exporter, r.InIf = netip.MustParseAddr("192.0.2.10"), inIf
			rs = append(rs, r)
		}
		return rs
	}
	facing := CustomerFacing{Interfaces: []Interface{{Exporter: netip.MustParseAddr("192.0.2.10"), IfIndex: 7}}}
	tests := []struct {
		name   string
		facing CustomerFacing
		recs   []flow.Record
		want   []summary
	}{
		{"off by default", CustomerFacing{}, spoofed(100, 7), nil},
		{"all input customer-facing", CustomerFacing{All: true}, spoofed(100, 7), []summary{
			{abuseguard.ReasonMisconfiguration, abuseguard.SubkindSpoofedSource, ext(1000), false, 50, 50},
			{abuseguard.ReasonMisconfiguration, abuseguard.SubkindSpoofedSource, ext(1000), true, 100, 100},
		}},
		{"from the customer port", facing, spoofed(100, 7), []summary{
			{abuseguard.ReasonMisconfiguration, abuseguard.SubkindSpoofedSource, ext(1000), false, 50, 50},
			{abuseguard.ReasonMisconfiguration, abuseguard.SubkindSpoofedSource, ext(1000), true, 100, 100},
		}},
		{"from an uplink", facing, spoofed(100, 8), nil},
		{"49 packets", CustomerFacing{All: true}, spoofed(49, 7), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.CustomerFacing = tt.facing
			ds := run(t, cfg, tt.recs)
			if diff := gocmp.Diff(summarize(ds), tt.want); diff != "" {
				t.Fatalf("detections (-got, +want):\n%s", diff)
			}
			if len(ds) > 0 && ds[1].ServerID != "srv-6" {
				t.Fatalf("ServerID = %q, want srv-6 (by MAC)", ds[1].ServerID)
			}
		})
	}
}

func TestUnassignedOnlyFromCustomerPorts(t *testing.T) {
	// With customer ports configured, provider-sourced traffic arriving on
	// an uplink is someone else's spoofing, not a server's misconfiguration.
	cfg := testConfig()
	cfg.CustomerFacing = CustomerFacing{Interfaces: []Interface{{Exporter: netip.MustParseAddr("192.0.2.10"), IfIndex: 7}}}
	rs := unassigned(100, serverMAC, "198.51.100.10")
	for i := range rs {
		rs[i].Exporter, rs[i].InIf = netip.MustParseAddr("192.0.2.10"), 8
	}
	if ds := run(t, cfg, rs); len(ds) != 0 {
		t.Fatalf("got %v, want none", summarize(ds))
	}
	for i := range rs {
		rs[i].InIf = 7
	}
	if ds := run(t, cfg, rs); len(ds) != 2 {
		t.Fatalf("got %v, want one detection", summarize(ds))
	}
}
