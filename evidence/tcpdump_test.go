package evidence

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/testutil"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ipPackets returns the IP packets of the differential test: TCP with
// every flag tcpdump names, UDP, ICMP and ICMPv6 messages that tcpdump
// words, IPv4 options, protocols tcpdump does not know.
func ipPackets(t *testing.T) [][]byte {
	const (
		srv   = "203.0.113.7"
		peer  = "76.9.23.182"
		srv6  = "2001:db8:1234::7"
		peer6 = "2001:db8:ffff::1"
	)
	payload := func(n int) gopacket.Payload { return bytes.Repeat([]byte{'x'}, n) }
	tcp := func(flags uint8, opts ...layers.TCPOption) *layers.TCP {
		l := &layers.TCP{SrcPort: 55008, DstPort: 4001, Seq: 1000, Ack: 2000, Window: 64240, Options: opts}
		l.FIN, l.SYN, l.RST, l.PSH = flags&1 != 0, flags&2 != 0, flags&4 != 0, flags&8 != 0
		l.ACK, l.URG, l.ECE, l.CWR = flags&16 != 0, flags&32 != 0, flags&64 != 0, flags&128 != 0
		return l
	}
	udp := &layers.UDP{SrcPort: 55008, DstPort: 29615}
	mss := layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}
	withOpt := ip4(srv, peer, layers.IPProtocolUDP)
	withOpt.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 1}}

	// Quoted packets of ICMP errors.
	quotedUDP := serialize(t, ip4(srv, peer, layers.IPProtocolUDP), &layers.UDP{SrcPort: 55008, DstPort: 29615})
	quotedTCP := serialize(t, ip4(srv, peer, layers.IPProtocolTCP), tcp(2))
	quotedUDP6 := serialize(t, ip6(srv6, peer6, layers.IPProtocolUDP), &layers.UDP{SrcPort: 5000, DstPort: 6000})
	quotedTCP6 := serialize(t, ip6(srv6, peer6, layers.IPProtocolTCP), tcp(2))
	icmp := func(typ, code uint8, id, seq uint16, rest []byte) []byte {
		return serialize(t, ip4(peer, srv, layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: id, Seq: seq}, gopacket.Payload(rest))
	}
	icmp6 := func(src, dst string, typ, code uint8, rest ...[]byte) []byte {
		return serialize(t, ip6(src, dst, layers.IPProtocolICMPv6),
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}, gopacket.Payload(bytes.Join(rest, nil)))
	}
	word := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	target6 := ip6(peer6, srv6, 0).SrcIP

	pkts := [][]byte{
		serialize(t, ip4(srv, peer, layers.IPProtocolUDP), udp, payload(100)),
		serialize(t, ip4(srv, peer, layers.IPProtocolUDP), udp, payload(1472)),
		serialize(t, withOpt, udp, payload(30)),
		serialize(t, ip4(srv, peer, layers.IPProtocolUDP), udp), // empty datagram
	}
	for _, f := range []uint8{0x02, 0x12, 0x04, 0x14, 0x11, 0x00, 0xff, 0x20, 0xc2} {
		pkts = append(pkts, serialize(t, ip4(srv, peer, layers.IPProtocolTCP), tcp(f)))
	}
	pkts = append(pkts,
		serialize(t, ip4(srv, peer, layers.IPProtocolTCP), tcp(0x02, mss)),
		serialize(t, ip4(srv, peer, layers.IPProtocolTCP), tcp(0x18), payload(517)),
		icmp(8, 0, 7, 9, payload(56)),
		icmp(0, 0, 7, 9, payload(56)),
		icmp(3, 0, 0, 0, quotedUDP),
		icmp(3, 1, 0, 0, quotedUDP),
		icmp(3, 2, 0, 0, quotedUDP),
		icmp(3, 3, 0, 0, quotedUDP),
		icmp(3, 3, 0, 0, quotedTCP),
		icmp(3, 4, 0, 1500, quotedUDP),
		icmp(3, 9, 0, 0, quotedUDP),
		icmp(3, 10, 0, 0, quotedUDP),
		icmp(3, 13, 0, 0, quotedTCP),
		icmp(11, 0, 0, 0, quotedUDP),
		icmp(12, 0, 0x1400, 0, quotedUDP), // pointer in the first byte after the checksum
		icmp(12, 1, 0, 0, quotedUDP),
		icmp(11, 1, 0, 0, quotedUDP),
		serialize(t, ip4(srv, peer, 99), payload(20)),
		serialize(t, ip6(srv6, peer6, layers.IPProtocolUDP), udp, payload(1200)),
		serialize(t, ip6(srv6, peer6, layers.IPProtocolTCP), tcp(0x02, mss)),
		serialize(t, ip6(peer6, srv6, layers.IPProtocolTCP), tcp(0x12)),
		icmp6(srv6, peer6, 128, 0, []byte{0, 1, 0, 2}, payload(56)),
		icmp6(peer6, srv6, 129, 0, []byte{0, 1, 0, 2}, payload(56)),
		icmp6(peer6, srv6, 1, 0, word(0), quotedUDP6),
		icmp6(peer6, srv6, 1, 1, word(0), quotedUDP6),
		icmp6(peer6, srv6, 1, 2, word(0), quotedUDP6),
		icmp6(peer6, srv6, 1, 3, word(0), quotedUDP6),
		icmp6(peer6, srv6, 1, 4, word(0), quotedUDP6),
		icmp6(peer6, srv6, 1, 4, word(0), quotedTCP6),
		icmp6(peer6, srv6, 2, 0, word(1280), quotedUDP6),
		icmp6(peer6, srv6, 3, 0, word(0), quotedUDP6),
		icmp6(peer6, srv6, 3, 1, word(0), quotedUDP6),
		icmp6(peer6, srv6, 4, 0, word(6), quotedUDP6),
		icmp6(peer6, srv6, 4, 1, word(40), quotedUDP6),
		icmp6(peer6, srv6, 4, 2, word(42), quotedUDP6),
		icmp6(peer6, srv6, 4, 3, word(42), quotedUDP6),
		icmp6(srv6, peer6, 133, 0, word(0)),
		icmp6(peer6, srv6, 134, 0, word(0x40000000), word(0), word(0)),
		icmp6(srv6, "ff02::1:ff00:1", 135, 0, word(0), target6),
		icmp6(peer6, srv6, 136, 0, word(0x60000000), target6),
		serialize(t, ip6(srv6, peer6, 99), payload(20)),
	)
	return pkts
}

// linkFrame wraps an IP packet in a link-layer header of the given type.
func linkFrame(t *testing.T, link layers.LinkType, ip []byte) []byte {
	t.Helper()
	et := layers.EthernetTypeIPv4
	if ip[0]>>4 == 6 {
		et = layers.EthernetTypeIPv6
	}
	switch link {
	case layers.LinkTypeRaw:
		return ip
	case layers.LinkTypeEthernet:
		return serialize(t, eth(macServer, macRouter, layers.EthernetTypeDot1Q),
			&layers.Dot1Q{VLANIdentifier: 42, Type: et}, gopacket.Payload(ip))
	case layers.LinkTypeLinuxSLL:
		// gopacket cannot serialize SLL: packet type, ARPHRD_ETHER,
		// address length and address, protocol (see pcap-linktype(7)).
		h := []byte{0, 4, 0, 1, 0, 6}
		h = append(h, macServer...)
		h = append(h, 0, 0)
		h = binary.BigEndian.AppendUint16(h, uint16(et))
		return append(h, ip...)
	}
	t.Fatalf("linkFrame: link type %v", link)
	return nil
}

// tcpdumpOnly matches what tcpdump prints and the traffic dump leaves out
// on purpose (see traffic.go): TCP sequence, acknowledgement, window,
// urgent pointer and options.
var tcpdumpOnly = regexp.MustCompile(`, (seq [0-9:]+|ack [0-9]+|win [0-9]+|urg [0-9]+|options \[[^\]]*\])`)

// tcpdumpApp matches what tcpdump's application decoders add to a TCP line
// after the length ("length 8: SMTP: 250 Ok").
var tcpdumpApp = regexp.MustCompile(`(, length [0-9]+): .*$`)

// TestTrafficMatchesTcpdump renders samples and compares traffic.log with
// what the real tcpdump prints for two pcaps of the same frames: one written
// by gopacket's pcapgo, independently of us, and the traffic.pcap Render
// wrote. The last case mixes link types, which traffic.pcap writes as raw IP.
func TestTrafficMatchesTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("needs tcpdump: apt-get install tcpdump")
	}
	run := func(t *testing.T, path string) string {
		t.Helper()
		cmd := exec.Command(tcpdump, "-n", "-r", path)
		cmd.Env = append(os.Environ(), "TZ=UTC")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tcpdump: %v: %s", err, stderr.String())
		}
		return strings.Join(normalizeTcpdump(strings.Split(string(out), "\n")), "\n")
	}
	start := time.Date(2024, 10, 23, 21, 44, 53, 145756999, time.UTC)
	all := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeLinuxSLL}
	for _, tc := range []struct {
		name  string
		links []layers.LinkType // per frame, in turn
	}{
		{"Ethernet", all[0:1]},
		{"Raw", all[1:2]},
		{"LinuxSLL", all[2:3]},
		{"mixed", all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d := &abuseguard.Detection{Kind: abuseguard.ReasonManual, Address: mustAddr("203.0.113.7")}
			var frames [][]byte
			for i, ip := range ipPackets(t) {
				link := tc.links[i%len(tc.links)]
				data := linkFrame(t, link, ip)
				at := start.Add(time.Duration(i) * 1500 * time.Microsecond)
				d.Samples = append(d.Samples, sampleOf(t, at, link, data))
				frames = append(frames, data)
			}
			files := map[string][]byte{}
			for _, e := range Render(d, Options{}) {
				files[e.Name] = e.Data
			}
			var got strings.Builder
			for _, l := range strings.SplitAfter(string(files[NameTraffic]), "\n") {
				if !strings.HasPrefix(l, "#") {
					got.WriteString(l)
				}
			}

			wantLink := uint32(tc.links[0])
			if len(tc.links) > 1 {
				wantLink = uint32(layers.LinkTypeRaw)
			}
			if p := files[NamePcap]; len(p) < 24 || binary.LittleEndian.Uint32(p[20:24]) != wantLink {
				t.Fatalf("traffic.pcap of %d bytes does not have link type %d", len(p), wantLink)
			}
			rendered := filepath.Join(dir, NamePcap)
			if err := os.WriteFile(rendered, files[NamePcap], 0o644); err != nil {
				t.Fatal(err)
			}
			paths := []string{rendered}
			if len(tc.links) == 1 {
				paths = append(paths, writePcapgo(t, filepath.Join(dir, "pcapgo.pcap"), tc.links[0], d.Samples, frames))
			}
			for _, path := range paths {
				want := run(t, path)
				if diff := cmp.Diff(strings.Split(got.String(), "\n"), strings.Split(want, "\n")); diff != "" {
					t.Fatalf("traffic.log vs tcpdump -n -r %s (-got, +want):\n%s", filepath.Base(path), diff)
				}
			}
		})
	}
}

// writePcapgo writes frames with gopacket's pcap writer.
func writePcapgo(t *testing.T, path string, link layers.LinkType, samples []abuseguard.PacketSample, frames [][]byte) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for i, data := range frames {
		ci := gopacket.CaptureInfo{Timestamp: samples[i].Time, CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// normalizeTcpdump removes from TCP lines what the traffic dump leaves out.
// Only TCP lines: an ICMP echo line has a "seq" too.
func normalizeTcpdump(lines []string) []string {
	for i, l := range lines {
		if strings.Contains(l, ": Flags [") {
			lines[i] = tcpdumpApp.ReplaceAllString(tcpdumpOnly.ReplaceAllString(l, ""), "$1")
		}
	}
	return lines
}

// claimed matches the tcpdump lines whose wording the traffic dump
// reproduces: TCP, UDP, ICMP and ICMPv6 directly after the IP header.
// tcpdump's application decoders (DNS, NTP, DHCP, ...), IPv6 extension
// headers and other protocols print differently, on purpose (traffic.go).
var claimed = regexp.MustCompile(`^[0-9:.]+ IP6? \S+ > \S+: (Flags \[|UDP, length |ICMP |ICMP6, )`)

// TestTrafficMatchesTcpdumpOnRealCaptures renders every IP frame of real
// third-party captures and compares each line tcpdump words the same way.
func TestTrafficMatchesTcpdumpOnRealCaptures(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("needs tcpdump: apt-get install tcpdump")
	}
	const frames = 3000 // of each capture; the largest has 35 720
	for _, name := range []string{
		"scan_zeek_nmap-vsn.pcap",
		"flood_suricata-verify_tcp-syn-flood-443.pcap",
		"flood_suricata-verify_denial6-5.pcap",
		"scan_zeek_rpc-portmap-sadmind.pcap",
		"benign_zeek_var-services-std-ports.pcap",
		"benign_zeek_http-bro.org.pcap",
		"benign_zeek_wikipedia-web-dns.pcap",
		"benign_zeek_smtp.pcap",
	} {
		t.Run(name, func(t *testing.T) {
			path := testutil.SharedFile(t, "real", name)
			cmd := exec.Command(tcpdump, "-n", "-c", strconv.Itoa(frames), "-r", path)
			cmd.Env = append(os.Environ(), "TZ=UTC")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("tcpdump: %v", err)
			}
			// One record per frame: tcpdump indents continuation lines.
			var records []string
			for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
				if l != "" && l[0] != ' ' && l[0] != '\t' {
					records = append(records, l)
				}
			}
			records = normalizeTcpdump(records)

			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := pcapgo.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			compared := 0
			for i := 0; i < len(records); i++ {
				data, ci, err := r.ReadPacketData()
				if err != nil {
					t.Fatalf("frame %d: %v (tcpdump printed %d)", i+1, err, len(records))
				}
				s, ok := trySample(ci.Timestamp, r.LinkType(), data)
				if !ok || !claimed.MatchString(records[i]) {
					continue
				}
				var b bytes.Buffer
				b.WriteString(s.Time.UTC().Format("15:04:05.000000 "))
				writeTcpdump(&b, &s)
				if got := b.String(); got != records[i] {
					t.Errorf("frame %d:\n got: %s\nwant: %s", i+1, got, records[i])
				}
				compared++
			}
			t.Logf("%d of %d frames compared", compared, len(records))
			if compared == 0 {
				t.Fatalf("no frame compared: the capture no longer tests anything")
			}
		})
	}
}
