package netflow

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"abuseguard/flow"
	"abuseguard/testutil"
)

// testExporter stands in for the UDP source of the shared .dat/.bin files,
// which carry no IP header. It is never sent anything.
var testExporter = netip.MustParseAddr("198.51.100.7")

// testRecv is the receive time used for datagrams read from files.
var testRecv = time.Date(2024, 10, 23, 4, 47, 21, 0, time.UTC)

// flowsFile reads a file of ../shared/testdata/flows.
func flowsFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.SharedDir(t, "flows"), rel))
	if err != nil {
		t.Fatalf("read shared file: %v", err)
	}
	return b
}

// splitConcatenated splits the two files SOURCES.md names as back-to-back
// captures (nc -k): v5 datagrams are 24 + 48·count bytes, IPFIX messages
// as long as their header says. Other files are one datagram each.
func splitConcatenated(t testing.TB, name string, b []byte) [][]byte {
	t.Helper()
	if name != "netflow5.dat" && name != "ipfix.dat" {
		return [][]byte{b}
	}
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			t.Fatalf("%s: %d stray bytes", name, len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if binary.BigEndian.Uint16(b) == 5 {
			n = v5HeaderLen + v5RecordLen*n
		}
		if n < 4 || n > len(b) {
			t.Fatalf("%s: datagram of %d bytes with %d left", name, n, len(b))
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// udpDatagram is one UDP payload read from a pcap.
type udpDatagram struct {
	src     netip.AddrPort
	dst     netip.AddrPort
	at      time.Time
	payload []byte
}

// pcapDatagrams returns the UDP payloads of a pcap in ../shared/testdata/real.
func pcapDatagrams(t testing.TB, name string) []udpDatagram {
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
	var out []udpDatagram
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
		dst, _ := netip.AddrFromSlice(pkt.NetworkLayer().NetworkFlow().Dst().Raw())
		out = append(out, udpDatagram{
			src:     netip.AddrPortFrom(src.Unmap(), uint16(udp.SrcPort)),
			dst:     netip.AddrPortFrom(dst.Unmap(), uint16(udp.DstPort)),
			at:      ci.Timestamp,
			payload: udp.Payload,
		})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no UDP datagrams", name)
	}
	return out
}

// setEvent is one data or options data set as the decoder met it.
type setEvent struct {
	id      uint16
	options bool
	records int
}

// tracingDecoder returns a Decoder that logs every set it decodes.
func tracingDecoder(cfg Config) (*Decoder, *[]setEvent) {
	d := New(cfg)
	var events []setEvent
	d.setHook = func(id uint16, options bool, n int) {
		events = append(events, setEvent{id, options, n})
	}
	return d, &events
}

// decodeAll decodes datagrams in order with one decoder and returns the
// records and the errors (nil entries for clean datagrams).
func decodeAll(d *Decoder, exporter netip.Addr, datagrams [][]byte) ([]flow.Record, []error) {
	var recs []flow.Record
	var errs []error
	for _, p := range datagrams {
		var err error
		recs, err = d.Decode(exporter, p, testRecv, recs)
		errs = append(errs, err)
	}
	return recs, errs
}
