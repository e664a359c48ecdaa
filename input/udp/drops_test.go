package udp_test

import (
	"sync/atomic"
	"testing"
	"time"

	"abuseguard/input/udp"
)

// TestKernelDrops: a loopback burst of 20 000 datagrams of 1400 bytes
// (28 MB) overflows the kernel's default receive buffer (208 KiB), and
// kernel_drops_total accounts for every datagram lost; with a 64 MiB
// buffer nothing is lost. Loss depends on scheduling, so the small-buffer
// case sends up to five bursts until one loses; the accounting must be
// exact for every burst.
func TestKernelDrops(t *testing.T) {
	const burst, size = 20_000, 1400
	for _, tc := range []struct {
		name     string
		buffer   int
		wantLoss bool
	}{
		{"kernel default buffer", 0, true},
		{"64 MiB buffer", 64 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var data, markers atomic.Int64
			handler := func() udp.Handler {
				return func(dgrams []udp.Datagram) {
					for _, d := range dgrams {
						if d.Payload[0] == 'm' {
							markers.Add(1)
						} else {
							data.Add(1)
						}
					}
				}
			}
			cfg := testConfig()
			cfg.ReceiveBuffer = tc.buffer
			cfg.MaxDatagramSize = 1500
			cfg.QueueSize = 1024 // room for a whole burst: only the kernel may drop
			l, reg := start(t, cfg, udp.Dependencies{NewHandler: handler})
			c := dial(t, l.Addrs()[0])
			payload := make([]byte, size)
			sent := 0
			var markersSent int64
			for attempt := 0; attempt < 5; attempt++ {
				for range burst {
					if _, err := c.Write(payload); err != nil {
						t.Fatal(err)
					}
				}
				sent += burst
				// The drop counter rides on the next datagram received:
				// send markers until one arrives. Markers the full buffer
				// drops are kernel drops too.
				seen := markers.Load()
				for markers.Load() == seen {
					if markersSent == 1000 {
						t.Fatal("no marker received")
					}
					c.Write([]byte("m"))
					markersSent++
					poll(50*time.Millisecond, func() bool { return markers.Load() > seen })
				}
				kernel := counter(t, reg, "abuseguard_collector_udp_kernel_drops_total")
				queue := counter(t, reg, "abuseguard_collector_udp_queue_drops_total")
				lostMarkers := markersSent - markers.Load()
				waitFor(t, "workers to count every datagram not dropped", func() bool {
					return data.Load()+int64(kernel)+int64(queue)-lostMarkers == int64(sent)
				})
				t.Logf("burst %d: %d sent, %d received, %v kernel drops (%d of them markers), %v queue drops, receive buffer %v",
					attempt, sent, data.Load(), kernel, lostMarkers, queue, counter(t, reg, "abuseguard_collector_udp_receive_buffer_bytes"))
				if !tc.wantLoss {
					if kernel != 0 || queue != 0 || data.Load() != int64(sent) {
						t.Fatalf("lost datagrams with a large buffer: %v kernel, %v queue drops", kernel, queue)
					}
					return
				}
				if kernel > 0 {
					return
				}
			}
			t.Fatalf("5 bursts of %d datagrams into the default buffer lost nothing: the test cannot show the counter", burst)
		})
	}
}
