package afpacket_test

import (
	"net/netip"
	"testing"
	"time"

	"abuseguard/flow"
	"abuseguard/input/afpacket"
	"abuseguard/testutil/pktgen"
)

// BenchmarkCapture sends b.N frames over a veth pair (a raw socket on one
// end, one sendto per frame) and captures them on the other with the
// default ring,
// every packet kept and decoded. It reports the rate captured and the
// kernel's drops; on the 2-core machine sender and reader share the cores,
// so the figure is bound by the sender.
//
//	go test -run '^$' -bench BenchmarkCapture -benchtime 500000x ./input/afpacket/
func BenchmarkCapture(b *testing.B) {
	for _, size := range []int{64, 512, 1400} {
		b.Run(frameName(size), func(b *testing.B) {
			w := newWire(b)
			cfg := afpacket.DefaultConfiguration("any")
			records := 0
			reg := startInputSink(b, w, cfg, func(recs []flow.Record) { records += len(recs) })
			s := w.sender(b)
			frame := pktgen.UDP(netip.MustParseAddrPort("203.0.113.7:40000"), netip.MustParseAddrPort("198.51.100.9:53"), size-14-20-8)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				s.send(b, frame)
			}
			sent := time.Since(start)
			deadline := time.Now().Add(5 * time.Second)
			for value(b, reg, "abuseguard_collector_afpacket_packets_total")+value(b, reg, "abuseguard_collector_afpacket_kernel_drops_total") < float64(b.N) &&
				time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/sent.Seconds(), "sent-pps")
			b.ReportMetric(value(b, reg, "abuseguard_collector_afpacket_records_total")/time.Since(start).Seconds(), "captured-pps")
			b.ReportMetric(value(b, reg, "abuseguard_collector_afpacket_kernel_drops_total"), "kernel-drops")
		})
	}
}

func frameName(size int) string {
	switch size {
	case 64:
		return "64B"
	case 512:
		return "512B"
	}
	return "1400B"
}
