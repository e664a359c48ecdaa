package udp_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"abuseguard/input/udp"
)

// processCPU is the CPU time of the whole process, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSenderProcess is not a test: BenchmarkReceive runs the test binary
// with it to send datagrams from another process, so that the
// benchmark's process CPU time is the receiving side's alone.
func TestSenderProcess(t *testing.T) {
	to, n := os.Getenv("AGH9_SEND_TO"), os.Getenv("AGH9_SEND_N")
	if to == "" {
		t.Skip("helper process for BenchmarkReceive")
	}
	count, _ := strconv.Atoi(n)
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(to)))
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 200)
	for range count {
		c.Write(payload)
	}
}

// BenchmarkReceive receives b.N datagrams of 200 bytes sent as fast as
// possible by another process over loopback, with recvmmsg batches of 1
// (what a plain recvfrom loop costs) and of 32, and reports this
// process's CPU time per datagram: receiving, queueing and a handler
// that only counts.
//
//	go test -run '^$' -bench BenchmarkReceive -benchtime 300000x ./input/udp/
func BenchmarkReceive(b *testing.B) {
	for _, batch := range []int{1, 32} {
		b.Run(fmt.Sprintf("batch-%d", batch), func(b *testing.B) {
			var got atomic.Int64
			cfg := testConfig()
			cfg.BatchSize = batch
			cfg.ReceiveBuffer = 256 << 20
			cfg.QueueSize = 4096
			cfg.MaxDatagramSize = 512
			l, reg := start(b, cfg, udp.Dependencies{NewHandler: func() udp.Handler {
				return func(d []udp.Datagram) { got.Add(int64(len(d))) }
			}})
			sender := exec.Command(os.Args[0], "-test.run=^TestSenderProcess$")
			sender.Env = append(os.Environ(), "AGH9_SEND_TO="+l.Addrs()[0].String(), "AGH9_SEND_N="+strconv.Itoa(b.N))
			b.ReportAllocs()
			cpu := processCPU()
			b.ResetTimer()
			if out, err := sender.CombinedOutput(); err != nil {
				b.Fatalf("sender: %v\n%s", err, out)
			}
			waitFor(b, "all datagrams", func() bool {
				lost := counter(b, reg, "abuseguard_collector_udp_kernel_drops_total") + counter(b, reg, "abuseguard_collector_udp_queue_drops_total")
				return got.Load()+int64(lost) >= int64(b.N)
			})
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "receiver-cpu-ns/datagram")
			b.ReportMetric(float64(got.Load())/float64(b.N)*100, "received-%")
		})
	}
}
