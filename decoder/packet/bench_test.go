package packet_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/pcapfile"
	"abuseguard/testutil"
	"abuseguard/testutil/pktgen"
)

// go test -run '^$' -bench . -benchmem ./decoder/packet/

func BenchmarkDecode(b *testing.B) {
	ext := withExt(tcp6(flow.TCPAck, 100), ext{0, hdr8(0)}, ext{51, ah(4)})
	benchmarks := []struct {
		name  string
		lt    flow.LinkType
		frame []byte
	}{
		{"ethernet-ipv4-tcp", flow.LinkTypeEthernet, eth(tcp4(flow.TCPSyn, 0), 0x0800)},
		{"ethernet-ipv4-udp", flow.LinkTypeEthernet, eth(udp4(100), 0x0800)},
		{"ethernet-ipv4-icmp", flow.LinkTypeEthernet, pktgen.ICMPEcho(src4.Addr(), dst4.Addr(), false)},
		{"ethernet-ipv6-tcp", flow.LinkTypeEthernet, eth(tcp6(flow.TCPSyn, 0), 0x86dd)},
		{"ethernet-ipv6-hopbyhop-ah-tcp", flow.LinkTypeEthernet, eth(ext, 0x86dd)},
		{"vlan-ipv4-tcp", flow.LinkTypeEthernet, eth(tcp4(flow.TCPSyn, 0), 0x8100, 0x0800)},
		{"qinq-ipv6-udp", flow.LinkTypeEthernet, eth(udp6(10), 0x88a8, 0x8100, 0x86dd)},
		{"mpls2-ipv4-tcp", flow.LinkTypeEthernet, eth(mpls(tcp4(flow.TCPAck, 0), 16000, 24001), 0x8847)},
		{"arp-not-ip", flow.LinkTypeEthernet, eth(make([]byte, 28), 0x0806)},
		{"null-ipv4-tcp", flow.LinkTypeNull, null(2, binary.LittleEndian, tcp4(flow.TCPSyn, 0))},
		{"raw-ipv6-udp", flow.LinkTypeRaw, udp6(10)},
		{"sll-ipv4-tcp", flow.LinkTypeLinuxSLL, sll(1, 0x0800, tcp4(flow.TCPSyn, 0))},
		{"sll2-ipv6-tcp", flow.LinkTypeLinuxSLL2, sll2(1, 0x86dd, tcp6(flow.TCPSyn, 0))},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			var r flow.Record
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				_ = packet.Decode(bm.lt, bm.frame, &r)
			}
			cpu.report(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

// BenchmarkReadAndDecode reads a capture file and decodes every frame, one
// packet per op, with this module's reader and decoder and, on the same
// bytes in the same run, with gopacket's pcapgo reader and a
// DecodingLayerParser filling the same flow.Record. The captures are a
// 1M-packet synthetic mix (generated once, 830 MB in a temporary
// directory: a few seconds) and the real denial6-5 flood. "in-memory"
// reads the file loaded in memory through NewReaderBytes (as a replay
// would over an mmapped file); "read-only" leaves out the decoding.
//
//	go test -run '^$' -bench ReadAndDecode -benchmem ./decoder/packet/
func BenchmarkReadAndDecode(b *testing.B) {
	// The synthetic capture is made on first use, so that -bench with a
	// filter on denial6-5 does not pay for it.
	dir := b.TempDir()
	var synthetic string
	makeSynthetic := func(b *testing.B) string {
		if synthetic != "" {
			return synthetic
		}
		path := filepath.Join(dir, "synthetic.pcap")
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pktgen.Synthetic(f, 1_000_000, 1); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		synthetic = path
		return path
	}
	captures := []struct {
		name string
		path func(*testing.B) string
	}{{"synthetic-1M", makeSynthetic}}
	if shared := sharedDirOrEmpty(b); shared != "" {
		denial := filepath.Join(shared, "flood_suricata-verify_denial6-5.pcap")
		captures = append(captures, struct {
			name string
			path func(*testing.B) string
		}{"denial6-5", func(*testing.B) string { return denial }})
	}
	for _, c := range captures {
		b.Run(c.name+"/abuseguard", func(b *testing.B) { benchAbuseguard(b, c.path(b), false) })
		b.Run(c.name+"/gopacket", func(b *testing.B) { benchGopacket(b, c.path(b)) })
		b.Run(c.name+"/abuseguard-in-memory", func(b *testing.B) { benchAbuseguard(b, c.path(b), true) })
		b.Run(c.name+"/read-only/abuseguard", func(b *testing.B) { benchRead(b, c.path(b)) })
		b.Run(c.name+"/read-only/gopacket", func(b *testing.B) { benchReadGopacket(b, c.path(b)) })
	}
}

// sharedDirOrEmpty is testutil.SharedDir without the skip: the synthetic
// half of the benchmark runs without the shared captures.
func sharedDirOrEmpty(tb testing.TB) string {
	base := os.Getenv("ABUSEGUARD_SHARED")
	if base == "" {
		base = filepath.Join(testutil.ModuleRoot(tb), "..", "shared")
	}
	dir := filepath.Join(base, "testdata", "real")
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	return dir
}

// source reopens a capture file from its start each time the benchmark
// runs through it.
type source struct {
	b    *testing.B
	f    *os.File
	data []byte
}

func openSource(b *testing.B, path string, inMemory bool) *source {
	s := &source{b: b}
	var err error
	if inMemory {
		s.data, err = os.ReadFile(path)
	} else {
		s.f, err = os.Open(path)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if s.f != nil {
			s.f.Close()
		}
	})
	return s
}

func (s *source) rewind() io.Reader {
	if s.f == nil {
		return nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		s.b.Fatal(err)
	}
	return s.f
}

func (s *source) reader() *pcapfile.Reader {
	var r *pcapfile.Reader
	var err error
	if s.data != nil {
		r, err = pcapfile.NewReaderBytes(s.data)
	} else {
		r, err = pcapfile.NewReader(s.rewind())
	}
	if err != nil {
		s.b.Fatal(err)
	}
	return r
}

func benchAbuseguard(b *testing.B, path string, inMemory bool) {
	s := openSource(b, path, inMemory)
	r := s.reader()
	var rec flow.Record
	var decoded int
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	var f pcapfile.Frame
	for range b.N {
		err := r.NextFrame(&f)
		if err == io.EOF {
			r = s.reader()
			err = r.NextFrame(&f)
		}
		if err != nil {
			b.Fatal(err)
		}
		if packet.Decode(f.LinkType, f.Data, &rec) == nil {
			decoded++
		}
	}
	cpu.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	if decoded == 0 {
		b.Fatal("nothing decoded")
	}
}

func benchRead(b *testing.B, path string) {
	s := openSource(b, path, false)
	r := s.reader()
	var n int
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	var f pcapfile.Frame
	for range b.N {
		err := r.NextFrame(&f)
		if err == io.EOF {
			r = s.reader()
			err = r.NextFrame(&f)
		}
		if err != nil {
			b.Fatal(err)
		}
		n += len(f.Data)
	}
	cpu.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// gopacketDecoder is gopacket's fastest path: a DecodingLayerParser over
// preallocated layers (Ethernet, 802.1Q, IPv4, IPv6 with extension
// headers and AH, TCP, UDP, ICMPv4, ICMPv6) filling a flow.Record.
type gopacketDecoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	ip4     layers.IPv4
	ip6     layers.IPv6
	ext     layers.IPv6ExtensionSkipper
	ah      layers.IPSecAH
	tcp     layers.TCP
	udp     layers.UDP
	icmp4   layers.ICMPv4
	icmp6   layers.ICMPv6
	parser  *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

func newGopacketDecoder() *gopacketDecoder {
	d := &gopacketDecoder{decoded: make([]gopacket.LayerType, 0, 8)}
	d.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet,
		&d.eth, &d.dot1q, &d.ip4, &d.ip6, &d.ext, &d.ah, &d.tcp, &d.udp, &d.icmp4, &d.icmp6)
	d.parser.IgnoreUnsupported = true
	return d
}

func (d *gopacketDecoder) decode(data []byte, r *flow.Record) bool {
	if err := d.parser.DecodeLayers(data, &d.decoded); err != nil {
		return false
	}
	*r = flow.Record{Packets: 1}
	ip := false
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeEthernet:
			m := d.eth.SrcMAC
			r.SrcMAC = uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
		case layers.LayerTypeIPv4:
			ip = true
			r.Src, _ = netip.AddrFromSlice(d.ip4.SrcIP)
			r.Dst, _ = netip.AddrFromSlice(d.ip4.DstIP)
			r.Proto, r.Bytes = uint8(d.ip4.Protocol), uint64(d.ip4.Length)
		case layers.LayerTypeIPv6:
			ip = true
			r.Src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			r.Dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
			r.Src, r.Dst = r.Src.Unmap(), r.Dst.Unmap()
			r.Proto, r.Bytes = uint8(d.ip6.NextHeader), uint64(d.ip6.Length)+40
		case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Fragment, layers.LayerTypeIPv6Destination:
			r.Proto = uint8(d.ext.NextHeader)
		case layers.LayerTypeIPSecAH:
			r.Proto = uint8(d.ah.NextHeader)
		case layers.LayerTypeTCP:
			r.SrcPort, r.DstPort = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			r.TCPFlags = tcpFlags(&d.tcp)
		case layers.LayerTypeUDP:
			r.SrcPort, r.DstPort = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
		case layers.LayerTypeICMPv4:
			r.DstPort = uint16(d.icmp4.TypeCode)
		case layers.LayerTypeICMPv6:
			r.DstPort = uint16(d.icmp6.TypeCode)
		}
	}
	return ip
}

// gopacketReader rewinds a pcapgo reader over a 256 KiB bufio.Reader:
// pcapgo makes two reads per packet, which unbuffered would be two
// system calls.
func gopacketReader(b *testing.B, s *source) *pcapgo.Reader {
	r, err := pcapgo.NewReader(bufio.NewReaderSize(s.rewind(), 256<<10))
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func benchGopacket(b *testing.B, path string) {
	s := openSource(b, path, false)
	r := gopacketReader(b, s)
	d := newGopacketDecoder()
	var rec flow.Record
	var decoded int
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	for range b.N {
		data, _, err := r.ZeroCopyReadPacketData()
		if err == io.EOF {
			r = gopacketReader(b, s)
			data, _, err = r.ZeroCopyReadPacketData()
		}
		if err != nil {
			b.Fatal(err)
		}
		if d.decode(data, &rec) {
			decoded++
		}
	}
	cpu.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	if decoded == 0 {
		b.Fatal("nothing decoded")
	}
}

func benchReadGopacket(b *testing.B, path string) {
	s := openSource(b, path, false)
	r := gopacketReader(b, s)
	var n int
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	for range b.N {
		data, _, err := r.ZeroCopyReadPacketData()
		if err == io.EOF {
			r = gopacketReader(b, s)
			data, _, err = r.ZeroCopyReadPacketData()
		}
		if err != nil {
			b.Fatal(err)
		}
		n += len(data)
	}
	cpu.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
