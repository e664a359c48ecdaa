package evidence

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/testutil"

	"github.com/gopacket/gopacket/pcapgo"
)

// FuzzTrafficLine feeds arbitrary frames, with arbitrary parsed fields, to
// the traffic dump: whatever a capture hands over, rendering must not panic
// and must write one tcpdump-style line. The seed corpus is the first
// frames of real captures.
func FuzzTrafficLine(f *testing.F) {
	for _, name := range []string{
		"scan_zeek_nmap-vsn.pcap",
		"flood_suricata-verify_denial6-5.pcap",
		"benign_zeek_wikipedia-web-dns.pcap",
		"scan_zeek_rpc-portmap-sadmind.pcap",
	} {
		file, err := os.Open(testutil.SharedFile(f, "real", name))
		if err != nil {
			f.Fatal(err)
		}
		r, err := pcapgo.NewReader(file)
		if err != nil {
			f.Fatal(err)
		}
		for range 20 {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			s, ok := trySample(time.Time{}, r.LinkType(), data)
			if !ok {
				continue
			}
			f.Add(uint16(r.LinkType()), data, s.Proto, s.DstPort, s.Length, s.Src.Is6())
		}
		file.Close()
	}
	f.Fuzz(func(t *testing.T, link uint16, data []byte, proto uint8, dstPort uint16, length uint32, v6 bool) {
		s := abuseguard.PacketSample{
			Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"),
			Proto: proto, DstPort: dstPort, Length: length, Packets: 1, LinkType: link, Data: data,
		}
		if v6 {
			s.Src, s.Dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
		}
		// The fields as a capture would parse them, where the frame parses.
		if p, ok := parseFrame(link, data); ok {
			s.Proto, s.Src, s.Dst = p.proto, p.src.Unmap(), p.dst.Unmap()
		}
		var b bytes.Buffer
		writeTcpdump(&b, &s)
		if line := b.String(); !strings.HasPrefix(line, "IP") || strings.Contains(line, "\n") {
			t.Fatalf("writeTcpdump() = %q, want one line starting with IP", line)
		}
	})
}
