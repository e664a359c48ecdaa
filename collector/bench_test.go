package collector

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"abuseguard/flow"
	"abuseguard/input/udp"
	"abuseguard/testutil"
)

// threadCPU is the CPU time (user + system) of the calling thread: on the
// shared 2-core machine wall time is 1-4 times larger and says more about
// the other engineers' builds than about this code.
func threadCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchSets are real datagrams per protocol, as in the decoders'
// benchmarks: setup (templates) handled once, data b.N times.
func benchSets(b testing.TB) map[string][2][][]byte {
	dir := testutil.SharedDir(b, "flows")
	read := func(names ...string) [][]byte {
		var out [][]byte
		for _, n := range names {
			d, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, d)
		}
		return out
	}
	return map[string][2][][]byte{
		"netflow_v5": {nil, read("logstash/netflow5_test_microtik.dat", "logstash/netflow5_test_juniper_mx80.dat")},
		"netflow_v9": {read("logstash/netflow9_test_cisco_asr9k_tpl260.dat"), read("logstash/netflow9_test_cisco_asr9k_data260.dat", "logstash/netflow9_test_cisco_1941K9.dat")},
		"ipfix": {read("logstash/ipfix_test_mikrotik_tpl.dat", "logstash/ipfix_test_openbsd_pflow_tpl.dat"),
			read("logstash/ipfix_test_mikrotik_data258.dat", "logstash/ipfix_test_mikrotik_data259.dat", "logstash/ipfix_test_openbsd_pflow_data.dat")},
		"sflow_v5": {nil, read("telegraf/sflow_issue_15918/message.bin")},
	}
}

// BenchmarkHandle measures a worker's whole path for one recvmmsg batch
// of 32 datagrams: exporter lookup, decoding by header, sampling
// accounting, per-exporter counters and the sink call.
//
//	go test -run '^$' -bench BenchmarkHandle -benchmem ./collector/
func BenchmarkHandle(b *testing.B) {
	exporter := netip.MustParseAddrPort("127.0.0.1:5000")
	for _, name := range []string{"netflow_v5", "netflow_v9", "ipfix", "sflow_v5"} {
		set := benchSets(b)[name]
		b.Run(name, func(b *testing.B) {
			records := 0
			cfg := DefaultConfiguration()
			cfg.Listeners = nil
			cfg.Exporters = []ExporterConfiguration{{Address: exporter.Addr().String()}}
			c, err := New(cfg, Dependencies{
				Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
				Sink: func(recs []flow.Record) { records += len(recs) },
			})
			if err != nil {
				b.Fatal(err)
			}
			h := c.newWorker()
			now := time.Now().UnixNano()
			for _, p := range set[0] {
				h([]udp.Datagram{{Source: exporter, Time: now, Payload: p}})
			}
			var batch []udp.Datagram
			for len(batch) < 32 {
				for _, p := range set[1] {
					batch = append(batch, udp.Datagram{Source: exporter, Time: now, Payload: p})
				}
			}
			batch = batch[:32]
			h(batch)
			perBatch := records
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu := threadCPU()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				h(batch)
			}
			b.StopTimer()
			n := float64(b.N * perBatch)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/record")
			b.ReportMetric(float64(threadCPU()-cpu)/n, "cpu-ns/record")
			b.ReportMetric(n/(float64(threadCPU()-cpu)/1e9), "cpu-records/s")
			b.ReportMetric(float64(perBatch), "records/op")
		})
	}
}
