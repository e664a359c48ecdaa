package pcap_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"abuseguard/decoder/netflow"
	"abuseguard/decoder/sflow"
	"abuseguard/flow"
	"abuseguard/input/pcap"
	"abuseguard/testutil/pktgen"
)

// directDecode decodes the capture's flow datagrams with fresh decoders,
// without Source: the records ReadFile must reproduce.
func directDecode(t *testing.T, path string) []flow.Record {
	nf, sf := netflow.New(netflow.Config{}), sflow.New(sflow.Config{})
	var out []flow.Record
	for _, d := range udpDatagrams(t, path) {
		recv := time.Unix(0, d.time)
		switch pcap.Recognize(d.payload) {
		case pcap.SFlowV5:
			out, _ = sf.Decode(d.src, d.payload, recv, out)
		case pcap.NetFlowV5, pcap.NetFlowV9, pcap.IPFIX:
			out, _ = nf.Decode(d.src, d.payload, recv, out)
		}
	}
	return out
}

func TestReadFileFlowCaptures(t *testing.T) {
	for _, path := range flowCaptures(t) {
		t.Run(base(path), func(t *testing.T) {
			want := directDecode(t, path)
			if len(want) == 0 && !strings.Contains(path, "counter") {
				t.Fatal("direct decode found no records")
			}
			got, st := readAll(t, pcap.DefaultConfiguration(), path)
			if diff := cmp.Diff(got, want, cmpAddr, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("ReadFile() records (-got, +want):\n%s", diff)
			}
			if st.Packets != 0 || st.Flows != uint64(len(want)) || st.Records != st.Flows {
				t.Fatalf("ReadFile() stats = %+v, want no packets and %d flows", st, len(want))
			}
		})
	}
}

// TestReadFileFlowExportsOff: with flow_exports off, a flow capture is
// packets like any other, one per frame.
func TestReadFileFlowExportsOff(t *testing.T) {
	path := realCaptures(t, "nfv9_netgauze_101")[0]
	cfg := pcap.DefaultConfiguration()
	cfg.FlowExports = pcap.FlowExportsOff
	got, st := readAll(t, cfg, path)
	if len(got) != 40 || st.Packets != 40 || st.DatagramTotal() != 0 {
		t.Fatalf("ReadFile() = %d records, stats %+v; want 40 packets", len(got), st)
	}
	for _, r := range got {
		if r.Proto != flow.ProtoUDP || r.DstPort != 9991 || r.Src != netip.MustParseAddr("138.187.57.55") {
			t.Fatalf("ReadFile() record %+v is not the export packet", r)
		}
	}
}

func TestReadFilePackets(t *testing.T) {
	a := netip.MustParseAddrPort("203.0.113.7:40000")
	b := netip.MustParseAddrPort("198.51.100.9:443")
	c := netip.MustParseAddrPort("[2001:db8::7]:53")
	d := netip.MustParseAddrPort("[2001:db8::9]:5353")
	t0 := time.Date(2024, 10, 23, 4, 47, 21, 0, time.UTC).UnixNano()
	arp := append(make([]byte, 12), 0x08, 0x06)
	arp = append(arp, make([]byte, 28)...)
	frames := []pktgen.Timed{
		{Time: t0, Frame: pktgen.TCP(a, b, flow.TCPSyn, 0)},
		{Time: t0 + 1000, Frame: arp},
		{Time: t0 + 2000, Frame: pktgen.UDP(c, d, 100)},
		{Time: t0 + 3000, Frame: pktgen.ICMPEcho(b.Addr(), a.Addr(), true)},
	}
	path := pktgen.Capture(t, flow.LinkTypeEthernet, frames)
	got, st := readAll(t, pcap.DefaultConfiguration(), path)
	want := []flow.Record{
		{Src: a.Addr(), Dst: b.Addr(), SrcPort: a.Port(), DstPort: b.Port(), Proto: flow.ProtoTCP, TCPFlags: flow.TCPSyn, Bytes: 40},
		{Src: c.Addr(), Dst: d.Addr(), SrcPort: c.Port(), DstPort: d.Port(), Proto: flow.ProtoUDP, Bytes: 40 + 8 + 100},
		{Src: b.Addr(), Dst: a.Addr(), DstPort: 0x0000, Proto: flow.ProtoICMP, Bytes: 20 + 8 + 56},
	}
	for i, fi := range []int{0, 2, 3} {
		w := &want[i]
		w.Packets, w.SamplingRate = 1, 1
		w.Start, w.End = frames[fi].Time, frames[fi].Time
		w.Header, w.HeaderType, w.OrigLen = frames[fi].Frame, flow.LinkTypeEthernet, uint32(len(frames[fi].Frame))
		w.SrcMAC = pktgen.MAC(w.Src)
	}
	if diff := cmp.Diff(got, want, cmpAddr); diff != "" {
		t.Fatalf("ReadFile() (-got, +want):\n%s", diff)
	}
	wantStats := pcap.Stats{Files: 1, Frames: 4, Packets: 3, Records: 3, Errors: map[string]uint64{"not_ip": 1}}
	if diff := cmp.Diff(st, wantStats); diff != "" {
		t.Fatalf("ReadFile() stats (-got, +want):\n%s", diff)
	}
}

// TestReadFileBatches: batches hold at most BatchSize records, and the
// Header bytes of a batch stay intact until the sink returns even though
// records point into the reader's buffer, which is refilled every 256 KiB:
// the capture is 1.2 MB, so that refills overwrite bytes of batches in
// progress.
func TestReadFileBatches(t *testing.T) {
	var frames []pktgen.Timed
	for i := range 3000 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), uint16(1024+i))
		frames = append(frames, pktgen.Timed{Time: int64(i), Frame: pktgen.TCP(src, netip.MustParseAddrPort("198.51.100.9:443"), flow.TCPSyn, i%700)})
	}
	path := pktgen.Capture(t, flow.LinkTypeEthernet, frames)
	cfg := pcap.DefaultConfiguration()
	cfg.BatchSize = 64
	src, err := pcap.NewSource(cfg, pcap.Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	_, err = src.ReadFile(context.Background(), path, func(recs []flow.Record) {
		if len(recs) > cfg.BatchSize {
			t.Fatalf("batch of %d records, want at most %d", len(recs), cfg.BatchSize)
		}
		for _, r := range recs {
			if string(r.Header) != string(frames[n].Frame) {
				t.Fatalf("record %d: Header differs from frame", n)
			}
			n++
		}
	})
	if err != nil || n != len(frames) {
		t.Fatalf("ReadFile() = %v after %d records, want nil after %d", err, n, len(frames))
	}
}

// splitCapture writes the frames of the capture at path into two files:
// the first n frames, then the rest.
func splitCapture(t *testing.T, path string, n int) (string, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	frames := allFrames(t, b)
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.pcap"), filepath.Join(dir, "second.pcap")
	for _, f := range []struct {
		path   string
		frames []pktgen.Timed
	}{{first, frames[:n]}, {second, frames[n:]}} {
		w, err := os.Create(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pktgen.WriteCapture(w, flow.LinkTypeEthernet, f.frames); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	return first, second
}

// TestTemplatesAcrossFiles: nfv9_netgauze_101's template is in its first
// datagram. Split there, the two files read by one Source give the records
// of the whole capture; the second read alone gives none, only
// template_not_found errors.
func TestTemplatesAcrossFiles(t *testing.T) {
	path := realCaptures(t, "nfv9_netgauze_101")[0]
	first, second := splitCapture(t, path, 1)
	whole, _ := readAll(t, pcap.DefaultConfiguration(), path)
	got, st := readAll(t, pcap.DefaultConfiguration(), first, second)
	if diff := cmp.Diff(got, whole, cmpAddr, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("two files (-got, +want whole capture):\n%s", diff)
	}
	if st.Files != 2 || st.Datagrams[pcap.NetFlowV9] != 40 {
		t.Fatalf("stats = %+v, want 2 files, 40 v9 datagrams", st)
	}
	alone, st := readAll(t, pcap.DefaultConfiguration(), second)
	if len(alone) != 0 || st.Errors["netflow_template_not_found"] != 39 {
		t.Fatalf("second file alone: %d records, errors %v; want 0 records and 39 template_not_found", len(alone), st.Errors)
	}
}

// TestPacing: at speed 1 records reach the sink when their capture time
// comes, at speed 4 four times sooner. synctest's fake clock makes the
// waits instant and exact.
func TestPacing(t *testing.T) {
	a := netip.MustParseAddrPort("203.0.113.7:40000")
	b := netip.MustParseAddrPort("198.51.100.9:443")
	t0 := time.Date(2024, 10, 23, 4, 47, 21, 0, time.UTC).UnixNano()
	offsets := []time.Duration{0, 100 * time.Microsecond, time.Second, 3 * time.Second}
	var frames []pktgen.Timed
	for _, o := range offsets {
		frames = append(frames, pktgen.Timed{Time: t0 + int64(o), Frame: pktgen.TCP(a, b, flow.TCPAck, 0)})
	}
	path := pktgen.Capture(t, flow.LinkTypeEthernet, frames)
	for _, speed := range []float64{1, 4} {
		synctest.Test(t, func(t *testing.T) {
			cfg := pcap.DefaultConfiguration()
			cfg.Speed = speed
			src, err := pcap.NewSource(cfg, pcap.Dependencies{})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			var at []time.Duration
			var sizes []int
			if _, err := src.ReadFile(context.Background(), path, func(recs []flow.Record) {
				at = append(at, time.Since(start))
				sizes = append(sizes, len(recs))
			}); err != nil {
				t.Fatal(err)
			}
			// The first two frames are 100 µs apart: one batch.
			want := []time.Duration{0, time.Duration(float64(time.Second) / speed), time.Duration(float64(3*time.Second) / speed)}
			if diff := cmp.Diff(at, want); diff != "" {
				t.Fatalf("speed %v: batch times (-got, +want):\n%s", speed, diff)
			}
			if diff := cmp.Diff(sizes, []int{2, 1, 1}); diff != "" {
				t.Fatalf("speed %v: batch sizes (-got, +want):\n%s", speed, diff)
			}
		})
	}
}

func TestPacingStopsOnCancel(t *testing.T) {
	a := netip.MustParseAddrPort("203.0.113.7:40000")
	b := netip.MustParseAddrPort("198.51.100.9:443")
	frames := []pktgen.Timed{{Time: 0, Frame: pktgen.TCP(a, b, 0, 0)}, {Time: int64(time.Hour), Frame: pktgen.TCP(a, b, 0, 0)}}
	path := pktgen.Capture(t, flow.LinkTypeEthernet, frames)
	synctest.Test(t, func(t *testing.T) {
		cfg := pcap.DefaultConfiguration()
		cfg.Speed = 1
		src, _ := pcap.NewSource(cfg, pcap.Dependencies{})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n := 0
		_, err := src.ReadFile(ctx, path, func(recs []flow.Record) { n += len(recs) })
		if !errors.Is(err, context.DeadlineExceeded) || n != 1 {
			t.Fatalf("ReadFile() = %v after %d records, want deadline exceeded after 1", err, n)
		}
	})
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	good := pktgen.Capture(t, flow.LinkTypeEthernet, []pktgen.Timed{
		{Time: 1, Frame: pktgen.TCP(netip.MustParseAddrPort("203.0.113.7:1"), netip.MustParseAddrPort("198.51.100.9:2"), 0, 0)},
		{Time: 2, Frame: pktgen.TCP(netip.MustParseAddrPort("203.0.113.7:1"), netip.MustParseAddrPort("198.51.100.9:2"), 0, 0)},
	})
	data, _ := os.ReadFile(good)
	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, data[:len(data)-10], 0o644)
	notPcap := filepath.Join(dir, "text.pcap")
	os.WriteFile(notPcap, []byte("this is not a capture file\n"), 0o644)
	tests := []struct {
		path    string
		records int
		want    []string
	}{
		{filepath.Join(dir, "missing.pcap"), 0, []string{"missing.pcap", "no such file"}},
		{notPcap, 0, []string{"text.pcap", "offset 0"}},
		{cut, 1, []string{"cut.pcap", "record at offset 94", "unexpected EOF"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			src, _ := pcap.NewSource(pcap.DefaultConfiguration(), pcap.Dependencies{})
			n := 0
			_, err := src.ReadFile(context.Background(), tt.path, func(recs []flow.Record) { n += len(recs) })
			if err == nil {
				t.Fatal("ReadFile() = nil error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("ReadFile() error %q does not contain %q", err, w)
				}
			}
			if n != tt.records {
				t.Fatalf("ReadFile() delivered %d records before the error, want %d", n, tt.records)
			}
		})
	}
}

func TestConfigurationValidate(t *testing.T) {
	ok := pcap.DefaultConfiguration()
	if err := ok.Validate(); err != nil {
		t.Fatalf("DefaultConfiguration().Validate() = %v", err)
	}
	bad := pcap.Configuration{FlowExports: "yes", Speed: -1, BatchSize: 0}
	err := bad.Validate()
	for _, w := range []string{"flow_exports", "speed", "batch_size"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Fatalf("Validate() = %v, want a complaint about %s", err, w)
		}
	}
}

// TestReusedBatchSlots: Source reuses its batch's record slots without
// zeroing them, so packet records read after flow records (which set
// exporter, interfaces, direction, sampling) must carry nothing of those:
// they equal what a fresh Source reads. flow.Record's fields are counted so
// that a new one is not forgotten in Source.frame's reset.
func TestReusedBatchSlots(t *testing.T) {
	if n := reflect.TypeFor[flow.Record]().NumField(); n != 20 {
		t.Fatalf("flow.Record has %d fields, not 20: check that Source.frame sets or DecodePayload resets the new ones, then update this test", n)
	}
	var frames []pktgen.Timed
	for i := range 3000 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), uint16(1024+i))
		dst := netip.MustParseAddrPort("198.51.100.9:443")
		f := pktgen.TCP(src, dst, flow.TCPAck, i%200)
		if i%3 == 0 {
			f = pktgen.UDP(dst, src, i%100)
		}
		frames = append(frames, pktgen.Timed{Time: int64(i) * 1000, Frame: f})
	}
	packets := pktgen.Capture(t, flow.LinkTypeEthernet, frames)
	cfg := pcap.DefaultConfiguration()
	cfg.BatchSize = 64
	src, err := pcap.NewSource(cfg, pcap.Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	flows := 0
	for _, p := range flowCaptures(t) {
		st, err := src.ReadFile(context.Background(), p, func([]flow.Record) {})
		if err != nil {
			t.Fatalf("ReadFile(%s): %v", p, err)
		}
		flows += int(st.Flows)
	}
	if flows < 2*cfg.BatchSize {
		t.Fatalf("%d flow records read first, want two batches' worth (%d) to dirty every slot", flows, 2*cfg.BatchSize)
	}
	var got []flow.Record
	if _, err := src.ReadFile(context.Background(), packets, collect(&got)); err != nil {
		t.Fatal(err)
	}
	want, _ := readAll(t, cfg, packets)
	if diff := cmp.Diff(got, want, cmpAddr); diff != "" {
		t.Fatalf("records after flow records (-got, +want):\n%s", diff)
	}
}
