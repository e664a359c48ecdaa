package afpacket_test

import (
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"abuseguard/flow"
	"abuseguard/input/afpacket"
	"abuseguard/testutil"
	"abuseguard/testutil/netns"
	"abuseguard/testutil/pktgen"
)

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// wire is two network namespaces joined by a veth pair (the shared
// testutil/netns harness): frames sent into one end arrive at the other,
// where the input captures. IPv6 is off in both so that the kernel sends
// nothing of its own on the wire.
type wire struct {
	send, capture     *netns.NS
	sendIf, captureIf string
}

func newWire(t testing.TB) *wire {
	t.Helper()
	w := &wire{send: netns.New(t, "agh9-afsend"), capture: netns.New(t, "agh9-afcap")}
	for _, ns := range []*netns.NS{w.send, w.capture} {
		ns.Sysctl(t, "net.ipv6.conf.all.disable_ipv6", "1")
		ns.Sysctl(t, "net.ipv6.conf.default.disable_ipv6", "1")
	}
	w.sendIf, w.captureIf = netns.Link(t, w.send, w.capture, nil, nil)
	return w
}

// sender is a raw socket on the sending end of the wire.
type sender struct {
	fd    int
	index int
}

func (w *wire) sender(t testing.TB) *sender {
	t.Helper()
	s := &sender{}
	err := w.send.Do(func() error {
		ifi, err := net.InterfaceByName(w.sendIf)
		if err != nil {
			return err
		}
		s.index = ifi.Index
		s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

func (s *sender) send(t testing.TB, frame []byte) {
	t.Helper()
	to := &unix.SockaddrLinklayer{Ifindex: s.index, Halen: 6}
	copy(to.Addr[:], frame[:6])
	if err := unix.Sendto(s.fd, frame, 0, to); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// collector gathers copies of the records the sink gets.
type collector struct {
	mu   sync.Mutex
	recs []flow.Record
}

func (c *collector) sink(recs []flow.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		r.Header = slices.Clone(r.Header)
		c.recs = append(c.recs, r)
	}
}

func (c *collector) wait(t *testing.T, n int) []flow.Record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.recs)
		c.mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d records, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

// startInput captures the wire's capturing end with cfg (its Interface
// is set here) into a collector.
func startInput(t *testing.T, w *wire, cfg afpacket.Configuration) (*collector, *prometheus.Registry) {
	t.Helper()
	col := &collector{}
	return col, startInputSink(t, w, cfg, col.sink)
}

func startInputSink(t testing.TB, w *wire, cfg afpacket.Configuration, sink flow.Sink) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Interface = w.captureIf
	in, err := afpacket.New(cfg, afpacket.Dependencies{Logger: slog.New(slog.DiscardHandler), Registerer: reg, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	// The ring's socket is created in the namespace of the thread that
	// starts the input.
	if err := w.capture.Do(in.Start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := in.Stop(); err != nil {
			t.Errorf("Stop() = %v", err)
		}
	})
	return reg
}

// TestCapture sends known frames into one end of a veth pair and checks
// the records read from the other: every field packet.Decode fills, the header kept, the
// sampling rate 1, a receive time, and ARP counted, not recorded.
func TestCapture(t *testing.T) {
	w := newWire(t)
	cfg := afpacket.DefaultConfiguration("any")
	cfg.HeaderBytes = 64
	col, reg := startInput(t, w, cfg)
	s := w.sender(t)

	a := netip.MustParseAddrPort("203.0.113.7:40000")
	b := netip.MustParseAddrPort("198.51.100.9:443")
	c := netip.MustParseAddrPort("[2001:db8::7]:5353")
	d := netip.MustParseAddrPort("[2001:db8::9]:53")
	arp := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06}
	arp = append(arp, make([]byte, 46)...)
	frames := [][]byte{
		pktgen.TCP(a, b, flow.TCPSyn, 0),
		arp,
		pktgen.UDP(c, d, 300),
		pktgen.ICMPEcho(b.Addr(), a.Addr(), false),
	}
	before := time.Now().UnixNano()
	for _, f := range frames {
		s.send(t, f)
	}
	got := col.wait(t, 3)
	after := time.Now().UnixNano()
	for i, r := range got {
		if r.Start < before || r.Start > after || r.End != r.Start {
			t.Fatalf("record %d: time %d not between %d and %d", i, r.Start, before, after)
		}
	}
	want := []flow.Record{
		{Src: a.Addr(), Dst: b.Addr(), SrcPort: a.Port(), DstPort: b.Port(), Proto: flow.ProtoTCP, TCPFlags: flow.TCPSyn, Bytes: 40},
		{Src: c.Addr(), Dst: d.Addr(), SrcPort: c.Port(), DstPort: d.Port(), Proto: flow.ProtoUDP, Bytes: 40 + 8 + 300},
		{Src: b.Addr(), Dst: a.Addr(), DstPort: 0x0800, Proto: flow.ProtoICMP, Bytes: 84},
	}
	for i, fi := range []int{0, 2, 3} {
		w := &want[i]
		w.Packets, w.SamplingRate = 1, 1
		w.SrcMAC = pktgen.MAC(w.Src)
		w.Header = frames[fi][:min(64, len(frames[fi]))]
		w.HeaderType = flow.LinkTypeEthernet
		w.OrigLen = uint32(len(frames[fi]))
	}
	if diff := cmp.Diff(got, want, cmpAddr, cmpopts.IgnoreFields(flow.Record{}, "Start", "End")); diff != "" {
		t.Fatalf("records (-got, +want):\n%s", diff)
	}
	if v := value(t, reg, "abuseguard_collector_afpacket_not_ip_total"); v != 1 {
		t.Fatalf("not_ip_total = %v, want 1 (the ARP frame)", v)
	}
}

// TestSampling: deterministic 1-in-10 keeps exactly every tenth packet;
// random 1-in-10 keeps about a tenth. Records carry the rate.
func TestSampling(t *testing.T) {
	for _, mode := range []string{afpacket.SamplingDeterministic, afpacket.SamplingRandom} {
		t.Run(mode, func(t *testing.T) {
			w := newWire(t)
			cfg := afpacket.DefaultConfiguration("any")
			cfg.SamplingRate = 10
			cfg.Sampling = mode
			col, reg := startInput(t, w, cfg)
			s := w.sender(t)
			const sent = 2000
			for i := range sent {
				src := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.7"), uint16(1000+i))
				s.send(t, pktgen.TCP(src, netip.MustParseAddrPort("198.51.100.9:80"), flow.TCPSyn, 0))
			}
			deadline := time.Now().Add(10 * time.Second)
			for value(t, reg, "abuseguard_collector_afpacket_packets_total") < sent {
				if time.Now().After(deadline) {
					t.Fatalf("ring saw %v packets, want %d", value(t, reg, "abuseguard_collector_afpacket_packets_total"), sent)
				}
				time.Sleep(time.Millisecond)
			}
			sampled := int(value(t, reg, "abuseguard_collector_afpacket_sampled_total"))
			got := col.wait(t, sampled)
			if mode == afpacket.SamplingDeterministic {
				if len(got) != sent/10 {
					t.Fatalf("%d records, want %d", len(got), sent/10)
				}
				// The 10th, 20th... packet: source ports 1009, 1019...
				for i, r := range got {
					if r.SrcPort != uint16(1009+10*i) {
						t.Fatalf("record %d from port %d, want %d", i, r.SrcPort, 1009+10*i)
					}
				}
			} else if len(got) < 120 || len(got) > 300 {
				// Binomial(2000, 0.1): mean 200, sd 13; this fails once
				// in 10^12 runs.
				t.Fatalf("%d records of %d packets at 1 in 10", len(got), sent)
			}
			for _, r := range got {
				if r.SamplingRate != 10 {
					t.Fatalf("SamplingRate = %d, want 10", r.SamplingRate)
				}
			}
		})
	}
}

// value sums a counter's series.
func value(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	v, _ := testutil.Metric(t, reg, name)
	return v
}
