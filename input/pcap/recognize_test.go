package pcap_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"abuseguard/input/pcap"
	"abuseguard/testutil"
)

// TestRecognizeRealCaptures: every UDP datagram of the flow captures is
// recognised as its protocol, and no UDP datagram of the other captures
// (DNS, NTP, DHCP, SMTP, RPC...) is taken for a flow export.
//
// The counts are tshark's: SOURCES.md calls all 30 datagrams of
// sflow5_tcpdump_multiple_counter_30_pdus sFlow, but frames 13 and 19-22
// are NetFlow v5 datagrams of 1 or 2 records sent to port 6343 (UDP
// lengths 80 and 128 = 8 + 24 + 48·n, payload starting 00 05 00 01/02),
// which tshark leaves undecoded as "UDP 40000 → 6343".
func TestRecognizeRealCaptures(t *testing.T) {
	want := map[string]map[pcap.Protocol]int{
		"ipfix_netgauze_100-cisco":                {pcap.IPFIX: 6},
		"ipfix_netgauze_104-cisco-ipv6-sampling":  {pcap.IPFIX: 5},
		"ipfix_netgauze_srv6":                     {pcap.IPFIX: 170},
		"nfv9_netgauze_101-cisco-asr9k":           {pcap.NetFlowV9: 40},
		"nfv9_netgauze_102-cisco-sampling":        {pcap.NetFlowV9: 25},
		"sflow5_tcpdump_expanded":                 {pcap.SFlowV5: 1},
		"sflow5_tcpdump_multiple_counter_30_pdus": {pcap.SFlowV5: 25, pcap.NetFlowV5: 5},
	}
	for _, path := range realCaptures(t, "") {
		name := base(path)
		t.Run(name, func(t *testing.T) {
			got := map[pcap.Protocol]int{}
			for _, d := range udpDatagrams(t, path) {
				if p := pcap.Recognize(d.payload); p != pcap.NotFlow {
					got[p]++
				}
			}
			if diff := cmp.Diff(got, want[name], cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("Recognize() counts (-got, +want):\n%s", diff)
			}
		})
	}
}

// TestRecognizeSharedDatagrams: the single-datagram files of
// ../shared/testdata/flows are recognised, except those SOURCES.md names
// as malformed (v5 count beyond the payload) and the two concatenations.
func TestRecognizeSharedDatagrams(t *testing.T) {
	dir := testutil.SharedDir(t, "flows")
	notWhole := map[string]bool{
		"netflow5_test_invalid01.dat": true, "netflow5_test_invalid02.dat": true,
		"netflow5.dat": true, "ipfix.dat": true,
	}
	var files []string
	for _, pat := range []string{"logstash/*.dat", "telegraf/*/*.bin"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	if len(files) < 80 {
		t.Fatalf("found %d datagram files, want the 80 or so SOURCES.md lists", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var want pcap.Protocol
		switch {
		case notWhole[filepath.Base(f)]:
			want = pcap.NotFlow
		case binary.BigEndian.Uint32(b) == 5:
			want = pcap.SFlowV5
		case binary.BigEndian.Uint16(b) == 5:
			want = pcap.NetFlowV5
		case binary.BigEndian.Uint16(b) == 9:
			want = pcap.NetFlowV9
		case binary.BigEndian.Uint16(b) == 10:
			want = pcap.IPFIX
		}
		if got := pcap.Recognize(b); got != want {
			t.Errorf("%s: Recognize() = %v, want %v", strings.TrimPrefix(f, dir), got, want)
		}
	}
}

// dnsQuery builds a DNS query for name with the given ID, as a resolver
// sends it: the IDs 5, 9 and 10 put a flow-export version where the
// version field is.
func dnsQuery(id uint16, name string) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD, 1 question
	for _, l := range strings.Split(name, ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0, 0, 1, 0, 1) // root, type A, class IN
}

func TestRecognizeNotFlow(t *testing.T) {
	v5 := make([]byte, 24+48)
	v5[1], v5[3] = 5, 1
	tests := []struct {
		name string
		b    []byte
		want pcap.Protocol
	}{
		{"empty", nil, pcap.NotFlow},
		{"three bytes", []byte{0, 5, 0}, pcap.NotFlow},
		{"dns id 5", dnsQuery(5, "www.example.com"), pcap.NotFlow},
		{"dns id 9", dnsQuery(9, "mail.example.org"), pcap.NotFlow},
		{"dns id 10", dnsQuery(10, "a.b.c.d.example.net"), pcap.NotFlow},
		{"dns id 0", dnsQuery(0, "example.com"), pcap.NotFlow},
		{"v5 one record", v5, pcap.NetFlowV5},
		{"v5 count 0", append([]byte{0, 5, 0, 0}, v5[4:24]...), pcap.NotFlow},
		{"v5 one byte short", v5[:len(v5)-1], pcap.NotFlow},
		{"v5 count 31", func() []byte { b := make([]byte, 24+31*48); b[1], b[3] = 5, 31; return b }(), pcap.NotFlow},
		{"v9 header only", append([]byte{0, 9}, make([]byte, 18)...), pcap.NotFlow},
		{"v9 reserved set id 2", append(append([]byte{0, 9}, make([]byte, 18)...), 0, 2, 0, 4), pcap.NotFlow},
		{"v9 empty data set", append(append([]byte{0, 9}, make([]byte, 18)...), 1, 0, 0, 4), pcap.NetFlowV9},
		{"v9 set past end", append(append([]byte{0, 9}, make([]byte, 18)...), 1, 0, 0, 8), pcap.NotFlow},
		{"ipfix length too long", append([]byte{0, 10, 0, 24}, append(make([]byte, 12), 1, 0, 0, 4)...), pcap.NotFlow},
		{"ipfix ok", append([]byte{0, 10, 0, 20}, append(make([]byte, 12), 1, 0, 0, 4)...), pcap.IPFIX},
		{"ipfix trailing garbage", append([]byte{0, 10, 0, 20}, append(make([]byte, 12), 1, 0, 0, 4, 7)...), pcap.NotFlow},
		{"sflow no samples", append([]byte{0, 0, 0, 5, 0, 0, 0, 1}, make([]byte, 20)...), pcap.NotFlow},
		{"sflow one empty sample", append(append([]byte{0, 0, 0, 5, 0, 0, 0, 1}, make([]byte, 16)...), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0), pcap.SFlowV5},
		{"sflow address type 3", append(append([]byte{0, 0, 0, 5, 0, 0, 0, 3}, make([]byte, 16)...), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0), pcap.NotFlow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pcap.Recognize(tt.b); got != tt.want {
				t.Fatalf("Recognize() = %v, want %v", got, tt.want)
			}
		})
	}
}
