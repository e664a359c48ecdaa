package udp_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"abuseguard/input/udp"
)

// recorder collects copies of what the workers are handed.
type recorder struct {
	mu      sync.Mutex
	dgrams  []udp.Datagram
	release chan struct{} // when not nil, handlers wait on it
}

func (r *recorder) newHandler() udp.Handler {
	return func(dgrams []udp.Datagram) {
		if r.release != nil {
			<-r.release
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, d := range dgrams {
			d.Payload = slices.Clone(d.Payload)
			r.dgrams = append(r.dgrams, d)
		}
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.dgrams)
}

// TestLoopbackRealDatagrams: every flow datagram of the real captures,
// sent to the listener over loopback, reaches a worker intact, in order
// (one socket, one worker), with the sender's address.
func TestLoopbackRealDatagrams(t *testing.T) {
	payloads := realPayloads(t)
	rec := &recorder{}
	l, reg := start(t, testConfig(), udp.Dependencies{NewHandler: rec.newHandler})
	c := dial(t, l.Addrs()[0])
	for i, p := range payloads {
		if _, err := c.Write(p); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		// Pace by what was received so that the default buffer is no
		// factor here (the burst tests are below).
		waitFor(t, "datagram", func() bool { return rec.count() == i+1 })
	}
	src := c.LocalAddr().(*net.UDPAddr).AddrPort()
	for i, d := range rec.dgrams {
		if !bytes.Equal(d.Payload, payloads[i]) {
			t.Fatalf("datagram %d differs from what was sent", i)
		}
		if d.Source != src || d.Time == 0 {
			t.Fatalf("datagram %d: source %v time %d, want %v and a time", i, d.Source, d.Time, src)
		}
	}
	if got := counter(t, reg, "abuseguard_collector_udp_datagrams_total"); got != float64(len(payloads)) {
		t.Fatalf("datagrams_total = %v, want %d", got, len(payloads))
	}
}

// TestAdmit: datagrams Admit refuses never reach a worker.
func TestAdmit(t *testing.T) {
	rec := &recorder{}
	var mu sync.Mutex
	var refused []netip.Addr
	admit := func(a netip.Addr) bool {
		if a == netip.MustParseAddr("127.0.0.2") {
			mu.Lock()
			refused = append(refused, a)
			mu.Unlock()
			return false
		}
		return true
	}
	cfg := testConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	l, _ := start(t, cfg, udp.Dependencies{NewHandler: rec.newHandler, Admit: admit})
	good := dial(t, l.Addrs()[0])
	bad, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")}, net.UDPAddrFromAddrPort(l.Addrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.Write([]byte("refused"))
	good.Write([]byte("admitted"))
	waitFor(t, "admitted datagram", func() bool { return rec.count() == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(refused) != 1 || string(rec.dgrams[0].Payload) != "admitted" {
		t.Fatalf("refused %v, delivered %q; want 127.0.0.2 refused and only \"admitted\" delivered", refused, rec.dgrams[0].Payload)
	}
}

// TestBlockedHandlerDoesNotBlockReceiver: with the only worker stuck, the
// receiver goes on reading: what does not fit the queue is dropped and
// counted, handed to Dropped, and the rest is delivered once the worker
// is free again.
func TestBlockedHandlerDoesNotBlockReceiver(t *testing.T) {
	rec := &recorder{release: make(chan struct{})}
	var mu sync.Mutex
	dropped := 0
	cfg := testConfig()
	cfg.QueueSize = 4
	cfg.BatchSize = 1
	l, reg := start(t, cfg, udp.Dependencies{
		NewHandler: rec.newHandler,
		Dropped: func(d []udp.Datagram) {
			mu.Lock()
			dropped += len(d)
			mu.Unlock()
		},
	})
	c := dial(t, l.Addrs()[0])
	const n = 100
	for i := range n {
		c.Write(binary.BigEndian.AppendUint32(nil, uint32(i)))
	}
	// All n are read although no handler has returned.
	waitFor(t, "receiver to read every datagram", func() bool {
		return counter(t, reg, "abuseguard_collector_udp_datagrams_total") == n
	})
	drops := counter(t, reg, "abuseguard_collector_udp_queue_drops_total")
	close(rec.release)
	// QueueSize batches circulate between the queue and the worker; the
	// receiver's own is the one it drops.
	waitFor(t, "queued batches", func() bool { return rec.count() == n-int(drops) })
	mu.Lock()
	defer mu.Unlock()
	if drops != float64(n-cfg.QueueSize) || dropped != int(drops) {
		t.Fatalf("queue_drops_total = %v, Dropped saw %d; want %d", drops, dropped, n-cfg.QueueSize)
	}
	if got := counter(t, reg, "abuseguard_collector_udp_queue_batches"); got != float64(cfg.QueueSize) {
		t.Fatalf("queue_batches = %v after a full queue, want %d", got, cfg.QueueSize)
	}
}

// TestQueueBuffersOnDemand: a deep queue costs no memory until a backlog
// needs it. With the worker keeping up, datagrams sent one at a time
// circulate in at most three batches (the receiver's, and one or two made
// for the pool: the worker may not have returned the last when the next
// datagram comes), whatever QueueSize says.
func TestQueueBuffersOnDemand(t *testing.T) {
	rec := &recorder{}
	cfg := testConfig()
	cfg.QueueSize = 1024
	l, reg := start(t, cfg, udp.Dependencies{NewHandler: rec.newHandler})
	c := dial(t, l.Addrs()[0])
	const n = 200
	for i := range n {
		c.Write(binary.BigEndian.AppendUint32(nil, uint32(i)))
		waitFor(t, "datagram", func() bool { return rec.count() == i+1 })
	}
	if got := counter(t, reg, "abuseguard_collector_udp_queue_batches"); got < 1 || got > 2 {
		t.Fatalf("queue_batches = %v after %d datagrams a worker kept up with, want 1 or 2", got, n)
	}
}

// TestTruncated: a datagram longer than MaxDatagramSize is dropped and
// counted, not delivered cut.
func TestTruncated(t *testing.T) {
	rec := &recorder{}
	cfg := testConfig()
	cfg.MaxDatagramSize = 1024
	l, reg := start(t, cfg, udp.Dependencies{NewHandler: rec.newHandler})
	c := dial(t, l.Addrs()[0])
	c.Write(make([]byte, 2000))
	c.Write([]byte("fits"))
	waitFor(t, "small datagram", func() bool { return rec.count() == 1 })
	if got := counter(t, reg, "abuseguard_collector_udp_truncated_total"); got != 1 || string(rec.dgrams[0].Payload) != "fits" {
		t.Fatalf("truncated_total = %v, delivered %q; want 1 and \"fits\"", got, rec.dgrams[0].Payload)
	}
}

// TestReusePort: several sockets share one port, and datagrams from many
// source ports reach the workers, whichever socket the kernel picked.
func TestReusePort(t *testing.T) {
	rec := &recorder{}
	cfg := testConfig()
	l, _ := start(t, cfg, udp.Dependencies{NewHandler: rec.newHandler})
	port := l.Addrs()[0].Port()
	l.Stop()

	cfg.Listen = []string{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String()}
	cfg.Sockets = 3
	cfg.Workers = 2
	l2, _ := start(t, cfg, udp.Dependencies{NewHandler: rec.newHandler})
	if len(l2.Addrs()) != 3 {
		t.Fatalf("Addrs() = %v, want 3 sockets", l2.Addrs())
	}
	before := rec.count()
	for i := range 30 {
		c := dial(t, l2.Addrs()[0])
		c.Write([]byte{byte(i)})
	}
	waitFor(t, "30 datagrams", func() bool { return rec.count() == before+30 })
}

func TestConfigurationValidate(t *testing.T) {
	for _, p := range []string{"sflow", "netflow", "ipfix"} {
		if err := udp.DefaultConfiguration(p).Validate(); err != nil {
			t.Fatalf("DefaultConfiguration(%q).Validate() = %v", p, err)
		}
	}
	bad := udp.Configuration{Protocol: "pcap", Listen: []string{"nowhere:port"}}
	err := bad.Validate()
	for _, w := range []string{"protocol", "listen", "sockets", "workers", "queue_size", "batch_size", "max_datagram_size"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Fatalf("Validate() = %v, want a complaint about %s", err, w)
		}
	}
}

func TestCheckAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{":6343", true}, {"0.0.0.0:2055", true}, {"[::1]:4739", true}, {"127.0.0.1:0", true},
		{"collector.example.net:2055", false}, {"127.0.0.1", false}, {":http", false}, {":65536", false},
	} {
		cfg := udp.DefaultConfiguration("sflow")
		cfg.Listen = []string{tc.addr}
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate() with listen %q = %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
}
