package collector

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"syscall"
	"testing"
	"time"

	gfnetflow "github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/decoders/netflowlegacy"
	gfsflow "github.com/netsampler/goflow2/v2/decoders/sflow"
	"github.com/prometheus/client_golang/prometheus"

	"abuseguard"
	"abuseguard/detect"
	"abuseguard/flow"
	"abuseguard/input/udp"
	"abuseguard/inventory"
)

// processCPU is the CPU time (user + system) of the whole process: unlike
// the thread's, it includes the garbage collector's background workers,
// which goflow2's hundreds of allocations per datagram keep busy.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkPipeline measures, per protocol, in one run and on the same
// recvmmsg batch of 32 real datagrams (benchSets, the decoders' benchmark
// datagrams):
//
//   - goflow2: goflow2 v2.2.6's decoder alone (decoders/netflow,
//     netflowlegacy, sflow; templates decoded beforehand), which yields
//     Go structures, not records: the bar the goal is set against;
//   - decode: the collector worker's path (exporter lookup, decoding by
//     header, sampling accounting, per-exporter counters) into a sink that
//     only counts;
//   - detect: the same worker into the inventory's classification and the
//     detectors (detect.Engine.Process, one shard, synchronously).
//
// Per record it reports wall ns, cpu-ns (the process's CPU time, GC
// included), records/s per core (1e9 / cpu-ns) and allocations; the
// parent logs the ratios of decode and detect to goflow2.
//
// The datagrams' records repeat every batch, so for the detectors they are
// moved on an event clock (pipelineStep a record, keeping each flow's
// duration): a few hundred hosts in steady state after 6 minutes of warm-up,
// windows rolling, no detection open (the benchmark fails if one is). The addresses are the exporters' LANs
// (10/8, 172.16/12, 192.168/16, fe80::/10), declared customer space.
//
//	go test -run '^$' -bench BenchmarkPipeline -benchtime 2000x ./collector/
func BenchmarkPipeline(b *testing.B) {
	exporter := netip.MustParseAddrPort("127.0.0.1:5000")
	for _, name := range []string{"netflow_v5", "netflow_v9", "ipfix", "sflow_v5"} {
		set := benchSets(b)[name]
		var batch []udp.Datagram
		for len(batch) < 32 {
			for _, p := range set[1] {
				batch = append(batch, udp.Datagram{Source: exporter, Payload: p})
			}
		}
		batch = batch[:32]
		var cpu [3]float64 // cpu-ns per record: goflow2, decode, detect
		b.Run(name+"/goflow2", func(b *testing.B) {
			decode := goflowDecoder(b, set[0])
			records := pipelineRecords(b, exporter, set[0], batch)
			b.ReportAllocs()
			b.ResetTimer()
			start := processCPU()
			for range b.N {
				for _, d := range batch {
					decode(d.Payload)
				}
			}
			b.StopTimer()
			cpu[0] = reportPipeline(b, records, start)
		})
		b.Run(name+"/decode", func(b *testing.B) {
			n := 0
			h := pipelineWorker(b, exporter, set[0], func(recs []flow.Record) { n += len(recs) })
			h(batch)
			records := n
			b.ReportAllocs()
			b.ResetTimer()
			start := processCPU()
			for range b.N {
				h(batch)
			}
			b.StopTimer()
			cpu[1] = reportPipeline(b, records, start)
		})
		b.Run(name+"/detect", func(b *testing.B) {
			reports := 0
			e := pipelineEngine(b, &reports)
			clock := &eventClock{now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).UnixNano(), step: pipelineStep}
			n := 0
			h := pipelineWorker(b, exporter, set[0], func(recs []flow.Record) {
				clock.stamp(recs)
				e.Process(recs)
				n += len(recs)
			})
			// Warm-up: more than the longest window (misconfiguration,
			// 5 min) of event time.
			for clock.elapsed() < int64(6*time.Minute) {
				h(batch)
			}
			n = 0
			h(batch)
			records := n
			b.ReportAllocs()
			b.ResetTimer()
			start := processCPU()
			for range b.N {
				h(batch)
			}
			b.StopTimer()
			cpu[2] = reportPipeline(b, records, start)
			if reports > 0 {
				b.Fatalf("%d detection reports: the benchmark is meant to measure traffic under the thresholds", reports)
			}
		})
		if cpu[0] > 0 && cpu[1] > 0 && cpu[2] > 0 {
			b.Logf("%s: records per second per core: goflow2 decode %.2f M, abuseguard decode %.2f M (%.1f×), decode + classify + detect %.2f M (%.1f×)",
				name, 1e3/cpu[0], 1e3/cpu[1], cpu[0]/cpu[1], 1e3/cpu[2], cpu[0]/cpu[2])
		}
	}
}

// reportPipeline reports the per-record figures of b.N batches of records
// and returns the CPU ns per record.
func reportPipeline(b *testing.B, records int, cpuStart int64) float64 {
	n := float64(b.N) * float64(records)
	cpu := float64(processCPU()-cpuStart) / n
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/record")
	b.ReportMetric(cpu, "cpu-ns/record")
	b.ReportMetric(1e9/cpu, "records/s/core")
	b.ReportMetric(float64(records), "records/op")
	return cpu
}

// pipelineRecords returns the records the collector decodes from batch,
// which the goflow2 figures are divided by: both decoders find the same
// records (the decoders' differential tests).
func pipelineRecords(b *testing.B, exporter netip.AddrPort, setup [][]byte, batch []udp.Datagram) int {
	n := 0
	pipelineWorker(b, exporter, setup, func(recs []flow.Record) { n += len(recs) })(batch)
	return n
}

// pipelineWorker returns a collector worker whose sink is sink, with the
// setup datagrams (templates) decoded.
func pipelineWorker(b *testing.B, exporter netip.AddrPort, setup [][]byte, sink flow.Sink) udp.Handler {
	cfg := DefaultConfiguration()
	cfg.Listeners = nil
	cfg.Exporters = []ExporterConfiguration{{Address: exporter.Addr().String()}}
	c, err := New(cfg, Dependencies{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(), Sink: sink})
	if err != nil {
		b.Fatal(err)
	}
	h := c.newWorker()
	for _, p := range setup {
		h([]udp.Datagram{{Source: exporter, Time: time.Now().UnixNano(), Payload: p}})
	}
	return h
}

// pipelineEngine returns a one-shard engine with the default thresholds
// over an inventory whose customer space is the private ranges the
// benchmark exporters' LANs use.
func pipelineEngine(b *testing.B, reports *int) *detect.Engine {
	lans := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fe80::/10")}
	inv, err := inventory.New(inventory.Configuration{ProviderPrefixes: lans, CustomerPrefixes: lans, ReservedPrefixes: []netip.Prefix{}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := detect.DefaultConfiguration()
	cfg.Shards = 1
	e, err := detect.New(cfg, inv, nil, func(abuseguard.Detection) { *reports++ }, detect.Dependencies{})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// pipelineStep is the event time between two records for the detectors.
// The exports' flows carry many packets (the v5 datagrams put 192.168.0.1
// at 500 000 packets/s at 1 ms a record, an incoming flood): at 20 ms a
// record (50 flows a second) every address stays under the thresholds.
var pipelineStep = int64(20 * time.Millisecond)

// eventClock moves records onto an advancing event time, step a record,
// keeping each record's duration.
type eventClock struct {
	now, step, moved int64
}

func (c *eventClock) stamp(recs []flow.Record) {
	for i := range recs {
		r := &recs[i]
		c.now += c.step
		c.moved += c.step
		r.Start, r.End = c.now-max(r.End-r.Start, 0), c.now
	}
}

func (c *eventClock) elapsed() int64 { return c.moved }

// goflowDecoder returns goflow2's decoder for the datagrams of one
// exporter, its templates (setup) decoded. It decodes into fresh
// structures every time, as goflow2's own receiver does.
func goflowDecoder(b *testing.B, setup [][]byte) func([]byte) {
	ts := gfnetflow.CreateTemplateSystem()
	decode := func(p []byte) error {
		switch binary.BigEndian.Uint16(p) {
		case 5:
			var m netflowlegacy.PacketNetFlowV5
			return netflowlegacy.DecodeMessageVersion(bytes.NewBuffer(p), &m)
		case 9, 10:
			var m9 gfnetflow.NFv9Packet
			var m10 gfnetflow.IPFIXPacket
			return gfnetflow.DecodeMessageVersion(bytes.NewBuffer(p), ts, &m9, &m10)
		}
		var s gfsflow.Packet
		return gfsflow.DecodeMessageVersion(bytes.NewBuffer(p), &s)
	}
	for _, p := range setup {
		if err := decode(p); err != nil {
			b.Fatal(err)
		}
	}
	return func(p []byte) {
		if err := decode(p); err != nil {
			b.Fatal(err)
		}
	}
}
