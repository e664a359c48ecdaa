package detect_test

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"abuseguard"
	"abuseguard/detect"
	"abuseguard/flow"
	"abuseguard/inventory"
	"abuseguard/testutil"
)

// The spoofed-source flood of issue 3: 10 million distinct source addresses
// send to one customer address within a minute. It runs through the
// engine's exported API only (New, Process, Flush, the metrics), with the
// real inventory, so that it holds whatever the engine's insides become.

// The flood's address plan. The provider owns 203.0.113.0/24 and
// 2001:db8:100::/40; customers have 203.0.113.0/24 and 2001:db8:100::/48
// (the victim is a server); 2001:db8:180::/48 is provider space assigned
// to no one.
var (
	spoofVictim     = netip.MustParseAddr("203.0.113.10")
	spoofCustomer6  = netip.MustParsePrefix("2001:db8:100::/48")
	spoofUnassigned = netip.MustParsePrefix("2001:db8:180::/48")
	internet6       = netip.MustParsePrefix("2a00::/16")
)

// spoofShares are the kinds of source, per 100 records, and what each
// costs the engine: a real flood with random sources hits the provider's
// own space only as often as that space is a share of the internet; the
// test over-weights it so that every cap is reached.
const (
	shareV4         = 85 // random IPv4 internet: the victim's top-K summary, its contact table (UDP)
	shareV6         = 10 // IPv6 internet: the same
	shareCustomer   = 4  // customer space: each a tracked address (outgoing state)
	shareUnassigned = 1  // provider space of no server: each a misconfiguration key
)

// spoofSource returns the i-th source of the flood: distinct for every i.
func spoofSource(i int) netip.Addr {
	n := uint64(i / 100)
	switch k := i % 100; {
	case k < shareV4:
		// i ↦ i·φ mod 2³² is a bijection (odd multiplier): distinct
		// addresses spread over all of IPv4.
		x := uint32((n*shareV4 + uint64(k)) * 2654435761)
		return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	case k < shareV4+shareV6:
		return addrIn(internet6, n*shareV6+uint64(k-shareV4))
	case k < shareV4+shareV6+shareCustomer:
		return addrIn(spoofCustomer6, n*shareCustomer+uint64(k-shareV4-shareV6))
	default:
		return addrIn(spoofUnassigned, n)
	}
}

// addrIn returns the address n of an IPv6 prefix of at most /64.
func addrIn(p netip.Prefix, n uint64) netip.Addr {
	b := p.Addr().As16()
	binary.BigEndian.PutUint64(b[8:], n+1)
	return netip.AddrFrom16(b)
}

// TestSpoofedSourceFlood: 10 million distinct sources within 60 s towards
// one server, sampled 1:4 (667 000 packets/s estimated, over the default
// threshold of 200 000): the flood is detected, the heap the engine keeps
// stays under a bound computed from the configured caps, and every cap
// that cut state counts what it cut, so that tracked + evicted accounts
// for every address and misconfiguration key the flood brought.
//
// The caps are lowered from the defaults so that the bound is small
// enough to mean something here (61 MB instead of about 700 MB); it is an
// order of magnitude under what one small entry per source would cost
// (10 M × 48 bytes of map entry alone = 480 MB).
func TestSpoofedSourceFlood(t *testing.T) {
	// 4-6 s here (2026-11-25): run under -short too.
	const total = 10_000_000
	cfg := detect.DefaultConfiguration()
	cfg.Shards = 2 // the caps are totals split among shards
	cfg.MaxAddresses = 16384
	cfg.MaxSources = 4096
	cfg.PendingAttempts = 16384
	cfg.MaxTopK = 64

	inv, err := inventory.New(inventory.Configuration{
		ProviderPrefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8:100::/40")},
		CustomerPrefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), spoofCustomer6},
		Customers:        []abuseguard.Customer{{ID: "c-1", Name: "Victim Ltd", Email: "noc@victim.example", Language: abuseguard.LanguageEnglish}},
		Servers:          []abuseguard.Server{{ID: "srv-1", CustomerID: "c-1", Prefixes: []netip.Prefix{netip.PrefixFrom(spoofVictim, 32)}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		dets []abuseguard.Detection
	)
	reg := prometheus.NewRegistry()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	e, err := detect.New(cfg, inv, nil, func(d abuseguard.Detection) {
		mu.Lock()
		defer mu.Unlock()
		d.Samples = nil // the test keeps reports, not their traffic dumps
		dets = append(dets, d)
	}, detect.Dependencies{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC).UnixNano()
	step := int64(60*time.Second) / total // 6 µs: all within a minute
	header := make([]byte, 96)
	batch := make([]flow.Record, 4096)
	var peak uint64 // the most live heap seen above base, after a GC
	began := time.Now()
	for done := 0; done < total; done += len(batch) {
		batch = batch[:min(len(batch), total-done)]
		for j := range batch {
			i := done + j
			ts := start + int64(i)*step
			r := flow.Record{Src: spoofSource(i), Dst: spoofVictim, Start: ts, End: ts, Packets: 1, Bytes: 60,
				SamplingRate: 4, SrcPort: uint16(1024 + i%60000), Header: header}
			if i%2 == 0 {
				r.Proto, r.DstPort, r.TCPFlags = flow.ProtoTCP, 80, flow.TCPSyn
			} else {
				r.Proto, r.DstPort = flow.ProtoUDP, 53
			}
			batch[j] = r
		}
		e.Process(batch)
		if (done/len(batch))%256 == 255 { // about every million records
			peak = max(peak, liveHeap(base))
		}
	}
	peak = max(peak, liveHeap(base))
	elapsed := time.Since(began)

	// The bound, from the caps, with the cost of each unit measured by
	// running this flood at other caps (2026-11-25) and rounded up: a
	// tracked address that sent one SYN (rate windows, a contact table, an
	// LRU node, its share of the map) 2.2 kB, hence 2.5 KiB; a
	// misconfiguration key 0.83 kB, hence 1 KiB; a top-K summary of 64
	// counters about 10 kB, hence 16 KiB; an attempt awaiting its grace
	// period, 128 B; each shard's sample ring SampleRing records and their
	// Snaplen header bytes; plus 8 MiB for what is allocated once (4 MB
	// measured: the shards' tables at their largest, slabs, free lists).
	// This is the bound for the flood's shape: a tracked address that
	// scans holds up to MaxContacts contacts and costs far more.
	bound := uint64(cfg.MaxAddresses)*2560 + uint64(cfg.MaxSources)*1024 + uint64(cfg.MaxTopK)*16<<10 +
		uint64(cfg.PendingAttempts)*128 + uint64(cfg.Shards*cfg.SampleRing*(cfg.Snaplen+256)) + 8<<20
	t.Logf("%d records in %v (%.0f ns a record); live heap above the start: at most %.1f MB, bound %.1f MB",
		total, elapsed.Round(time.Millisecond), float64(elapsed.Nanoseconds())/total, float64(peak)/1e6, float64(bound)/1e6)
	if peak > bound {
		t.Errorf("the engine's live heap grew by %d bytes during the flood, over the %d its caps allow", peak, bound)
	}

	// Every address and key the flood brought is tracked or was evicted:
	// nothing is lost from the accounting, and the victim, active all
	// along, is never evicted (it would be counted twice).
	customers := total / 100 * shareCustomer
	unassigned := total / 100 * shareUnassigned
	tracked := func(kind string) float64 { return gauge(t, reg, "abuseguard_detect_tracked", kind) }
	evicted := func(kind string) float64 { return gauge(t, reg, "abuseguard_detect_evictions_total", kind) }
	if got, want := tracked("address")+evicted("address"), float64(customers+1); got != want {
		t.Errorf("addresses tracked %v + evicted %v = %v, want the %v the flood brought", tracked("address"), evicted("address"), got, want)
	}
	if tracked("address") > float64(cfg.MaxAddresses) {
		t.Errorf("%v addresses tracked, over the cap %d", tracked("address"), cfg.MaxAddresses)
	}
	if got, want := tracked("source")+evicted("source"), float64(unassigned); got != want {
		t.Errorf("misconfiguration keys tracked %v + evicted %v = %v, want %v", tracked("source"), evicted("source"), got, want)
	}
	if tracked("source") > float64(cfg.MaxSources) {
		t.Errorf("%v misconfiguration keys tracked, over the cap %d", tracked("source"), cfg.MaxSources)
	}
	// The victim's top-K summary kept TopKCounters (64) counters whatever
	// the number of sources, the others taking a counter over; the
	// takeovers are counted every second while the flood lasts, not only
	// when it ends.
	during := evicted("peer")
	if during < total/2 {
		t.Errorf("%v peer counters taken over while the flood lasts, want most of the %d sources", during, total)
	}
	// A minute of silence: the flood's detection ends (quiet), and the
	// summary is released, counting the last second's takeovers. A
	// receiver makes no contacts of its own (the table would be the one
	// flooded), so none are dropped.
	e.Tick(time.Unix(0, start).Add(2 * time.Minute))
	e.Flush()
	if evicted("peer") < during || evicted("peer") > total {
		t.Errorf("%v peer counters taken over after the flood, want between the %v counted during it and the %d sources",
			evicted("peer"), during, total)
	}
	t.Logf("tracked %v addresses, %v keys; evicted %v addresses, %v keys, %v peer counters; %v contacts dropped",
		tracked("address"), tracked("source"), evicted("address"), evicted("source"), evicted("peer"), evicted("contact"))
	// The flood is detected within its first seconds, and only the flood.
	mu.Lock()
	defer mu.Unlock()
	var final *abuseguard.Detection
	for i, d := range dets {
		if d.Kind != abuseguard.ReasonIncomingFlood || d.Address != spoofVictim {
			t.Errorf("unexpected detection %s/%s of %v: %v %s", d.Kind, d.Subkind, d.Address, d.Value, d.Unit)
			continue
		}
		if d.Final {
			if final != nil {
				t.Errorf("two final reports: %s and %s", final.ID, d.ID)
			}
			final = &dets[i]
		}
	}
	if final == nil {
		t.Fatalf("no final incoming flood detection among %d reports", len(dets))
	}
	// 40 M packets in 60 s: 667 000 packets/s over every 10-s window once
	// the first one is full.
	if final.Subkind != abuseguard.SubkindPPS || final.PPS < 600_000 || final.Packets < 36_000_000 ||
		final.FirstSeen.Sub(time.Unix(0, start)) > 5*time.Second || len(final.Peers) == 0 {
		t.Errorf("flood detection: %s, %.0f pps, %d packets, from %v after the start, %d peers; want pps, ~667 000 pps, ~40 M packets, within 5 s",
			final.Subkind, final.PPS, final.Packets, final.FirstSeen.Sub(time.Unix(0, start)), len(final.Peers))
	}
}

// liveHeap returns the heap in use after a collection, above base.
func liveHeap(base runtime.MemStats) uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if m.HeapAlloc < base.HeapAlloc {
		return 0
	}
	return m.HeapAlloc - base.HeapAlloc
}

// gauge returns the series of name with label kind, failing when there is
// none.
func gauge(t *testing.T, reg *prometheus.Registry, name, kind string) float64 {
	t.Helper()
	v, n := testutil.Metric(t, reg, name, "kind", kind)
	if n == 0 {
		t.Fatalf("no series %s{kind=%q}", name, kind)
	}
	return v
}
