package sflow

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"abuseguard/testutil"
)

// testExporter stands in for the UDP source of the shared .bin files,
// which carry no IP header. It is never sent anything.
var testExporter = netip.MustParseAddr("198.51.100.7")

// testRecv is the receive time used for datagrams read from files.
var testRecv = time.Date(2024, 10, 23, 4, 47, 21, 0, time.UTC)

// gram is one datagram with its UDP source.
type gram struct {
	exporter netip.Addr
	at       time.Time
	payload  []byte
}

// telegrafCase returns the .bin datagrams of a telegraf test case, in the
// sorted order its harness sends them.
func telegrafCase(t testing.TB, name string) []gram {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(testutil.SharedDir(t, "flows"), "telegraf", name, "*.bin"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("telegraf case %s: no .bin files", name)
	}
	var out []gram
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		out = append(out, gram{testExporter, testRecv, b})
	}
	return out
}

// pcapGrams returns the UDP payloads of a pcap in ../shared/testdata/real.
func pcapGrams(t testing.TB, name string) []gram {
	t.Helper()
	f, err := os.Open(testutil.SharedFile(t, "real", name))
	if err != nil {
		t.Fatalf("open pcap: %v", err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("read pcap header: %v", err)
	}
	var out []gram
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read pcap: %v", err)
		}
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || pkt.NetworkLayer() == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(pkt.NetworkLayer().NetworkFlow().Src().Raw())
		out = append(out, gram{src.Unmap(), ci.Timestamp, udp.Payload})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no UDP datagrams", name)
	}
	return out
}

// allGrams returns every sFlow datagram of the shared test data, by
// source.
func allGrams(t testing.TB) map[string][]gram {
	t.Helper()
	out := map[string][]gram{}
	for _, c := range []string{"sflow_v5_example", "sflow_issue_15375", "sflow_issue_15918", "sflow_issue_18876"} {
		out["telegraf/"+c] = telegrafCase(t, c)
	}
	for _, p := range []string{"sflow5_tcpdump_expanded", "sflow5_tcpdump_multiple_counter_30_pdus"} {
		out["real/"+p] = pcapGrams(t, p+".pcap")
	}
	return out
}
