package collector_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/prometheus/client_golang/prometheus"

	"abuseguard/collector"
	"abuseguard/flow"
	"abuseguard/testutil"
	"abuseguard/testutil/exporters"
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
		// 167 000 datagrams a second: the queue of 64 batches the default
		// was until 2026-11-25 lost datagrams when the worker missed its
		// core on a busy machine; 1024 for comparison.
		{"sflow_v5_queue_64", nil, read("telegraf/sflow_issue_15918/message.bin"), 6, 64},
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
			b.ReportMetric(metric(b, reg, "abuseguard_collector_udp_queue_batches"), "queue-batches")
		})
	}
}

// mmsgSender sends one datagram over and over on a connected UDP socket,
// up to len(hdrs) per sendmmsg call: the cheapest way a process can send
// many datagrams (one system call for the batch, no address to copy).
type mmsgSender struct {
	raw  syscall.RawConn
	iov  unix.Iovec
	hdrs []unix.Mmsghdr
	n    int // datagrams to send in the call being made
	sent int
	err  error
}

func newMmsgSender(to netip.AddrPort, payload []byte, batch int) (*mmsgSender, error) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return nil, err
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &mmsgSender{raw: raw, hdrs: make([]unix.Mmsghdr, batch)}
	s.iov.Base = &payload[0]
	s.iov.SetLen(len(payload))
	for i := range s.hdrs {
		s.hdrs[i].Hdr.Iov = &s.iov
		s.hdrs[i].Hdr.Iovlen = 1
	}
	return s, nil
}

// send sends n datagrams (n ≤ the batch), waiting while the socket's send
// buffer is full.
func (s *mmsgSender) send(n int) error {
	for n > 0 {
		s.n = n
		if err := s.raw.Write(s.sendmmsg); err != nil {
			return err
		}
		if s.err != nil {
			return s.err
		}
		n -= s.sent
	}
	return nil
}

func (s *mmsgSender) sendmmsg(fd uintptr) bool {
	r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.n), unix.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0:
		s.sent, s.err = int(r), nil
		return true
	case unix.EAGAIN:
		return false
	case unix.EINTR:
		s.sent, s.err = 0, nil
		return true
	}
	s.sent, s.err = 0, errno
	return true
}

// TestLoopbackSender is not a test: BenchmarkLoopbackSFlow runs the test
// binary with it as the exporter, another process as a router is, so that
// the collector's process has its cores' Go processors to itself. It sends
// AGH11_COUNT copies of the file AGH11_DATAGRAM to AGH11_TO from
// AGH11_SENDERS goroutines, each with its own socket, AGH11_MMSG datagrams
// per sendmmsg call, paced at AGH11_RATE datagrams a second in all.
func TestLoopbackSender(t *testing.T) {
	to := os.Getenv("AGH11_TO")
	if to == "" {
		t.Skip("helper process for BenchmarkLoopbackSFlow")
	}
	env := func(k string) int {
		v, err := strconv.Atoi(os.Getenv(k))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return v
	}
	count, senders, mmsg, rate := env("AGH11_COUNT"), env("AGH11_SENDERS"), env("AGH11_MMSG"), env("AGH11_RATE")
	data, err := os.ReadFile(os.Getenv("AGH11_DATAGRAM"))
	if err != nil {
		t.Fatal(err)
	}
	share := count / senders
	// Between one sender's calls: mmsg datagrams at rate/senders a second.
	interval := time.Duration(float64(time.Second) * float64(mmsg*senders) / float64(rate))
	var wg sync.WaitGroup
	start := time.Now()
	for range senders {
		s, err := newMmsgSender(netip.MustParseAddrPort(to), data, mmsg)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for i := 0; i < share; i += mmsg {
				if wait := time.Until(start.Add(time.Duration(i/mmsg) * interval)); wait > 0 {
					time.Sleep(wait)
				}
				if err := s.send(min(mmsg, share-i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	fmt.Printf("sent %d in %d ns\n", share*senders, time.Since(start).Nanoseconds())
}

// BenchmarkLoopbackSFlow is BenchmarkLoopback's sFlow case (6 records a
// datagram: 167 000 datagrams/s for 1 M records/s) with the exporter in
// another process and the knobs that decide whether 1 M records/s gets
// through on 2 cores: the sender (one datagram per system call, or
// sendmmsg batches of 32; one or two sending goroutines, each with its own
// socket so that SO_REUSEPORT can spread them) and the listener's sockets,
// workers and queue. It reports the rates, the losses, and the CPU time
// per datagram of the sender process and of the collector's (receivers,
// workers, runtime; the sink counts records).
//
//	go test -run '^$' -bench BenchmarkLoopbackSFlow -benchtime 300000x ./collector/
func BenchmarkLoopbackSFlow(b *testing.B) {
	const target = 1_000_000 // records per second
	file := filepath.Join(testutil.SharedDir(b, "flows"), "telegraf/sflow_issue_15918/message.bin")
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name                            string
		senders, mmsg                   int
		sockets, workers, queue, maxLen int
	}{
		{"write/default", 1, 1, 1, 1, 256, 0},
		{"sendmmsg/default", 1, 32, 1, 1, 256, 0},
		{"sendmmsg/queue-64", 1, 32, 1, 1, 64, 0},
		{"sendmmsg/queue-1024", 1, 32, 1, 1, 1024, 1500},
		{"sendmmsg/workers-2", 1, 32, 1, 2, 256, 0},
		{"sendmmsg-2/sockets-2", 2, 32, 2, 2, 256, 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var received atomic.Int64
			cfg := testConfig(collector.ExporterConfiguration{Address: "127.0.0.1"})
			l := &cfg.Listeners[0]
			l.Protocol = "sflow"
			l.Listen = []string{fmt.Sprintf("127.0.0.1:%d", exporters.FreeUDPPort(b))}
			l.Sockets, l.Workers, l.QueueSize = tc.sockets, tc.workers, tc.queue
			if tc.maxLen != 0 {
				l.MaxDatagramSize = tc.maxLen
			}
			reg := prometheus.NewRegistry()
			c, err := collector.New(cfg, collector.Dependencies{Registerer: reg, Logger: discard,
				Sink: func(r []flow.Record) { received.Add(int64(len(r))) }})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Start(); err != nil {
				b.Fatal(err)
			}
			defer c.Stop()
			to := c.Listeners()[0].Addrs()[0]
			const per = 6 // records in data: checked below
			probe, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
			if err != nil {
				b.Fatal(err)
			}
			probe.Write(data)
			probe.Close()
			waitFor(b, "the first datagram", func() bool { return received.Load() > 0 })
			if n := received.Load(); n != per {
				b.Fatalf("the datagram decodes to %d records, want %d", n, per)
			}
			start0 := received.Load()
			n := b.N / tc.senders * tc.senders
			sender := exec.Command(os.Args[0], "-test.run=^TestLoopbackSender$")
			sender.Env = append(os.Environ(), "AGH11_TO="+to.String(), "AGH11_DATAGRAM="+file,
				fmt.Sprintf("AGH11_COUNT=%d", n), fmt.Sprintf("AGH11_SENDERS=%d", tc.senders),
				fmt.Sprintf("AGH11_MMSG=%d", tc.mmsg), fmt.Sprintf("AGH11_RATE=%d", target/per))
			b.ResetTimer()
			cpu := processCPU()
			out, err := sender.CombinedOutput()
			if err != nil {
				b.Fatalf("sender: %v\n%s", err, out)
			}
			var sent, sendNs int64
			if _, err := fmt.Sscanf(string(out), "sent %d in %d ns", &sent, &sendNs); err != nil || sent != int64(n) {
				b.Fatalf("sender said %q", out)
			}
			want := int64(n * per)
			last, lastMove := received.Load(), time.Now()
			for received.Load()-start0 < want && time.Since(lastMove) < 200*time.Millisecond {
				time.Sleep(time.Millisecond)
				if v := received.Load(); v != last {
					last, lastMove = v, time.Now()
				}
			}
			b.StopTimer()
			got := received.Load() - start0
			st := sender.ProcessState
			b.ReportMetric(float64(want)/(float64(sendNs)/1e9), "sent-records/s")
			b.ReportMetric(float64(got)/(float64(sendNs)/1e9), "received-records/s")
			b.ReportMetric(100*float64(want-got)/float64(want), "loss-%")
			b.ReportMetric(metric(b, reg, "abuseguard_collector_udp_kernel_drops_total"), "kernel-drops")
			b.ReportMetric(metric(b, reg, "abuseguard_collector_udp_queue_drops_total"), "queue-drops")
			b.ReportMetric(metric(b, reg, "abuseguard_collector_udp_queue_batches"), "queue-batches")
			b.ReportMetric(float64((st.UserTime()+st.SystemTime()).Nanoseconds())/float64(n), "sender-cpu-ns/datagram")
			b.ReportMetric(float64(processCPU()-cpu)/float64(n), "receiver-cpu-ns/datagram")
		})
	}
}

// processCPU is the CPU time (user + system) of the whole process.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
