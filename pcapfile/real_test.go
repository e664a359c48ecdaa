package pcapfile_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/pcapgo"

	"abuseguard/flow"
	"abuseguard/pcapfile"
	"abuseguard/testutil"
)

// readGopacket reads a classic pcap or pcapng file with gopacket's pcapgo,
// the second opinion on every field.
func readGopacket(t *testing.T, data []byte) []pcapfile.Frame {
	t.Helper()
	var frames []pcapfile.Frame
	if bytes.HasPrefix(data, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatalf("pcapgo.NewNgReader: %v", err)
		}
		for {
			d, ci, err := r.ReadPacketData()
			if err == io.EOF {
				return frames
			}
			if err != nil {
				t.Fatalf("pcapgo ReadPacketData: %v", err)
			}
			iface, _ := r.Interface(ci.InterfaceIndex)
			frames = append(frames, pcapfile.Frame{Time: ci.Timestamp.UnixNano(), LinkType: flow.LinkType(iface.LinkType),
				CapLen: uint32(ci.CaptureLength), OrigLen: uint32(ci.Length), Interface: ci.InterfaceIndex, Data: d})
		}
	}
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("pcapgo.NewReader: %v", err)
	}
	for {
		d, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return frames
		}
		if err != nil {
			t.Fatalf("pcapgo ReadPacketData: %v", err)
		}
		frames = append(frames, pcapfile.Frame{Time: ci.Timestamp.UnixNano(), LinkType: flow.LinkType(r.LinkType()),
			CapLen: uint32(ci.CaptureLength), OrigLen: uint32(ci.Length), Data: d})
	}
}

// TestRealCapturesGopacket reads every shared capture with Reader and with
// pcapgo and compares every field of every frame; the frame counts are
// those SOURCES.md gives.
func TestRealCapturesGopacket(t *testing.T) {
	dir := testutil.SharedDir(t, "real")
	counts := map[string]int{
		"benign_zeek_dns-edns-ecs.pcap":                89,
		"benign_zeek_http-bro.org.pcap":                751,
		"benign_zeek_ntp-client-16-servers.pcap":       32,
		"benign_zeek_smtp.pcap":                        125,
		"benign_zeek_var-services-std-ports.pcap":      263,
		"benign_zeek_wikipedia-web-dns.pcap":           136,
		"flood_suricata-verify_denial6-5.pcap":         35720,
		"flood_suricata-verify_tcp-syn-flood-443.pcap": 200,
		"flood_zeek_dhcp_flood.pcap":                   500,
		"ipfix_netgauze_100-cisco.pcap":                6,
		"ipfix_netgauze_104-cisco-ipv6-sampling.pcap":  5,
		"ipfix_netgauze_srv6.pcap":                     170,
		"nfv9_netgauze_101-cisco-asr9k.pcap":           40,
		"nfv9_netgauze_102-cisco-sampling.pcap":        25,
		"scan_zeek_nmap-vsn.pcap":                      547,
		"scan_zeek_rpc-portmap-sadmind.pcap":           28,
		"sflow5_tcpdump_expanded.pcap":                 1,
		"sflow5_tcpdump_multiple_counter_30_pdus.pcap": 30,
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if len(files) != len(counts) {
		t.Errorf("%d captures in %s, want the %d SOURCES.md lists", len(files), dir, len(counts))
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := readAll(bufio.NewReaderSize(f, 4096)) // small reads, as from a pipe
			if err != nil {
				t.Fatalf("read error = %v", err)
			}
			if len(got) != counts[name] {
				t.Errorf("%d frames, SOURCES.md says %d", len(got), counts[name])
			}
			if diff := cmp.Diff(got, readGopacket(t, data), cmpBytes); diff != "" {
				t.Fatalf("Next() (-got, +pcapgo):\n%s", diff)
			}
		})
	}
}

// TestPcapngGopacket compares the hand-built single-section pcapng files
// with pcapgo's NgReader (it reads one section only).
func TestPcapngGopacket(t *testing.T) {
	w, _, firstSection := pcapngFile()
	le := w.b[:firstSection]
	got, err := readAll(bytes.NewReader(le))
	if err != nil {
		t.Fatal(err)
	}
	want := readGopacket(t, le)
	for i := range want {
		switch {
		case want[i].Time < 0:
			// pcapgo gives Simple Packet Blocks time.Time{}; Reader 0.
			want[i].Time = 0
		case want[i].Interface == 2 && i < len(got) && abs(want[i].Time-got[i].Time) < 1e6:
			// pcapgo (v1.7.7) counts 2^-20 s units as a whole number of
			// ns (953) and is 354 µs off at 1005.5 s; tshark agrees with
			// Reader (TestPcapngTshark).
			want[i].Time = got[i].Time
		}
	}
	if diff := cmp.Diff(got, want, cmpBytes); diff != "" {
		t.Fatalf("Next() (-got, +pcapgo):\n%s", diff)
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// tsharkFrames reads a capture with tshark: time in ns (0 when none),
// captured and original length, interface.
func tsharkFrames(t *testing.T, path string) [][4]int64 {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed: apt-get install tshark")
	}
	out, err := exec.Command("tshark", "-r", path, "-T", "fields",
		"-e", "frame.time_epoch", "-e", "frame.cap_len", "-e", "frame.len", "-e", "frame.interface_id").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", path, err)
	}
	var frames [][4]int64
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("tshark line %q: want 4 fields", line)
		}
		var v [4]int64
		if whole, frac, ok := strings.Cut(f[0], "."); ok {
			s, _ := strconv.ParseInt(whole, 10, 64)
			ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
			v[0] = s*1e9 + ns
		}
		for i := 1; i < 4; i++ {
			v[i], _ = strconv.ParseInt(f[i], 10, 64)
		}
		frames = append(frames, v)
	}
	return frames
}

// TestPcapngTshark: tshark reads the hand-built two-section pcapng file
// as Reader does.
func TestPcapngTshark(t *testing.T) {
	w, frames, _ := pcapngFile()
	file := w.b
	path := filepath.Join(t.TempDir(), "t.pcapng")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	want := tsharkFrames(t, path)
	got, err := readAll(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var gotFields [][4]int64
	for _, f := range got {
		gotFields = append(gotFields, [4]int64{f.Time, int64(f.CapLen), int64(f.OrigLen), int64(f.Interface)})
	}
	if diff := cmp.Diff(gotFields, want); diff != "" {
		t.Fatalf("Next() (-got, +tshark):\n%s", diff)
	}
	if len(got) != len(frames) {
		t.Fatalf("%d frames, want %d", len(got), len(frames))
	}
}
