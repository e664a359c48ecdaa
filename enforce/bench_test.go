package enforce_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/enforce/nft"
	"abuseguard/testutil/bird"
)

// Benchmarks of the whole chain against BIRD in namespaces (root only).
// They report their own figures with b.ReportMetric; docs/performance.md
// records the numbers and the command.

// hostN returns the n-th address of 10.80.0.0/16, the benchmarks' blocks.
func hostN(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 80, byte(n >> 8), byte(n)})
}

// waitCount polls BIRD's route count every 2 ms until it is n; the poll
// interval bounds the measurement's resolution.
func (tp *topology) waitCount(b testing.TB, table string, n int, limit time.Duration) time.Duration {
	start := time.Now()
	for {
		got, err := tp.bird.RouteCount(table)
		if err != nil {
			b.Fatal(err)
		}
		if got == n {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			b.Fatalf("BIRD has %d routes in %s after %s, want %d", got, table, limit, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitRoute polls BIRD every 2 ms until the host route for addr is there
// (or gone); HasRoute looks up one network, which does not slow BIRD
// (single-threaded) down in the update being measured.
func (tp *topology) waitRoute(b testing.TB, addr netip.Addr, present bool) {
	prefix := netip.PrefixFrom(addr, 32)
	deadline := time.Now().Add(10 * time.Second)
	for {
		has, err := tp.bird.HasRoute(prefix)
		if err != nil {
			b.Fatal(err)
		}
		if has == present {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("route %s present=%v not reached in 10s", prefix, present)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkDecisionToBIRD measures the time from a block decision (the
// store changed and Trigger called, as the lifecycle does) until the route
// is in BIRD's table, one block at a time with 100 or 10 000 others active.
func BenchmarkDecisionToBIRD(b *testing.B) {
	for _, active := range []int{100, 10000} {
		b.Run(fmt.Sprintf("active=%d", active), func(b *testing.B) {
			tp := newTopology(b, "")
			store := newMemBlocks()
			for i := range active {
				store.put(abuseguard.Block{CaseID: fmt.Sprintf("AG-B%d", i), Address: hostN(i), Scope: abuseguard.ScopeInbound, Revision: 1})
			}
			ag := startAbuseguard(b, tp.speakerConfig(), store)
			tp.waitCount(b, bird.Master4, active, 60*time.Second)

			var lat []time.Duration
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				id, addr := fmt.Sprintf("AG-L%d", i), hostN(20000+i%5000)
				start := time.Now()
				store.put(abuseguard.Block{CaseID: id, Address: addr, Scope: abuseguard.ScopeInbound, Revision: 1})
				ag.rec.Trigger()
				tp.waitRoute(b, addr, true)
				lat = append(lat, time.Since(start))
				store.remove(id)
				ag.rec.Trigger()
				tp.waitRoute(b, addr, false)
			}
			b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(slices.Max(lat).Microseconds())/1000, "max-ms")
		})
	}
}

// BenchmarkBIRD10000 announces 10 000 blocks, withdraws them, announces
// them again, and restarts abuseguard with them active: the time until
// BIRD holds all of them (or none) each time.
func BenchmarkBIRD10000(b *testing.B) {
	const n = 10000
	tp := newTopology(b, "")
	store := newMemBlocks()
	// Without graceful restart, so that the restart is a full re-announce
	// (with it, BIRD keeps the routes and nothing is missing meanwhile).
	cfg := tp.speakerConfig()
	cfg.GracefulRestart.Enabled = false
	ag := startAbuseguard(b, cfg, store)
	waitFor(b, 30*time.Second, "session up", func() (bool, string) { return tp.bird.Established(), "" })

	var announce, withdraw, restart, afterUp time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		for i := range n {
			store.put(abuseguard.Block{CaseID: fmt.Sprintf("AG-B%d", i), Address: hostN(i), Scope: abuseguard.ScopeInbound, Revision: 1})
		}
		ag.rec.Trigger()
		tp.waitCount(b, bird.Master4, n, 120*time.Second)
		announce += time.Since(start)

		start = time.Now()
		for i := range n {
			store.remove(fmt.Sprintf("AG-B%d", i))
		}
		ag.rec.Trigger()
		tp.waitCount(b, bird.Master4, 0, 120*time.Second)
		withdraw += time.Since(start)

		for i := range n {
			store.put(abuseguard.Block{CaseID: fmt.Sprintf("AG-B%d", i), Address: hostN(i), Scope: abuseguard.ScopeInbound, Revision: 1})
		}
		ag.rec.Trigger()
		tp.waitCount(b, bird.Master4, n, 120*time.Second)

		// Restart: the old speaker's Cease makes BIRD drop everything;
		// the new one re-announces all from the store.
		ag.stop(b)
		tp.waitCount(b, bird.Master4, 0, 30*time.Second)
		start = time.Now()
		ag = startAbuseguard(b, cfg, store)
		waitFor(b, 30*time.Second, "session up", func() (bool, string) { return tp.bird.Established(), "" })
		up := time.Now()
		tp.waitCount(b, bird.Master4, n, 120*time.Second)
		restart += time.Since(start)
		afterUp += time.Since(up)

		for i := range n {
			store.remove(fmt.Sprintf("AG-B%d", i))
		}
		ag.rec.Trigger()
		tp.waitCount(b, bird.Master4, 0, 120*time.Second)
	}
	b.StopTimer()
	runs := float64(b.N)
	b.ReportMetric(announce.Seconds()/runs, "announce-s")
	b.ReportMetric(withdraw.Seconds()/runs, "withdraw-s")
	b.ReportMetric(restart.Seconds()/runs, "restart-s")
	b.ReportMetric(afterUp.Seconds()/runs, "after-session-up-s")
}

// BenchmarkNFTables10000 applies 10 000 blocks to nftables from scratch
// (the start resync), then a pass that changes one block.
func BenchmarkNFTables10000(b *testing.B) {
	needRoot(b, "nft")
	ns := newNS(b, "nbench")
	desired := make([]abuseguard.Block, 10000)
	for i := range desired {
		desired[i] = abuseguard.Block{CaseID: fmt.Sprintf("AG-B%d", i), Address: hostN(i), Scope: abuseguard.ScopeBoth, AccessIP: netip.MustParseAddr("10.99.0.1"), Revision: 1}
	}
	var full, incr time.Duration
	b.ReportAllocs()
	for b.Loop() {
		cfg := nft.DefaultConfiguration()
		cfg.Enabled, cfg.NetNS = true, "/run/netns/"+ns.Name
		e, err := nft.New(cfg, nft.Dependencies{Logger: testLogger(b)})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Start(); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := e.Apply(b.Context(), desired); err != nil {
			b.Fatal(err)
		}
		full += time.Since(start)
		desired[0].Scope, desired[0].AccessIP = abuseguard.ScopeInbound, netip.Addr{}
		start = time.Now()
		if res, err := e.Apply(b.Context(), desired); err != nil || res.Added != 1 || res.Removed != 2 {
			b.Fatalf("incremental Apply() = %+v, %v", res, err)
		}
		incr += time.Since(start)
		desired[0].Scope, desired[0].AccessIP = abuseguard.ScopeBoth, netip.MustParseAddr("10.99.0.1")
		e.Stop()
	}
	b.ReportMetric(full.Seconds()*1000/float64(b.N), "full-ms")
	b.ReportMetric(incr.Seconds()*1000/float64(b.N), "one-change-ms")
}
