package collector_test

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"abuseguard/collector"
	"abuseguard/decoder/netflow"
	"abuseguard/decoder/sflow"
	"abuseguard/flow"
	"abuseguard/input/udp"
)

// recvTime stands in for the receive time in the direct decode; records
// stamped with the receive time (sFlow samples, IPFIX with export time 0)
// are compared after setting theirs to it.
var recvTime = time.Date(2024, 10, 23, 4, 47, 21, 0, time.UTC)

// directDecode decodes a sequence with fresh decoders, as if exporter
// sent it: what the collector must reproduce.
func directDecode(exporter netip.Addr, dgrams [][]byte) []flow.Record {
	nf, sf := netflow.New(netflow.Config{}), sflow.New(sflow.Config{})
	var out []flow.Record
	for _, d := range dgrams {
		if len(d) >= 4 && d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == 5 {
			out, _ = sf.Decode(exporter, d, recvTime, out)
		} else {
			out, _ = nf.Decode(exporter, d, recvTime, out)
		}
	}
	return out
}

// TestLoopbackEqualsDirectDecode sends every flow datagram of the shared
// real captures and of ../shared/testdata/flows over loopback, each
// sequence from its own 127.0.0.x address admitted by a prefix, and
// requires exactly the records that decoding them directly gives.
func TestLoopbackEqualsDirectDecode(t *testing.T) {
	seqs := append(captureSequences(t), flowsSequences(t)...)
	s := &sink{}
	cfg := testConfig(collector.ExporterConfiguration{Address: "127.0.0.0/8"})
	// Fidelity of the transport: some third-party datagrams carry times far
	// in the future, which the collector would otherwise move back to their
	// arrival (TestClockSkew).
	cfg.MaxClockSkew = -1
	c, reg := start(t, cfg, s)
	sent := 0
	for i, seq := range seqs {
		t.Run(seq.name, func(t *testing.T) {
			from := fmt.Sprintf("127.0.0.%d", 10+i)
			conn := sender(t, c, from)
			before := time.Now().UnixNano()
			n := len(s.records())
			for _, d := range seq.datagrams {
				if _, err := conn.Write(d); err != nil {
					t.Fatal(err)
				}
				sent++
				// One at a time, so that the default buffer is no factor
				// and the order is the sending order.
				waitFor(t, "datagram decoded", func() bool {
					return metric(t, reg, "abuseguard_collector_exporter_datagrams_total", "exporter", from) ==
						float64(sent-sentBefore(seqs, i))
				})
			}
			after := time.Now().UnixNano()
			got := s.records()[n:]
			for j := range got {
				if got[j].Start >= before && got[j].Start <= after {
					got[j].Start = recvTime.UnixNano()
				}
				if got[j].End >= before && got[j].End <= after {
					got[j].End = recvTime.UnixNano()
				}
			}
			want := directDecode(netip.MustParseAddr(from), seq.datagrams)
			if diff := cmp.Diff(got, want, cmpAddr, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("records over loopback (-got, +want):\n%s", diff)
			}
			if r := metric(t, reg, "abuseguard_collector_exporter_records_total", "exporter", from); r != float64(len(want)) {
				t.Fatalf("exporter_records_total = %v, want %d", r, len(want))
			}
		})
	}
	t.Logf("%d datagrams, %d records", sent, len(s.records()))
	if len(s.records()) < 500 {
		t.Fatalf("%d records in all: the sequences decode to far fewer than they hold", len(s.records()))
	}
}

// sentBefore is how many datagrams the sequences before i hold.
func sentBefore(seqs []sequence, i int) int {
	n := 0
	for _, s := range seqs[:i] {
		n += len(s.datagrams)
	}
	return n
}

// v5 builds a NetFlow v5 datagram of n records with the given sampling
// interval (0: none).
func v5(n int, interval uint16) []byte {
	b := make([]byte, 24+48*n)
	b[1], b[3] = 5, byte(n)
	b[22], b[23] = byte(interval>>8), byte(interval)
	for i := range n {
		r := b[24+48*i:]
		copy(r[0:4], []byte{203, 0, 113, byte(i + 1)})
		copy(r[4:8], []byte{198, 51, 100, 9})
		r[19] = 1 // packets
		r[23] = 60
		r[38] = flow.ProtoTCP
	}
	return b
}

// TestExporterControl: only configured exporters are decoded; others are
// dropped, counted without their address, and listed for the operator.
func TestExporterControl(t *testing.T) {
	s := &sink{}
	c, reg := start(t, testConfig(collector.ExporterConfiguration{Address: "127.0.0.1"}), s)
	known, unknown := sender(t, c, "127.0.0.1"), sender(t, c, "127.0.0.2")
	unknown.Write(v5(3, 0))
	unknown.Write(v5(3, 0))
	known.Write(v5(2, 0))
	waitFor(t, "known exporter's records", func() bool { return len(s.records()) == 2 })
	waitFor(t, "refusals", func() bool {
		return metric(t, reg, "abuseguard_collector_refused_datagrams_total", "reason", "unknown_exporter") == 2
	})
	for _, r := range s.records() {
		if r.Exporter != netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("record from %v, want only 127.0.0.1", r.Exporter)
		}
	}
	u := c.UnknownExporters()
	if len(u) != 1 || u[0].Address != netip.MustParseAddr("127.0.0.2") || u[0].Datagrams != 2 {
		t.Fatalf("UnknownExporters() = %+v, want 127.0.0.2 with 2 datagrams", u)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "127.0.0.2") {
					t.Fatalf("metric %s has the unknown exporter as label %s", mf.GetName(), l.GetName())
				}
			}
		}
	}
}

// TestExporterLimit: a prefix admits new addresses only up to
// max_exporters.
func TestExporterLimit(t *testing.T) {
	s := &sink{}
	cfg := testConfig(collector.ExporterConfiguration{Address: "127.0.0.0/24"})
	cfg.MaxExporters = 1
	c, reg := start(t, cfg, s)
	sender(t, c, "127.0.0.1").Write(v5(1, 0))
	waitFor(t, "first exporter", func() bool { return len(s.records()) == 1 })
	sender(t, c, "127.0.0.3").Write(v5(1, 0))
	waitFor(t, "refusal", func() bool {
		return metric(t, reg, "abuseguard_collector_refused_datagrams_total", "reason", "exporter_limit") == 1
	})
}

// TestSamplingOverride: a configured rate fills in where the export has
// none, and replaces the exporter's when forced; records without any rate
// are counted.
func TestSamplingOverride(t *testing.T) {
	s := &sink{}
	c, reg := start(t, testConfig(
		collector.ExporterConfiguration{Address: "127.0.0.1", SamplingRate: 100},
		collector.ExporterConfiguration{Address: "127.0.0.2", SamplingRate: 64, ForceSamplingRate: true},
		collector.ExporterConfiguration{Address: "127.0.0.3"},
	), s)
	sender(t, c, "127.0.0.1").Write(v5(1, 0))    // no rate: 100
	sender(t, c, "127.0.0.1").Write(v5(1, 1000)) // its own: 1000
	sender(t, c, "127.0.0.2").Write(v5(1, 1000)) // forced: 64
	sender(t, c, "127.0.0.3").Write(v5(2, 0))    // unknown: 0, counted
	waitFor(t, "records", func() bool { return len(s.records()) == 5 })
	got := map[string][]uint32{}
	for _, r := range s.records() {
		got[r.Exporter.String()] = append(got[r.Exporter.String()], r.SamplingRate)
	}
	want := map[string][]uint32{"127.0.0.1": {100, 1000}, "127.0.0.2": {64}, "127.0.0.3": {0, 0}}
	if diff := cmp.Diff(got, want, cmpopts.SortSlices(func(a, b uint32) bool { return a < b })); diff != "" {
		t.Fatalf("sampling rates by exporter (-got, +want):\n%s", diff)
	}
	if n := metric(t, reg, "abuseguard_collector_exporter_no_sampling_rate_records_total", "exporter", "127.0.0.3"); n != 2 {
		t.Fatalf("no_sampling_rate_records_total = %v, want 2", n)
	}
	if r := metric(t, reg, "abuseguard_collector_exporter_sampling_rate", "exporter", "127.0.0.2"); r != 64 {
		t.Fatalf("exporter_sampling_rate = %v, want 64", r)
	}
}

// TestClockSkew: a record that ends after its datagram arrived comes from an
// exporter whose clock is ahead; it is moved back to the arrival (keeping
// its duration) and counted, so it cannot drag the detectors' clock ahead.
func TestClockSkew(t *testing.T) {
	s := &sink{}
	c, reg := start(t, testConfig(collector.ExporterConfiguration{Address: "127.0.0.1"}), s)
	at := func(unix time.Time) []byte {
		b := v5(1, 0)
		binary.BigEndian.PutUint32(b[8:12], uint32(unix.Unix())) // unix_secs; sysUptime and first/last 0
		return b
	}
	before := time.Now()
	conn := sender(t, c, "127.0.0.1")
	conn.Write(at(before.Add(time.Hour))) // an hour ahead
	conn.Write(at(before.Add(-time.Minute)))
	waitFor(t, "records", func() bool { return len(s.records()) == 2 })
	after := time.Now()
	ends := map[bool]int{} // moved: count
	for _, r := range s.records() {
		end := time.Unix(0, r.End)
		switch {
		case end.After(after.Add(time.Second)):
			t.Fatalf("a record ends at %v, after it arrived (%v)", end, after)
		case end.After(before.Add(-time.Second)):
			ends[true]++ // moved to its arrival
		default:
			ends[false]++ // a minute old, untouched
		}
	}
	if ends[true] != 1 || ends[false] != 1 {
		t.Fatalf("records moved/untouched = %d/%d, want 1/1", ends[true], ends[false])
	}
	if n := metric(t, reg, "abuseguard_collector_exporter_future_records_total", "exporter", "127.0.0.1"); n != 1 {
		t.Fatalf("exporter_future_records_total = %v, want 1", n)
	}
}

// TestExporterMetrics: datagrams by format, errors by kind, last seen.
func TestExporterMetrics(t *testing.T) {
	s := &sink{}
	c, reg := start(t, testConfig(collector.ExporterConfiguration{Address: "127.0.0.1"}), s)
	conn := sender(t, c, "127.0.0.1")
	before := float64(time.Now().Unix())
	conn.Write(v5(1, 0))
	conn.Write([]byte{0, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 8, 0, 0, 0, 0}) // v9 data set 256, no template
	conn.Write([]byte("not a flow export"))
	conn.Write([]byte{0, 0, 0, 5, 0, 0, 0, 7}) // sFlow with a bad address type
	ex := []string{"exporter", "127.0.0.1"}
	waitFor(t, "four datagrams", func() bool {
		return metric(t, reg, "abuseguard_collector_exporter_datagrams_total", ex...) == 4
	})
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"abuseguard_collector_exporter_datagrams_total", []string{"format", "netflow_v5"}, 1},
		{"abuseguard_collector_exporter_datagrams_total", []string{"format", "netflow_v9"}, 1},
		{"abuseguard_collector_exporter_datagrams_total", []string{"format", "unknown"}, 1},
		{"abuseguard_collector_exporter_datagrams_total", []string{"format", "sflow_v5"}, 1},
		{"abuseguard_collector_exporter_errors_total", []string{"kind", "netflow_template_not_found"}, 1},
		{"abuseguard_collector_exporter_errors_total", []string{"kind", "unknown_format"}, 1},
		{"abuseguard_collector_exporter_errors_total", []string{"kind", "sflow_address_type"}, 1},
		{"abuseguard_collector_exporter_records_total", nil, 1},
	}
	for _, ck := range checks {
		if got := metric(t, reg, ck.name, append(ex, ck.labels...)...); got != ck.want {
			t.Errorf("%s%v = %v, want %v", ck.name, ck.labels, got, ck.want)
		}
	}
	if ls := metric(t, reg, "abuseguard_collector_exporter_last_seen_seconds", ex...); ls < before || ls > float64(time.Now().Unix()+1) {
		t.Errorf("exporter_last_seen_seconds = %v, want about %v", ls, before)
	}
}

// TestSlowSink: a sink that blocks holds up the workers, never the
// receivers: datagrams beyond the queue are dropped and counted per
// exporter, and the rest is delivered once the sink returns.
func TestSlowSink(t *testing.T) {
	s := &sink{release: make(chan struct{})}
	cfg := testConfig(collector.ExporterConfiguration{Address: "127.0.0.1"})
	cfg.Listeners[0].QueueSize = 2
	cfg.Listeners[0].BatchSize = 1
	c, reg := start(t, cfg, s)
	conn := sender(t, c, "127.0.0.1")
	const n = 50
	for range n {
		conn.Write(v5(1, 0))
	}
	waitFor(t, "receiver to read all", func() bool {
		return metric(t, reg, "abuseguard_collector_udp_datagrams_total") == n
	})
	drops := metric(t, reg, "abuseguard_collector_exporter_queue_drops_total", "exporter", "127.0.0.1")
	if drops != n-2 || metric(t, reg, "abuseguard_collector_udp_queue_drops_total") != drops {
		t.Fatalf("exporter_queue_drops_total = %v, want %d", drops, n-2)
	}
	close(s.release)
	waitFor(t, "queued records", func() bool { return len(s.records()) == 2 })
}

// TestStartUnwinds: when a listener cannot bind, the ones already started
// are stopped and their ports free again.
func TestStartUnwinds(t *testing.T) {
	taken, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.LocalAddr().String()
	free.Close()

	cfg := collector.DefaultConfiguration()
	first, second := udp.DefaultConfiguration("sflow"), udp.DefaultConfiguration("netflow")
	first.Listen = []string{freeAddr}
	second.Listen = []string{taken.LocalAddr().String()}
	cfg.Listeners = []udp.Configuration{first, second}
	c, err := collector.New(cfg, collector.Dependencies{Logger: slog.New(slog.DiscardHandler), Registerer: newRegistry(), Sink: func([]flow.Record) {}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start() = %v, want address already in use", err)
	}
	again, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(freeAddr)))
	if err != nil {
		t.Fatalf("first listener's port still bound after a failed Start: %v", err)
	}
	again.Close()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop() after a failed Start = %v", err)
	}
}

func TestConfigurationValidate(t *testing.T) {
	def := collector.DefaultConfiguration()
	if err := def.Validate(); err != nil {
		t.Fatalf("DefaultConfiguration().Validate() = %v", err)
	}
	bad := collector.DefaultConfiguration()
	bad.Listeners = append(bad.Listeners, udp.DefaultConfiguration("sflow"))
	bad.Exporters = []collector.ExporterConfiguration{{Address: "router1"}, {Address: "10.0.0.0/33"}, {Address: "10.0.0.1", ForceSamplingRate: true}}
	bad.MaxExporters = 0
	err := bad.Validate()
	for _, w := range []string{"listeners[3]: a second sflow listener", "exporters[0]", "exporters[1]", "exporters[2]: force_sampling_rate", "max_exporters"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Fatalf("Validate() = %v, want a complaint about %s", err, w)
		}
	}
}
