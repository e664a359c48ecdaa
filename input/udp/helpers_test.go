package udp_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/input/pcap"
	"abuseguard/input/udp"
	"abuseguard/pcapfile"
	"abuseguard/testutil"
)

// realPayloads returns the flow export payloads of the shared real
// captures, in capture order.
func realPayloads(t testing.TB) [][]byte {
	t.Helper()
	dir := testutil.SharedDir(t, "real")
	var out [][]byte
	for _, pat := range []string{"ipfix_*.pcap", "nfv9_*.pcap", "sflow5_*.pcap"} {
		paths, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rd, err := pcapfile.NewReaderBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			for {
				fr, err := rd.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				var r flow.Record
				pl, ok, err := packet.DecodePayload(fr.LinkType, fr.Data, &r)
				if err == nil && ok && pcap.Recognize(pl) != pcap.NotFlow {
					out = append(out, slices.Clone(pl))
				}
			}
		}
	}
	if len(out) < 200 {
		t.Fatalf("found %d flow datagrams in the real captures, want about 270", len(out))
	}
	return out
}

// testConfig is a listener on an ephemeral loopback port.
func testConfig() udp.Configuration {
	cfg := udp.DefaultConfiguration("netflow")
	cfg.Listen = []string{"127.0.0.1:0"}
	return cfg
}

// start starts a listener and stops it when the test ends.
func start(t testing.TB, cfg udp.Configuration, deps udp.Dependencies) (*udp.Listener, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	deps.Registerer = reg
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := udp.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Stop(); err != nil {
			t.Errorf("Stop() = %v", err)
		}
	})
	return l, reg
}

// waitFor polls cond every millisecond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// dial returns a UDP socket connected to addr.
func dial(t testing.TB, addr netip.AddrPort) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// poll checks cond every millisecond for at most d and reports whether it
// held.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// counter sums a counter's or gauge's series.
func counter(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	v, _ := testutil.Metric(t, reg, name)
	return v
}
