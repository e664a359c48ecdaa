package lifecycle

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/store"
)

// BenchmarkIngest measures detection reports absorbed per second through
// the detectors' path (Sink, queue, group commit) into a real SQLite store,
// one variant per path a report takes:
//
//   - new-cases: every report a new address, blocked at once (case,
//     detection, evidence, block, audit entries, event, delivery);
//     new-cases-batch-256 the same in transactions of 256 (the default
//     until November 2026);
//   - new-cases-warned: every report a new address, warned with a deadline
//     (no block);
//   - joins-with-evidence: 50 reports per case, all kept with evidence;
//   - joins-counted: past max_detections, only counted;
//   - first-and-final: what detectors send, each detection twice (the
//     threshold crossing, then the final report replacing its figures and
//     evidence), 25 detections per case.
//
// Evidence is 2 KiB per report, the breaker is off. cpu-µs/report is the
// process's CPU time (getrusage: committer, GC, the sending goroutine) per
// report: on this shared machine it varies less with the load than wall
// time.
func BenchmarkIngest(b *testing.B) {
	for _, bc := range []struct {
		name     string
		perCase  int     // reports per address
		value    float64 // against a threshold of 100: ≥ 300 blocks at once
		keep     int     // MaxDetections
		twice    bool    // a first and a final report per detection
		evidence int     // bytes of evidence per report
		batch    int     // BatchSize; 0: the default
	}{
		{"new-cases", 1, 500, 50, false, 2048, 0},
		{"new-cases-batch-256", 1, 500, 50, false, 2048, 256},
		{"new-cases-warned", 1, 150, 50, false, 2048, 0},
		{"joins-with-evidence", 50, 500, 50, false, 2048, 0},
		{"joins-counted", 1000, 500, 10, false, 2048, 0},
		{"first-and-final", 50, 500, 50, true, 2048, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := store.Open(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)),
				filepath.Join(b.TempDir(), "bench.db"), []string{"mail"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			cfg := testConfig()
			cfg.Breaker.MaxBlocks, cfg.MaxDetections = 0, bc.keep
			if bc.batch != 0 {
				cfg.BatchSize = bc.batch
			}
			l, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, Dependencies{Store: s, Inventory: testInventory()})
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Start(); err != nil {
				b.Fatal(err)
			}
			ev := []abuseguard.Evidence{{Name: "netscan.log", ContentType: "text/plain; charset=utf-8", Data: make([]byte, bc.evidence)}}
			now := time.Now()
			cpu0 := cpuTime()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				det, final := i, true
				if bc.twice {
					det, final = i/2, i%2 == 1
				}
				n := i / bc.perCase
				a := netip.AddrFrom4([4]byte{100, byte(72 + n>>16), byte(n >> 8), byte(n)})
				l.Sink(abuseguard.Detection{ID: fmt.Sprintf("b%d", det), Kind: netscan, Address: a, FirstSeen: now, LastSeen: now,
					Value: bc.value, Threshold: 100, Unit: "destinations", Final: final, Evidence: ev})
			}
			l.Stop()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/report")
		})
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
