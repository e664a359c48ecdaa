//go:build linux

package afpacket

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"abuseguard/flow"
	"abuseguard/testutil/pktgen"
)

// fakeBlock lays out frames in a TPACKET_V3 block as the kernel does:
// block descriptor, then each packet's tpacket3_hdr, sockaddr_ll room and
// frame, 16-byte aligned, chained by tp_next_offset.
func fakeBlock(size int, frames [][]byte) []byte {
	blk := make([]byte, size)
	const first = 48 // block descriptor, aligned
	binary.NativeEndian.PutUint32(blk[blockNumOff:], uint32(len(frames)))
	binary.NativeEndian.PutUint32(blk[blockFirstOff:], first)
	off := first
	for i, f := range frames {
		h := blk[off:]
		mac := pktHeaderLen + 32 // room for sockaddr_ll, as the kernel leaves
		binary.NativeEndian.PutUint32(h[pktSecOff:], 1729658841)
		binary.NativeEndian.PutUint32(h[pktNsecOff:], uint32(i))
		binary.NativeEndian.PutUint32(h[pktSnapOff:], uint32(len(f)))
		binary.NativeEndian.PutUint32(h[pktLenOff:], uint32(len(f)))
		binary.NativeEndian.PutUint16(h[pktMacOff:], uint16(mac))
		copy(h[mac:], f)
		next := (mac + len(f) + 15) &^ 15
		if i < len(frames)-1 {
			binary.NativeEndian.PutUint32(h[pktNextOff:], uint32(next))
		}
		off += next
	}
	return blk
}

func testRing(b testing.TB, cfg Configuration) *ring {
	m, err := newMetrics(prometheus.NewRegistry(), cfg.Interface)
	if err != nil {
		b.Fatal(err)
	}
	return &ring{cfg: cfg, m: m, fd: -1, wakeFD: -1, linkType: flow.LinkTypeEthernet, skip: cfg.SamplingRate - 1,
		recs: make([]flow.Record, 0, cfg.BatchSize)}
}

// TestBlock: every frame of a block becomes a record, in order, with its
// time, lengths and header cut to HeaderBytes.
func TestBlock(t *testing.T) {
	var frames [][]byte
	for i := range 100 {
		frames = append(frames, pktgen.TCP(netip.AddrPortFrom(netip.MustParseAddr("203.0.113.7"), uint16(i)), netip.MustParseAddrPort("198.51.100.9:443"), flow.TCPSyn, i))
	}
	cfg := DefaultConfiguration("test0")
	cfg.HeaderBytes = 60
	cfg.BatchSize = 7
	r := testRing(t, cfg)
	var got []flow.Record
	r.block(fakeBlock(1<<20, frames), func(recs []flow.Record) {
		if len(recs) > 7 {
			t.Fatalf("batch of %d > BatchSize", len(recs))
		}
		got = append(got, recs...)
	})
	if len(got) != len(frames) {
		t.Fatalf("%d records, want %d", len(got), len(frames))
	}
	for i, rec := range got {
		if rec.SrcPort != uint16(i) || rec.Start != 1729658841e9+int64(i) || rec.OrigLen != uint32(len(frames[i])) ||
			len(rec.Header) != min(60, len(frames[i])) || rec.SamplingRate != 1 {
			t.Fatalf("record %d = %+v", i, rec)
		}
	}
}

// BenchmarkBlock is the reader's cost per packet, without the kernel:
// walk a block of 1000 frames, decode each, batch them to a sink.
//
//	go test -run '^$' -bench BenchmarkBlock -benchmem ./input/afpacket/
func BenchmarkBlock(b *testing.B) {
	for _, rate := range []uint32{1, 100} {
		b.Run("1-in-"+itoa(rate), func(b *testing.B) {
			var frames [][]byte
			for i := range 1000 {
				frames = append(frames, pktgen.TCP(netip.AddrPortFrom(netip.MustParseAddr("203.0.113.7"), uint16(i)), netip.MustParseAddrPort("198.51.100.9:443"), flow.TCPAck, 100+i%1300))
			}
			blk := fakeBlock(2<<20, frames)
			cfg := DefaultConfiguration("test0")
			cfg.SamplingRate = rate
			r := testRing(b, cfg)
			n := 0
			sink := func(recs []flow.Record) { n += len(recs) }
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r.block(blk, sink)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/packet")
			b.ReportMetric(float64(b.N*len(frames))/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

func itoa(v uint32) string {
	if v == 1 {
		return "1"
	}
	return "100"
}
