package packet_test

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/pcapfile"
	"abuseguard/testutil"
)

// decoded is one frame of a capture and what Decode made of it.
type decoded struct {
	lt    flow.LinkType
	frame []byte
	rec   flow.Record
	err   error
}

// readCapture reads every frame of a pcap file with copies of the data.
func readCapture(tb testing.TB, path string) []pcapfile.Frame {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := pcapfile.NewReader(f)
	if err != nil {
		tb.Fatalf("pcapfile.NewReader(%s): %v", path, err)
	}
	var frames []pcapfile.Frame
	for {
		fr, err := r.Next()
		if err == io.EOF {
			return frames
		}
		if err != nil {
			tb.Fatalf("Next(%s): %v", path, err)
		}
		fr.Data = append([]byte(nil), fr.Data...)
		frames = append(frames, fr)
	}
}

func decodeCapture(tb testing.TB, path string) []decoded {
	frames := readCapture(tb, path)
	out := make([]decoded, len(frames))
	for i, f := range frames {
		out[i] = decoded{lt: f.LinkType, frame: f.Data}
		out[i].err = packet.Decode(f.LinkType, f.Data, &out[i].rec)
	}
	return out
}

// counts summarises a decoded capture.
type counts struct {
	frames, notIP, malformed int
	proto                    map[uint8]int
	synOnly                  int
}

func count(d []decoded) counts {
	c := counts{frames: len(d), proto: map[uint8]int{}}
	for _, x := range d {
		switch {
		case errors.Is(x.err, packet.ErrNotIP):
			c.notIP++
		case x.err != nil:
			c.malformed++
		default:
			c.proto[x.rec.Proto]++
			if x.rec.Proto == flow.ProtoTCP && x.rec.TCPFlags&(flow.TCPSyn|flow.TCPAck) == flow.TCPSyn {
				c.synOnly++
			}
		}
	}
	return c
}

func distinct(d []decoded, keep func(*flow.Record) bool, key func(*flow.Record) netip.Addr) int {
	seen := map[netip.Addr]bool{}
	for i := range d {
		if d[i].err == nil && keep(&d[i].rec) {
			seen[key(&d[i].rec)] = true
		}
	}
	return len(seen)
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestRealCaptures checks the decode of each shared capture against the
// facts its SOURCES.md states (read there with tshark and capinfos).
func TestRealCaptures(t *testing.T) {
	dir := testutil.SharedDir(t, "real")
	tests := []struct {
		file  string
		check func(t *testing.T, d []decoded, c counts)
	}{
		{"flood_suricata-verify_denial6-5.pcap", func(t *testing.T, d []decoded, c counts) {
			want(t, "frames", c.frames, 35720)
			// 35690 IPv6 packets with next-header 51 from ::2 to ::1; the
			// protocol after the chain must be AH's next header.
			ah := 0
			for _, x := range d {
				if x.err == nil && x.frame[14+6] == 51 && x.rec.Src == addr("2001:db8:1::2") && x.rec.Dst == addr("2001:db8:1::1") &&
					x.rec.Proto == x.frame[14+40] && x.rec.Proto == flow.ProtoICMPv6 {
					ah++
				}
			}
			want(t, "AH packets ::2 -> ::1 decoded to ICMPv6", ah, 35690)
		}},
		{"scan_zeek_nmap-vsn.pcap", func(t *testing.T, d []decoded, c counts) {
			want(t, "frames", c.frames, 547)
			want(t, "ErrNotIP (ARP)", c.notIP, 503)
			want(t, "SYN-only", c.synOnly, 17)
			want(t, "probe destinations", distinct(d, func(r *flow.Record) bool { return r.Src == addr("192.168.1.71") }, dstOf), 7)
		}},
		{"flood_suricata-verify_tcp-syn-flood-443.pcap", func(t *testing.T, d []decoded, c counts) {
			n := 0
			for _, x := range d {
				r := x.rec
				if x.err == nil && r.Src == addr("192.0.2.10") && r.Dst == addr("198.51.100.5") && r.DstPort == 443 && r.TCPFlags&(flow.TCPSyn|flow.TCPAck) == flow.TCPSyn {
					n++
				}
			}
			want(t, "SYN-only 192.0.2.10 -> 198.51.100.5:443", n, 200)
			want(t, "frames", c.frames, 200)
		}},
		{"flood_zeek_dhcp_flood.pcap", func(t *testing.T, d []decoded, c counts) {
			want(t, "UDP", c.proto[flow.ProtoUDP], 500)
			client := func(r *flow.Record) bool {
				return r.SrcMAC == 0x90b11c994929 && r.SrcPort == 68 && r.DstPort == 67
			}
			want(t, "client source addresses", distinct(d, client, srcOf), 250)
			want(t, "server addresses", distinct(d, client, dstOf), 250)
			want(t, "replies", distinct(d, func(r *flow.Record) bool { return r.SrcMAC == 0x000c29400eef }, dstOf) > 0, true)
		}},
		{"benign_zeek_smtp.pcap", func(t *testing.T, d []decoded, c counts) {
			want(t, "frames", c.frames, 125)
			want(t, "TCP", c.proto[flow.ProtoTCP], 118)
			want(t, "UDP", c.proto[flow.ProtoUDP], 3)
			want(t, "ICMP", c.proto[flow.ProtoICMP], 4)
		}},
		{"benign_zeek_wikipedia-web-dns.pcap", func(t *testing.T, d []decoded, c counts) {
			want(t, "frames", c.frames, 136)
			want(t, "SYN-only", c.synOnly, 8)
		}},
		{"benign_zeek_var-services-std-ports.pcap", func(t *testing.T, d []decoded, c counts) {
			want(t, "frames", c.frames, 263)
			want(t, "TCP", c.proto[flow.ProtoTCP], 184)
			want(t, "UDP", c.proto[flow.ProtoUDP], 75)
			want(t, "not IP", c.notIP, 4)
		}},
		{"benign_zeek_ntp-client-16-servers.pcap", func(t *testing.T, d []decoded, c counts) {
			want(t, "UDP", c.proto[flow.ProtoUDP], 32)
			query := func(r *flow.Record) bool { return r.Src == addr("192.168.43.118") && r.DstPort == 123 }
			want(t, "NTP servers asked", distinct(d, query, dstOf), 16)
		}},
		{"benign_zeek_dns-edns-ecs.pcap", func(t *testing.T, d []decoded, c counts) {
			want(t, "UDP", c.proto[flow.ProtoUDP], 80)
			want(t, "TCP", c.proto[flow.ProtoTCP], 9)
			all := func(*flow.Record) bool { return true }
			want(t, "sources", distinct(d, all, srcOf), 39)
			want(t, "destinations", distinct(d, all, dstOf), 20)
		}},
		{"benign_zeek_http-bro.org.pcap", func(t *testing.T, d []decoded, c counts) {
			want(t, "TCP", c.proto[flow.ProtoTCP], 751)
			want(t, "SYN-only", c.synOnly, 13)
			server := 0
			for _, x := range d {
				if x.rec.Src == addr("192.150.187.43") && x.rec.SrcPort == 80 {
					server++
				}
			}
			want(t, "server packets", server, 504)
		}},
		{"scan_zeek_rpc-portmap-sadmind.pcap", func(t *testing.T, d []decoded, c counts) {
			want(t, "UDP", c.proto[flow.ProtoUDP], 28)
			portmap := func(r *flow.Record) bool { return r.Src == addr("202.77.162.213") && r.DstPort == 111 }
			want(t, "portmapper hosts", distinct(d, portmap, dstOf), 10)
		}},
		{"sflow5_tcpdump_multiple_counter_30_pdus.pcap", flowExport(30, 6343, false)},
		{"sflow5_tcpdump_expanded.pcap", flowExport(1, 6343, false)},
		{"nfv9_netgauze_101-cisco-asr9k.pcap", flowExport(40, 9991, false)},
		{"nfv9_netgauze_102-cisco-sampling.pcap", flowExport(25, 9991, false)},
		{"ipfix_netgauze_100-cisco.pcap", flowExport(6, 9991, false)},
		{"ipfix_netgauze_104-cisco-ipv6-sampling.pcap", flowExport(5, 9992, true)},
		{"ipfix_netgauze_srv6.pcap", flowExport(170, 9992, true)},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d := decodeCapture(t, filepath.Join(dir, tt.file))
			c := count(d)
			want(t, "malformed", c.malformed, 0)
			tt.check(t, d, c)
		})
	}
}

// flowExport checks a capture of flow export datagrams: n UDP packets to
// one collector port, over IPv6 or not.
func flowExport(n int, port uint16, v6 bool) func(*testing.T, []decoded, counts) {
	return func(t *testing.T, d []decoded, c counts) {
		got := 0
		for _, x := range d {
			if x.err == nil && x.rec.Proto == flow.ProtoUDP && x.rec.DstPort == port && x.rec.Dst.Is6() == v6 {
				got++
			}
		}
		want(t, "export datagrams", got, n)
	}
}

func srcOf(r *flow.Record) netip.Addr { return r.Src }
func dstOf(r *flow.Record) netip.Addr { return r.Dst }

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestRealCapturesTruncated cuts every frame of every shared capture at
// every byte (see checkPrefixes).
func TestRealCapturesTruncated(t *testing.T) {
	dir := testutil.SharedDir(t, "real")
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			for _, f := range readCapture(t, file) {
				checkPrefixes(t, f.LinkType, f.Data)
			}
		})
	}
}
