package detect

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"abuseguard/detect/ipkey"
	"abuseguard/flow"
)

func TestDumpSharesWrittenBytes(t *testing.T) {
	// Reports handed out earlier keep their bytes while the dump grows.
	d := newDump(100, 8)
	src := ipkey.From(netip.MustParseAddr("203.0.113.7"))
	add := func(i int) {
		r := rec(at(0), "203.0.113.7", ext(i), flow.ProtoUDP, 1, 2, 0, 60)
		r.Header = bytes.Repeat([]byte{byte(i)}, 20) // cut to snaplen 8
		d.addRecord(&r, src, ipkey.From(r.Dst), 8)
	}
	add(0)
	early := slices.Clone(d.samples)
	for i := 1; i < 150; i++ {
		add(i)
	}
	if !bytes.Equal(early[0].Data, bytes.Repeat([]byte{0}, 8)) {
		t.Fatalf("early report's data changed: %v", early[0].Data)
	}
	if len(d.samples) != 100 {
		t.Fatalf("dump holds %d samples, want the cap 100", len(d.samples))
	}
	for i, s := range d.samples {
		if !bytes.Equal(s.Data, bytes.Repeat([]byte{byte(i)}, 8)) {
			t.Fatalf("sample %d data %v", i, s.Data)
		}
	}
}

func TestSampleRingWraps(t *testing.T) {
	r := newSampleRing(4, 8)
	for i := 0; i < 6; i++ {
		x := rec(at(0), "203.0.113.7", ext(i), flow.ProtoUDP, 1, uint16(i), 0, 60)
		x.Header = []byte{byte(i)}
		r.push(&x, ipkey.From(x.Src), ipkey.From(x.Dst))
	}
	var ports []uint16
	r.each(func(s *sample, data []byte) {
		ports = append(ports, s.dstPort)
		if len(data) != 1 || data[0] != byte(s.dstPort) {
			t.Fatalf("sample %d data %v", s.dstPort, data)
		}
	})
	if !slices.Equal(ports, []uint16{2, 3, 4, 5}) {
		t.Fatalf("ring holds %v, want the last 4, oldest first", ports)
	}
}

// TestSampleLength checks the mean length a sample and its attempt carry:
// the packet's for a packet, bytes over packets for a flow record.
func TestSampleLength(t *testing.T) {
	tests := []struct {
		name           string
		packets, bytes uint64
		want           uint32
	}{
		{"packet", 1, 60, 60},
		{"packet count unknown", 0, 60, 60},
		{"flow", 10, 15000, 1500},
		{"flow, mean rounded down", 3, 100, 33},
		{"flow, mean past 32 bits", 1, 1 << 40, 1<<32 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec(at(0), "203.0.113.7", ext(1), flow.ProtoTCP, 40000, 23, 0, 0)
			r.Packets, r.Bytes = tt.packets, tt.bytes
			s := makeSample(&r, ipkey.From(r.Src), ipkey.From(r.Dst))
			if got := s.length(); got != tt.want {
				t.Fatalf("length() = %d, want %d", got, tt.want)
			}
			if got := sampleAttempt(&s).Size; got != tt.want {
				t.Fatalf("sampleAttempt().Size = %d, want %d", got, tt.want)
			}
			d := newDump(1, 8)
			d.add(&s, nil)
			if got := d.samples[0].Length; got != tt.want {
				t.Fatalf("PacketSample.Length = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestPushMatchesMakeSample: push writes a slot field by field; it must
// hold what makeSample makes, and a flow record reusing a packet's slot
// must not keep the packet's header length.
func TestPushMatchesMakeSample(t *testing.T) {
	ring := newSampleRing(1, 8)
	pkt := rec(at(0), "203.0.113.7", ext(1), flow.ProtoTCP, 40000, 23, 0, 60)
	pkt.Header, pkt.HeaderType, pkt.OrigLen = bytes.Repeat([]byte{1}, 20), flow.LinkTypeEthernet, 74
	fl := rec(at(1e9), "203.0.113.7", ext(2), flow.ProtoUDP, 53, 5353, 0, 0)
	fl.Packets, fl.Bytes, fl.SamplingRate, fl.Start = 10, 15000, 100, at(0)
	for _, r := range []flow.Record{pkt, fl} {
		src, dst := ipkey.From(r.Src), ipkey.From(r.Dst)
		ring.push(&r, src, dst)
		want := makeSample(&r, src, dst)
		want.dlen = uint16(min(len(r.Header), 8))
		if ring.slots[0] != want {
			t.Fatalf("push() slot = %+v, want %+v", ring.slots[0], want)
		}
	}
}
