package pktgen_test

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/pcapfile"
	"abuseguard/testutil/pktgen"
)

var (
	cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	c4      = netip.MustParseAddrPort("203.0.113.7:3374")
	x4      = netip.MustParseAddrPort("198.51.100.155:4001")
	c6      = netip.MustParseAddrPort("[2001:db8:100::7]:3374")
	x6      = netip.MustParseAddrPort("[2001:db8:8000::9]:53")
)

// checksums verifies every checksum of a frame with gopacket, an
// implementation independent of pktgen's.
func checksums(t *testing.T, lt flow.LinkType, frame []byte) {
	t.Helper()
	// gopacket may fail later on the letter-pattern payload (as DNS on
	// port 53): only the layers up to the transport matter here.
	p := gopacket.NewPacket(frame, layers.LinkType(lt), gopacket.Default)
	var net gopacket.NetworkLayer
	checked := 0
	for _, l := range p.Layers() {
		var err error
		var res gopacket.ChecksumVerificationResult
		switch l := l.(type) {
		case *layers.IPv4:
			net = l
			err, res = l.VerifyChecksum()
		case *layers.IPv6:
			net = l
			continue
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(net)
			err, res = l.VerifyChecksum()
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(net)
			err, res = l.VerifyChecksum()
		case *layers.ICMPv4:
			err, res = l.VerifyChecksum()
		case *layers.ICMPv6:
			l.SetNetworkLayerForChecksum(net)
			err, res = l.VerifyChecksum()
		default:
			continue
		}
		if err != nil || !res.Valid {
			t.Fatalf("%v checksum %#04x, want %#04x (%v) in % x", l.LayerType(), res.Actual, res.Correct, err, frame)
		}
		if l.LayerType() != layers.LayerTypeIPv4 {
			checked++
		}
	}
	if checked != 1 {
		t.Fatalf("%d transport checksums checked in % x, want 1", checked, frame)
	}
}

func TestBuilders(t *testing.T) {
	rec := func(src, dst netip.AddrPort, proto uint8, bytes uint64, mac bool) flow.Record {
		r := flow.Record{Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(), Proto: proto, Bytes: bytes, Packets: 1}
		if mac {
			r.SrcMAC = pktgen.MAC(src.Addr())
		}
		return r
	}
	icmp := func(src, dst netip.AddrPort, proto uint8, bytes uint64, mac bool, typ uint16) flow.Record {
		r := rec(src, dst, proto, bytes, mac)
		r.SrcPort, r.DstPort = 0, typ<<8
		return r
	}
	synAck := func(r flow.Record) flow.Record { r.TCPFlags = flow.TCPSyn | flow.TCPAck; return r }
	tests := []struct {
		name  string
		lt    flow.LinkType
		frame []byte
		len   int
		want  flow.Record
	}{
		{"tcp ipv4", flow.LinkTypeEthernet, pktgen.TCP(c4, x4, flow.TCPSyn|flow.TCPAck, 0), 54, synAck(rec(c4, x4, 6, 40, true))},
		{"tcp ipv6 data", flow.LinkTypeEthernet, pktgen.TCP(c6, x6, flow.TCPSyn|flow.TCPAck, 1440), 1514, synAck(rec(c6, x6, 6, 1500, true))},
		{"udp ipv4 odd length", flow.LinkTypeEthernet, pktgen.UDP(c4, x4, 33), 75, rec(c4, x4, 17, 61, true)},
		{"udp ipv6", flow.LinkTypeEthernet, pktgen.UDP(c6, x6, 100), 162, rec(c6, x6, 17, 148, true)},
		{"echo request ipv4", flow.LinkTypeEthernet, pktgen.ICMPEcho(c4.Addr(), x4.Addr(), false), 98, icmp(c4, x4, 1, 84, true, 8)},
		{"echo reply ipv4", flow.LinkTypeEthernet, pktgen.ICMPEcho(x4.Addr(), c4.Addr(), true), 98, icmp(x4, c4, 1, 84, true, 0)},
		{"echo request ipv6", flow.LinkTypeEthernet, pktgen.ICMPEcho(c6.Addr(), x6.Addr(), false), 118, icmp(c6, x6, 58, 104, true, 128)},
		{"echo reply ipv6", flow.LinkTypeEthernet, pktgen.ICMPEcho(x6.Addr(), c6.Addr(), true), 118, icmp(x6, c6, 58, 104, true, 129)},
		{"raw tcp", flow.LinkTypeRaw, pktgen.TCPRaw(c4, x4, flow.TCPSyn|flow.TCPAck, 7), 47, synAck(rec(c4, x4, 6, 47, false))},
		{"raw udp ipv6", flow.LinkTypeRaw, pktgen.UDPRaw(c6, x6, 0), 48, rec(c6, x6, 17, 48, false)},
		{"raw echo ipv6", flow.LinkTypeRaw, pktgen.ICMPEchoRaw(c6.Addr(), x6.Addr(), false), 104, icmp(c6, x6, 58, 104, false, 128)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.frame) != tt.len {
				t.Fatalf("len(frame) = %d, want %d", len(tt.frame), tt.len)
			}
			var got flow.Record
			if err := packet.Decode(tt.lt, tt.frame, &got); err != nil {
				t.Fatalf("packet.Decode() error = %v", err)
			}
			if diff := cmp.Diff(got, tt.want, cmpAddr); diff != "" {
				t.Fatalf("packet.Decode() (-got, +want):\n%s", diff)
			}
			checksums(t, tt.lt, tt.frame)
		})
	}
}

func TestPacketVLANAndOptions(t *testing.T) {
	p := pktgen.Packet{Src: c4, Dst: x4, Proto: flow.ProtoTCP, TCPFlags: flow.TCPRst, VLAN: 42, TTL: 3,
		SrcMAC: 0x0000_5e00_5301, DstMAC: 0x0000_5e00_5302, Data: []byte("hello")}
	frame := p.AppendEthernet([]byte{0xff}) // appends after what is there
	if frame[0] != 0xff || len(frame) != 1+18+20+20+5 {
		t.Fatalf("AppendEthernet() = % x, want 1 + 63 bytes", frame)
	}
	frame = frame[1:]
	var got flow.Record
	if err := packet.Decode(flow.LinkTypeEthernet, frame, &got); err != nil {
		t.Fatal(err)
	}
	want := flow.Record{Src: c4.Addr(), Dst: x4.Addr(), SrcPort: c4.Port(), DstPort: x4.Port(), Proto: 6, TCPFlags: flow.TCPRst, Bytes: 45, Packets: 1, SrcMAC: 0x5e005301}
	if diff := cmp.Diff(got, want, cmpAddr); diff != "" {
		t.Fatalf("packet.Decode() (-got, +want):\n%s", diff)
	}
	if frame[14] != 0 || frame[15] != 42 || frame[18+8] != 3 || !bytes.HasSuffix(frame, []byte("hello")) {
		t.Fatalf("VLAN, TTL or payload wrong in % x", frame)
	}
	checksums(t, flow.LinkTypeEthernet, frame)
}

func TestCapture(t *testing.T) {
	frames := []pktgen.Timed{
		{Time: 1_700_000_000_000_000_001, Frame: pktgen.TCP(c4, x4, flow.TCPSyn, 0)},
		{Time: 1_700_000_000_500_000_000, Frame: pktgen.UDP(c6, x6, 40)},
	}
	path := pktgen.Capture(t, flow.LinkTypeEthernet, frames)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapfile.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var got []pktgen.Timed
	for {
		fr, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if fr.LinkType != flow.LinkTypeEthernet || int(fr.OrigLen) != len(fr.Data) {
			t.Fatalf("frame link type %v, lengths %d/%d", fr.LinkType, fr.CapLen, fr.OrigLen)
		}
		got = append(got, pktgen.Timed{Time: fr.Time, Frame: append([]byte(nil), fr.Data...)})
	}
	if diff := cmp.Diff(got, frames); diff != "" {
		t.Fatalf("capture read back (-got, +want):\n%s", diff)
	}
}

// TestTshark: tshark decodes built frames and a synthetic capture without
// a malformed packet or a bad checksum, with the fields pktgen was asked
// for.
func TestTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed: apt-get install tshark")
	}
	frames := []pktgen.Timed{
		{Time: 1, Frame: pktgen.TCP(c4, x4, flow.TCPSyn, 0)},
		{Time: 2, Frame: pktgen.TCP(c6, x6, flow.TCPPsh|flow.TCPAck, 1440)},
		{Time: 3, Frame: pktgen.UDP(c4, x4, 33)},
		{Time: 4, Frame: pktgen.UDP(c6, x6, 0)},
		{Time: 5, Frame: pktgen.ICMPEcho(c4.Addr(), x4.Addr(), false)},
		{Time: 6, Frame: pktgen.ICMPEcho(c6.Addr(), x6.Addr(), true)},
	}
	want := strings.Join([]string{
		"203.0.113.7,198.51.100.155,,,3374,4001,,,0x0002,1,,,,1",
		"2001:db8:100::7,2001:db8:8000::9,,,3374,53,,,0x0018,1,,,,",
		"203.0.113.7,198.51.100.155,3374,4001,,,,,,,1,,,1",
		"2001:db8:100::7,2001:db8:8000::9,3374,53,,,,,,,1,,,",
		"203.0.113.7,198.51.100.155,,,,,8,,,,,1,,1",
		"2001:db8:100::7,2001:db8:8000::9,,,,,,129,,,,,1,",
	}, "\n")
	got := tshark(t, pktgen.Capture(t, flow.LinkTypeEthernet, frames),
		"ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport",
		"icmp.type", "icmpv6.type", "tcp.flags", "tcp.checksum.status", "udp.checksum.status", "icmp.checksum.status",
		"icmpv6.checksum.status", "ip.checksum.status")
	// Columns: source, destination (IPv4 or IPv6), UDP ports, TCP ports, ICMP
	// types, TCP flags, TCP, UDP, ICMP, ICMPv6 and IPv4 checksum statuses
	// (1 = good).
	if diff := cmp.Diff(strings.Join(merge(got), "\n"), want); diff != "" {
		t.Fatalf("tshark fields (-got, +want):\n%s", diff)
	}

	var buf bytes.Buffer
	if err := pktgen.Synthetic(&buf, 5000, 3); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "synthetic.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	statuses := map[string]int{}
	for _, line := range tshark(t, path, "_ws.malformed", "tcp.checksum.status", "udp.checksum.status", "icmp.checksum.status", "icmpv6.checksum.status", "ip.checksum.status") {
		statuses[line]++
	}
	for line, n := range statuses {
		f := strings.Split(line, ",")
		bad := f[0] != "" // _ws.malformed
		for _, status := range f[1:] {
			bad = bad || status != "" && status != "1" // 1 is "good"
		}
		if bad {
			t.Errorf("%d synthetic frames with tshark malformed and checksum fields %q, want only 1 = good", n, line)
		}
	}
	if len(statuses) < 3 {
		t.Errorf("tshark checked only %v, want TCP, UDP and ICMP checksums", statuses)
	}
}

// tshark returns tshark's fields, comma-separated, one line per frame,
// with every checksum verified.
func tshark(t *testing.T, path string, fields ...string) []string {
	t.Helper()
	args := []string{"-r", path, "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "separator=,"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", strings.Join(args, " "), err)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n")
}

// merge folds the ip/ipv6 column pairs of TestTshark into one column each.
func merge(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		f := strings.Split(l, ",")
		out[i] = fmt.Sprintf("%s,%s,%s", f[0]+f[1], f[2]+f[3], strings.Join(f[4:], ","))
	}
	return out
}
