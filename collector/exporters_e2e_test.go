package collector_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"abuseguard/collector"
	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/testutil/exporters"
	"abuseguard/testutil/pktgen"
)

// flowKey is a unidirectional 5-tuple; ICMP keeps no ports, since
// exporters put type and code in different places.
type flowKey struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
	proto            uint8
}

type counts struct{ Packets, Bytes uint64 }

func keyOf(r *flow.Record) flowKey {
	k := flowKey{r.Src, r.Dst, r.SrcPort, r.DstPort, r.Proto}
	if r.Proto == flow.ProtoICMP || r.Proto == flow.ProtoICMPv6 {
		k.srcPort, k.dstPort = 0, 0
	}
	return k
}

// e2eCapture writes a capture of complete conversations (every TCP
// session closed with FIN, so flow exporters expire them all at the end
// of the file) and returns it with the packets and bytes per direction.
func e2eCapture(t *testing.T) (string, map[flowKey]counts) {
	return e2eCaptureTrailer(t, 0)
}

// trailerSrc sends the trailer packets e2eCaptureTrailer adds.
var trailerSrc = netip.MustParseAddrPort("198.18.0.1:9")

// e2eCaptureTrailer is e2eCapture with n UDP packets from trailerSrc at
// the end, which are not in the returned counts: pmacctd's sfprobe does
// not send its last, partly filled datagram when it reaches the end of
// a capture file, so the trailer pushes the samples that count out.
func e2eCaptureTrailer(t *testing.T, n int) (string, map[flowKey]counts) {
	var frames []pktgen.Timed
	at := time.Date(2024, 10, 23, 4, 47, 21, 0, time.UTC).UnixNano()
	add := func(f []byte) {
		frames = append(frames, pktgen.Timed{Time: at, Frame: f})
		at += int64(time.Millisecond)
	}
	tcp := func(c, s netip.AddrPort, n int) {
		add(pktgen.TCP(c, s, flow.TCPSyn, 0))
		add(pktgen.TCP(s, c, flow.TCPSyn|flow.TCPAck, 0))
		add(pktgen.TCP(c, s, flow.TCPAck, 0))
		add(pktgen.TCP(c, s, flow.TCPAck|flow.TCPPsh, 100+n))
		add(pktgen.TCP(s, c, flow.TCPAck|flow.TCPPsh, 1000+n))
		add(pktgen.TCP(c, s, flow.TCPAck|flow.TCPFin, 0))
		add(pktgen.TCP(s, c, flow.TCPAck|flow.TCPFin, 0))
		add(pktgen.TCP(c, s, flow.TCPAck, 0))
	}
	for i := range 20 {
		tcp(netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)}), uint16(40000+i)), netip.MustParseAddrPort("198.51.100.9:443"), i)
	}
	for i := range 5 {
		tcp(netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("2001:db8:100::%x", 10+i)), uint16(41000+i)), netip.MustParseAddrPort("[2001:db8:8000::9]:80"), i)
	}
	for i := range 10 {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(100 + i)}), uint16(50000+i))
		s := netip.MustParseAddrPort("198.51.100.53:53")
		add(pktgen.UDP(c, s, 40+i))
		add(pktgen.UDP(s, c, 120+i))
	}
	for i := range 5 {
		a, b := netip.AddrFrom4([4]byte{203, 0, 113, byte(200 + i)}), netip.MustParseAddr("198.51.100.1")
		add(pktgen.ICMPEcho(a, b, false))
		add(pktgen.ICMPEcho(b, a, true))
	}
	want := map[flowKey]counts{}
	for _, f := range frames {
		var r flow.Record
		if err := packet.Decode(flow.LinkTypeEthernet, f.Frame, &r); err != nil {
			t.Fatal(err)
		}
		c := want[keyOf(&r)]
		c.Packets++
		c.Bytes += r.Bytes
		want[keyOf(&r)] = c
	}
	for range n {
		add(pktgen.UDP(trailerSrc, netip.MustParseAddrPort("198.18.0.2:9"), 10))
	}
	return pktgen.Capture(t, flow.LinkTypeEthernet, frames), want
}

// aggregate sums records by direction, scaling by the sampling rate.
func aggregate(recs []flow.Record) map[flowKey]counts {
	out := map[flowKey]counts{}
	for i := range recs {
		r := &recs[i]
		c := out[keyOf(r)]
		c.Packets += r.Packets * r.Rate()
		c.Bytes += r.Bytes * r.Rate()
		out[keyOf(r)] = c
	}
	return out
}

func only4(m map[flowKey]counts) map[flowKey]counts {
	out := map[flowKey]counts{}
	for k, v := range m {
		if k.src.Is4() {
			out[k] = v
		}
	}
	return out
}

// waitAggregate polls until the records add up to want, or fails with
// the difference after 10 s.
func waitAggregate(t *testing.T, s *sink, want map[flowKey]counts) []flow.Record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := s.records()
		got := aggregate(recs)
		delete(got, flowKey{trailerSrc.Addr(), netip.MustParseAddr("198.18.0.2"), 9, 9, flow.ProtoUDP})
		diff := cmp.Diff(got, want, cmpAddr, cmp.AllowUnexported(flowKey{}))
		if diff == "" {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records; per-direction packets and bytes (-got, +want):\n%s", len(recs), diff)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRealExporters: real exporters from Debian read a capture made here
// and export it to the collector over loopback. Every conversation is
// closed and the exporters flush their caches at the end of the file, so
// nothing is lost to timeouts: the records, summed per direction and
// scaled by their sampling rate, must give exactly the packets and bytes
// of the capture. softflowd exports IPv6 only in v9 and IPFIX; pmacctd's
// sfprobe loses its last partial datagram at the end of the file (4 of
// 230 samples here), which a trailer of packets that are not counted
// pushes out.
func TestRealExporters(t *testing.T) {
	capture, want := e2eCapture(t)
	trailed, _ := e2eCaptureTrailer(t, 100)
	cases := []struct {
		name    string
		want    map[flowKey]counts
		export  func(t *testing.T, to netip.AddrPort)
		version string // format the records must arrive in
	}{
		{"softflowd netflow v5", only4(want), func(t *testing.T, to netip.AddrPort) { exporters.Softflowd(t, capture, to, "5") }, "netflow_v5"},
		{"softflowd netflow v9", want, func(t *testing.T, to netip.AddrPort) { exporters.Softflowd(t, capture, to, "9") }, "netflow_v9"},
		{"softflowd ipfix", want, func(t *testing.T, to netip.AddrPort) { exporters.Softflowd(t, capture, to, "10") }, "ipfix"},
		{"pmacctd nfprobe v9", want, func(t *testing.T, to netip.AddrPort) {
			exporters.Pmacctd(t, capture, "plugins: nfprobe[n]\nnfprobe_receiver[n]: "+to.String()+"\nnfprobe_version[n]: 9\n")
		}, "netflow_v9"},
		{"pmacctd nfprobe ipfix", want, func(t *testing.T, to netip.AddrPort) {
			exporters.Pmacctd(t, capture, "plugins: nfprobe[n]\nnfprobe_receiver[n]: "+to.String()+"\nnfprobe_version[n]: 10\n")
		}, "ipfix"},
		{"pmacctd sfprobe", want, func(t *testing.T, to netip.AddrPort) {
			exporters.Pmacctd(t, trailed, "plugins: sfprobe[s]\nsfprobe_receiver[s]: "+to.String()+"\nsfprobe_agentip[s]: 127.0.0.1\nsampling_rate: 1\n")
		}, "sflow_v5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{}
			c, reg := start(t, testConfig(collector.ExporterConfiguration{Address: "127.0.0.1"}), s)
			tc.export(t, c.Listeners()[0].Addrs()[0])
			recs := waitAggregate(t, s, tc.want)
			if n := metric(t, reg, "abuseguard_collector_exporter_datagrams_total", "format", tc.version); n == 0 {
				t.Fatalf("no %s datagrams", tc.version)
			}
			t.Logf("%d records", len(recs))
		})
	}
}

// TestNfreplay: softflowd exports to nfdump's nfcapd, and nfreplay sends
// the stored flows to the collector at a controlled rate (1 ms between
// datagrams) as NetFlow v9; the records add up to the capture.
func TestNfreplay(t *testing.T) {
	capture, want := e2eCapture(t)
	s := &sink{}
	c, reg := start(t, testConfig(collector.ExporterConfiguration{Address: "127.0.0.1"}), s)
	exporters.Nfreplay(t, capture, c.Listeners()[0].Addrs()[0])
	recs := waitAggregate(t, s, want)
	t.Logf("%d records in %v v9 datagrams", len(recs), metric(t, reg, "abuseguard_collector_exporter_datagrams_total", "format", "netflow_v9"))
}
