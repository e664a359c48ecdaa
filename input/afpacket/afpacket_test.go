package afpacket_test

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
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
	"abuseguard/testutil/pktgen"
)

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// netns is a network namespace with a veth pair, veth0 and veth1, both up,
// with IPv6 off so that the kernel sends nothing of its own on them.
type netns struct {
	name string
}

func newNetns(t testing.TB) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	n := &netns{name: fmt.Sprintf("agh9-afp-%d", os.Getpid())}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	exec.Command("ip", "netns", "del", n.name).Run() // a leftover of a killed run
	run("ip", "netns", "add", n.name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.name).Run() })
	run("ip", "netns", "exec", n.name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	run("ip", "-n", n.name, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
	run("ip", "-n", n.name, "link", "set", "veth0", "up")
	run("ip", "-n", n.name, "link", "set", "veth1", "up")
	return n
}

// do runs f on a thread that has entered the namespace. The thread is
// never handed back to the runtime (LockOSThread without unlock): it ends
// with the goroutine, so no other goroutine runs in the namespace by
// accident. Sockets f opens stay in the namespace wherever they are used.
func (n *netns) do(t testing.TB, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/var/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// sender is a raw socket on veth0.
type sender struct {
	fd    int
	index int
}

func (n *netns) sender(t testing.TB) *sender {
	s := &sender{}
	n.do(t, func() error {
		ifi, err := net.InterfaceByName("veth0")
		if err != nil {
			return err
		}
		s.index = ifi.Index
		s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
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

func startInput(t *testing.T, n *netns, cfg afpacket.Configuration) (*collector, *prometheus.Registry) {
	t.Helper()
	col := &collector{}
	return col, startInputSink(t, n, cfg, col.sink)
}

func startInputSink(t testing.TB, n *netns, cfg afpacket.Configuration, sink flow.Sink) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	in, err := afpacket.New(cfg, afpacket.Dependencies{Logger: slog.New(slog.DiscardHandler), Registerer: reg, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	n.do(t, in.Start)
	t.Cleanup(func() {
		if err := in.Stop(); err != nil {
			t.Errorf("Stop() = %v", err)
		}
	})
	return reg
}

// TestCapture sends known frames on veth0 and checks the records read
// from veth1: every field packet.Decode fills, the header kept, the
// sampling rate 1, a receive time, and ARP counted, not recorded.
func TestCapture(t *testing.T) {
	n := newNetns(t)
	cfg := afpacket.DefaultConfiguration("veth1")
	cfg.HeaderBytes = 64
	col, reg := startInput(t, n, cfg)
	s := n.sender(t)

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
			n := newNetns(t)
			cfg := afpacket.DefaultConfiguration("veth1")
			cfg.SamplingRate = 10
			cfg.Sampling = mode
			col, reg := startInput(t, n, cfg)
			s := n.sender(t)
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

func value(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
