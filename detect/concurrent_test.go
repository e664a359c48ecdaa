package detect

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"abuseguard"
	"abuseguard/flow"
)

// mixed returns 40 s of traffic in batches of about 1 000 records, in time
// order: a scan, a flood, a private-destination leak, a misconfigured server
// and benign traffic of 300 customer addresses (IPv4 and IPv6), with packet
// headers.
func mixed() [][]flow.Record {
	r := rand.New(rand.NewPCG(5, 5))
	var all []flow.Record
	hdr := func(i int) []byte {
		h := make([]byte, 60+i%200) // longer than snaplen sometimes
		for j := range h {
			h[j] = byte(i + j)
		}
		return h
	}
	for ms := 0; ms < 40_000; ms += 10 {
		d := time.Duration(ms) * time.Millisecond
		// benign: web servers answering clients, both directions
		for k := 0; k < 4; k++ {
			c := 100 + r.IntN(150)
			srv := netip.AddrFrom4([4]byte{203, 0, 113, byte(c)}).String()
			if k == 3 {
				srv = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, 15: byte(c)}).String()
			}
			cl := ext(r.IntN(5000))
			if k == 3 {
				cl = "2600::" + ext(r.IntN(5000))
			}
			in := ack(at(d), cl, srv, 50000, 443)
			out := ack(at(d), srv, cl, 443, 50000)
			out.Bytes = 1500
			in.Header, out.Header = hdr(ms+k), hdr(ms+k+1)
			all = append(all, in, out)
		}
		// a scan of 20 hosts/s during 10–30 s
		if ms >= 10_000 && ms < 30_000 && ms%50 == 0 {
			s := syn(at(d), scanner, ext(10_000+ms/50), 22)
			s.Header = hdr(ms)
			all = append(all, s)
		}
		// a flood of 300 000 pps during 5–25 s, sampled 1:100
		if ms >= 5_000 && ms < 25_000 {
			f := sampled(rec(at(d), ext(r.IntN(1<<20)), victim, flow.ProtoUDP, 123, 80, 0, 468), 100)
			f.Packets, f.Bytes = 30, 30*468
			all = append(all, f)
		}
		// leaks to 10/8 and a server sending from wrong addresses
		if ms%400 == 0 {
			p := rec(at(d), "203.0.113.12", netip.AddrFrom4([4]byte{10, 1, byte(ms >> 16), byte(ms >> 8)}).String(), flow.ProtoUDP, 5353, 5353, 0, 80)
			u := rec(at(d), "198.51.100.10", ext(ms), flow.ProtoTCP, 40000, 25, flow.TCPSyn, 60)
			u.SrcMAC = serverMAC
			all = append(all, p, u)
		}
		// traffic between two internet hosts (ignored)
		if ms%1000 == 0 {
			all = append(all, ack(at(d), ext(1), ext(2), 1, 2))
		}
	}
	var batches [][]flow.Record
	for len(all) > 0 {
		n := min(len(all), 900+r.IntN(200))
		batches = append(batches, all[:n])
		all = all[n:]
	}
	return batches
}

func TestConcurrentMatchesProcess(t *testing.T) {
	batches := mixed()
	cfg := testConfig()
	cfg.Shards = 4
	cfg.QueueLength = 1000 // nothing dropped: the comparison must be exact

	e1, s1 := newEngine(t, cfg)
	for _, b := range batches {
		e1.Process(b)
	}
	e1.Flush()

	e2, s2 := newEngine(t, cfg)
	if err := e2.Start(); err != nil {
		t.Fatalf("Start() error: %v", err)
	}
	for _, b := range batches {
		e2.Submit(b)
		// The caller reuses its buffers: Submit must have copied.
		for i := range b {
			for j := range b[i].Header {
				b[i].Header[j] ^= 0xff
			}
		}
	}
	if err := e2.Stop(); err != nil {
		t.Fatalf("Stop() error: %v", err)
	}
	for i := range e2.drops {
		if n := e2.drops[i].Load(); n != 0 {
			t.Fatalf("%d records dropped (%s)", n, dropReasons[i])
		}
	}
	want := s1.all()
	got := s2.all()
	sortDetections(want)
	sortDetections(got)
	kinds := map[string]bool{}
	for _, d := range want {
		kinds[string(d.Kind)+"/"+d.Subkind] = true
	}
	if len(kinds) != 4 {
		t.Fatalf("the workload made %v, want a scan, a flood, a leak and an unassigned source", kinds)
	}
	if diff := gocmp.Diff(got, want, addrs); diff != "" {
		t.Fatalf("Start/Submit/Stop reports (-got, +want):\n%s", diff)
	}
	if e1.ignored.Load() != 40 || e2.ignored.Load() != 40 {
		t.Fatalf("ignored %d and %d records, want 40", e1.ignored.Load(), e2.ignored.Load())
	}
}

func TestSubmitDropsWhenFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.QueueLength = 1
		gate := make(chan struct{})
		s := &sink{}
		e, err := New(cfg, fakeInventory{}, nil, func(d abuseguard.Detection) {
			s.add(d)
			<-gate
		}, Dependencies{})
		if err != nil {
			t.Fatalf("New() error: %v", err)
		}
		if err := e.Start(); err != nil {
			t.Fatalf("Start() error: %v", err)
		}
		// A flood: the shard opens a detection and blocks in the sink.
		e.Submit(steady(12, ext(1), victim, flow.ProtoUDP, 80, 300_000, 60))
		synctest.Wait()
		if len(s.all()) != 1 {
			t.Fatalf("sink has %d reports, want 1", len(s.all()))
		}
		queued := steady(3, ext(2), victim, flow.ProtoUDP, 80, 1, 60)
		dropped := steady(5, ext(3), victim, flow.ProtoUDP, 80, 1, 60)
		e.Submit(queued)  // waits in the queue
		e.Submit(dropped) // finds the queue full
		if n := e.drops[dropQueueFull].Load(); n != 5 {
			t.Fatalf("dropped %d records, want 5", n)
		}
		close(gate)
		if err := e.Stop(); err != nil {
			t.Fatalf("Stop() error: %v", err)
		}
		if n := e.shards[0].st[stRecords]; n != 12+3 {
			t.Fatalf("shard handled %d records, want 15", n)
		}
	})
}

func TestConcurrentLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, s := newEngine(t, testConfig())
		if err := e.Stop(); err == nil {
			t.Fatalf("Stop() before Start() succeeded")
		}
		if err := e.Start(); err != nil {
			t.Fatalf("Start() error: %v", err)
		}
		if err := e.Start(); err == nil {
			t.Fatalf("second Start() succeeded")
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Process() while running did not panic")
				}
			}()
			e.Process(nil)
		}()
		// Tick ends a flood that went quiet, in the shard's goroutine.
		e.Submit(steady(12, ext(1), victim, flow.ProtoUDP, 80, 300_000, 60))
		for sec := 12; sec <= 40; sec++ {
			e.Tick(t0.Add(time.Duration(sec) * time.Second))
			synctest.Wait()
		}
		if got := s.all(); len(got) != 2 || !got[1].Final {
			t.Fatalf("after ticks: %v, want the Final report", summarize(got))
		}
		// Stop ends what is open.
		e.Submit(scanRecords(150, 50*time.Second, time.Millisecond))
		if err := e.Stop(); err != nil {
			t.Fatalf("Stop() error: %v", err)
		}
		if got := s.finals(); len(got) != 2 {
			t.Fatalf("after Stop: %v, want the scan ended too", summarize(got))
		}
		e.Submit(scanRecords(1, 0, 0))
		if n := e.drops[dropStopped].Load(); n != 1 {
			t.Fatalf("records submitted after Stop: %d counted, want 1", n)
		}
		if err := e.Start(); err == nil {
			t.Fatalf("Start() after Stop() succeeded")
		}
	})
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := &sink{}
	cfg := testConfig()
	cfg.Shards = 2
	e, err := New(cfg, fakeInventory{}, nil, s.add, Dependencies{Registerer: reg})
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	rs := scanRecords(120, 0, time.Millisecond)
	rs = append(rs, ack(at(0), ext(1), ext(2), 1, 2))
	e.Process(rs)
	e.Flush()
	want := `
# HELP abuseguard_detect_detections_total Detections opened, by kind and subkind.
# TYPE abuseguard_detect_detections_total counter
abuseguard_detect_detections_total{kind="incoming_flood",subkind="bps"} 0
abuseguard_detect_detections_total{kind="incoming_flood",subkind="pps"} 0
abuseguard_detect_detections_total{kind="misconfiguration",subkind="private_destination"} 0
abuseguard_detect_detections_total{kind="misconfiguration",subkind="spoofed_source"} 0
abuseguard_detect_detections_total{kind="misconfiguration",subkind="unassigned_source"} 0
abuseguard_detect_detections_total{kind="netscan",subkind="horizontal"} 1
abuseguard_detect_detections_total{kind="netscan",subkind="icmp_sweep"} 0
abuseguard_detect_detections_total{kind="netscan",subkind="vertical"} 0
abuseguard_detect_detections_total{kind="packet_limit",subkind="bps"} 0
abuseguard_detect_detections_total{kind="packet_limit",subkind="pps"} 0
# HELP abuseguard_detect_records_ignored_total Records the detectors ignored, by reason.
# TYPE abuseguard_detect_records_ignored_total counter
abuseguard_detect_records_ignored_total{reason="invalid"} 0
abuseguard_detect_records_ignored_total{reason="not_customer"} 1
# HELP abuseguard_detect_records_total Records run through the detectors, counted once per shard they concern.
# TYPE abuseguard_detect_records_total counter
abuseguard_detect_records_total 120
# HELP abuseguard_detect_tracked State currently held, by kind.
# TYPE abuseguard_detect_tracked gauge
abuseguard_detect_tracked{kind="address"} 1
abuseguard_detect_tracked{kind="source"} 0
abuseguard_detect_tracked{kind="top_k"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"abuseguard_detect_detections_total", "abuseguard_detect_records_ignored_total",
		"abuseguard_detect_records_total", "abuseguard_detect_tracked"); err != nil {
		t.Fatalf("metrics: %v", err)
	}
	// records, 2 ignored reasons, 3 drop reasons, late, clamped,
	// backscatter, time resets, 10 detection kinds, 7 eviction kinds, 3
	// tracked kinds.
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 30 {
		t.Fatalf("GatherAndCount() = %d, %v; want 30 series", n, err)
	}
}
