package collector_test

import (
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"abuseguard/collector"
	"abuseguard/flow"
	"abuseguard/testutil"
)

// BenchmarkLoopback sends real datagrams over loopback to a collector with
// the default listener settings (one socket, one worker, 16 MiB buffer),
// paced at 1 million records per second, and reports the rate received
// and what was lost. The sender is the benchmark goroutine, in the same
// process: on the 2-core machine it competes with the receiver and the
// worker for the cores.
//
//	go test -run '^$' -bench BenchmarkLoopback -benchtime 200000x ./collector/
func BenchmarkLoopback(b *testing.B) {
	const target = 1_000_000 // records per second
	dir := testutil.SharedDir(b, "flows")
	read := func(n string) []byte {
		d, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	cases := []struct {
		name    string
		setup   []byte
		data    []byte
		records int
		queue   int // QueueSize, when not the default
	}{
		{"netflow_v5", nil, read("logstash/netflow5_test_microtik.dat"), 30, 0},
		{"netflow_v9", read("logstash/netflow9_test_cisco_asr9k_tpl260.dat"), read("logstash/netflow9_test_cisco_asr9k_data260.dat"), 21, 0},
		{"ipfix", read("logstash/ipfix_test_mikrotik_tpl.dat"), read("logstash/ipfix_test_mikrotik_data258.dat"), 0, 0},
		{"sflow_v5", nil, read("telegraf/sflow_issue_15918/message.bin"), 6, 0},
		// 167 000 datagrams a second: a deeper queue rides out the
		// moments the worker does not get a core.
		{"sflow_v5_queue_1024", nil, read("telegraf/sflow_issue_15918/message.bin"), 6, 1024},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var received atomic.Int64
			cfg := testConfig(collector.ExporterConfiguration{Address: "127.0.0.1"})
			if tc.queue != 0 {
				cfg.Listeners[0].QueueSize = tc.queue
			}
			reg := prometheus.NewRegistry()
			c, err := collector.New(cfg, collector.Dependencies{Registerer: reg, Sink: func(r []flow.Record) { received.Add(int64(len(r))) },
				Logger: discard})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Start(); err != nil {
				b.Fatal(err)
			}
			defer c.Stop()
			conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(c.Listeners()[0].Addrs()[0]))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			per := tc.records
			if tc.setup != nil {
				conn.Write(tc.setup)
				deadline := time.Now().Add(5 * time.Second)
				for metric(b, reg, "abuseguard_collector_exporter_datagrams_total") < 1 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			}
			// Records per datagram, measured.
			base := received.Load()
			conn.Write(tc.data)
			deadline := time.Now().Add(5 * time.Second)
			for received.Load() == base && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			per = int(received.Load() - base)
			if per == 0 {
				b.Fatal("the data datagram decodes to no records")
			}
			start0 := received.Load()
			interval := time.Duration(float64(time.Second) * float64(per) / target) // between datagrams
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if i%32 == 0 {
					if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
						time.Sleep(wait)
					}
				}
				conn.Write(tc.data)
			}
			sendTime := time.Since(start)
			want := int64(b.N * per)
			// Drain: until everything arrived or nothing moved for 200 ms.
			last, lastMove := received.Load(), time.Now()
			for received.Load()-start0 < want && time.Since(lastMove) < 200*time.Millisecond {
				time.Sleep(time.Millisecond)
				if v := received.Load(); v != last {
					last, lastMove = v, time.Now()
				}
			}
			b.StopTimer()
			got := received.Load() - start0
			b.ReportMetric(float64(want)/sendTime.Seconds(), "sent-records/s")
			b.ReportMetric(float64(got)/sendTime.Seconds(), "received-records/s")
			b.ReportMetric(100*float64(want-got)/float64(want), "loss-%")
			b.ReportMetric(metric(b, reg, "abuseguard_collector_udp_kernel_drops_total"), "kernel-drops")
			b.ReportMetric(metric(b, reg, "abuseguard_collector_udp_queue_drops_total"), "queue-drops")
		})
	}
}
