package collector_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"abuseguard/collector"
	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/input/pcap"
	"abuseguard/input/udp"
	"abuseguard/pcapfile"
	"abuseguard/testutil"
)

var discard = slog.New(slog.DiscardHandler)

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// sequence is a series of flow datagrams that belong together (one
// capture, one test case): sent in order from one source address.
type sequence struct {
	name      string
	datagrams [][]byte
}

// captureSequences returns the flow datagrams of each shared real flow
// capture.
func captureSequences(t testing.TB) []sequence {
	t.Helper()
	dir := testutil.SharedDir(t, "real")
	var out []sequence
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
			s := sequence{name: filepath.Base(p)}
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
					s.datagrams = append(s.datagrams, slices.Clone(pl))
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// flowsSequences returns the datagrams of ../shared/testdata/flows: each
// telegraf case folder in file-name order (as its harness sends them),
// and the logstash files as one sequence, templates first.
func flowsSequences(t testing.TB) []sequence {
	t.Helper()
	dir := testutil.SharedDir(t, "flows")
	var out []sequence
	cases, _ := filepath.Glob(filepath.Join(dir, "telegraf", "*"))
	for _, c := range cases {
		files, _ := filepath.Glob(filepath.Join(c, "*.bin"))
		if len(files) == 0 {
			continue
		}
		sort.Strings(files)
		s := sequence{name: "telegraf/" + filepath.Base(c)}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s.datagrams = append(s.datagrams, b)
		}
		out = append(out, s)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "logstash", "*.dat"))
	// Templates first, then files holding both, then data: the names
	// say tpl (opttpl) or data.
	rank := func(name string) int {
		tpl, data := strings.Contains(filepath.Base(name), "tpl"), strings.Contains(filepath.Base(name), "data")
		switch {
		case tpl && !data:
			return 0
		case tpl:
			return 1
		}
		return 2
	}
	sort.SliceStable(files, func(i, j int) bool { return rank(files[i]) < rank(files[j]) })
	s := sequence{name: "logstash"}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s.datagrams = append(s.datagrams, b)
	}
	return append(out, s)
}

// sink collects deep copies of the records it is given.
type sink struct {
	mu      sync.Mutex
	recs    []flow.Record
	calls   int
	release chan struct{} // when not nil, calls wait on it
}

func (s *sink) put(recs []flow.Record) {
	if s.release != nil {
		<-s.release
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	for _, r := range recs {
		r.Header = slices.Clone(r.Header)
		s.recs = append(s.recs, r)
	}
}

func (s *sink) records() []flow.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recs)
}

// testConfig is one listener on an ephemeral loopback port, accepting
// exporters.
func testConfig(exporters ...collector.ExporterConfiguration) collector.Configuration {
	cfg := collector.DefaultConfiguration()
	l := udp.DefaultConfiguration("netflow")
	l.Listen = []string{"127.0.0.1:0"}
	cfg.Listeners = []udp.Configuration{l}
	cfg.Exporters = exporters
	return cfg
}

func start(t *testing.T, cfg collector.Configuration, s *sink) (*collector.Collector, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := collector.New(cfg, collector.Dependencies{Logger: slog.New(slog.DiscardHandler), Registerer: reg, Sink: s.put})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("Stop() = %v", err)
		}
	})
	return c, reg
}

// sender is a UDP socket bound to a loopback address, sending to the
// collector's first listener.
func sender(t testing.TB, c *collector.Collector, from string) *net.UDPConn {
	t.Helper()
	to := c.Listeners()[0].Addrs()[0]
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
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

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// metric sums a counter's or gauge's series with the given label pairs.
func metric(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	v, _ := testutil.Metric(t, reg, name, labels...)
	return v
}
