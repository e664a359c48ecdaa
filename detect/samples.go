package detect

import (
	"time"

	"abuseguard"
	"abuseguard/detect/ipkey"
	"abuseguard/flow"
)

// sampleRing keeps a shard's most recent packets for the traffic dump (M3),
// in fixed slots with a snaplen-bounded copy of each header: pushing is a
// copy into memory allocated once, never an allocation. When a detection
// starts, the address's packets are taken from here, so the dump shows the
// traffic that led to it and not only what followed.
type sampleRing struct {
	slots   []sample
	data    []byte // len(slots) * snaplen
	snaplen int
	next    int
	filled  bool
}

// sample is one packet (or flow record) in the ring, pointer-free.
type sample struct {
	t                int64
	src, dst         ipkey.Key
	srcPort, dstPort uint16
	proto, tcpFlags  uint8
	link             flow.LinkType
	origLen          uint32
	bytes, packets   uint64 // bytes / packets is the mean length: see length
	rate             uint32
	dlen             uint16
}

func newSampleRing(slots, snaplen int) sampleRing {
	return sampleRing{slots: make([]sample, slots), data: make([]byte, slots*snaplen), snaplen: snaplen}
}

func (s *sampleRing) push(r *flow.Record, src, dst ipkey.Key) {
	if len(s.slots) == 0 {
		return
	}
	// Field by field into the slot: assigning a whole sample built the
	// value on the stack, zeroed and copied it (about 70 instructions of
	// the engine's 1 500 a NetFlow v5 record, cachegrind), and copying an
	// empty header still called memmove.
	i := s.next
	sl := &s.slots[i]
	sl.t, sl.src, sl.dst = r.End, src, dst
	sl.srcPort, sl.dstPort, sl.proto, sl.tcpFlags = r.SrcPort, r.DstPort, r.Proto, r.TCPFlags
	sl.link, sl.origLen = r.HeaderType, r.OrigLen
	sl.bytes, sl.packets, sl.rate = r.Bytes, max(r.Packets, 1), uint32(min(r.Rate(), 1<<32-1))
	sl.dlen = 0
	if len(r.Header) > 0 {
		sl.dlen = uint16(copy(s.data[i*s.snaplen:(i+1)*s.snaplen], r.Header))
	}
	if s.next++; s.next == len(s.slots) {
		s.next, s.filled = 0, true
	}
}

// makeSample is the sample of r; push writes the same fields in place.
func makeSample(r *flow.Record, src, dst ipkey.Key) sample {
	return sample{
		t: r.End, src: src, dst: dst,
		srcPort: r.SrcPort, dstPort: r.DstPort, proto: r.Proto, tcpFlags: r.TCPFlags,
		link: r.HeaderType, origLen: r.OrigLen,
		bytes: r.Bytes, packets: max(r.Packets, 1), rate: uint32(min(r.Rate(), 1<<32-1)),
	}
}

// length returns the sample's IP length: the packet's, or a flow record's
// mean per packet. It is computed when a sample is read, not when it is
// pushed: a 64-bit division costs up to 45 cycles, and every flow record
// is pushed into the ring while few are ever read from it.
func (s *sample) length() uint32 {
	if s.packets <= 1 {
		return uint32(min(s.bytes, 1<<32-1))
	}
	return uint32(min(s.bytes/s.packets, 1<<32-1))
}

// perPacket returns r's bytes per packet. A 64-bit division costs up to 45
// cycles: it is skipped for a single packet, which every packet record
// is.
func perPacket(r *flow.Record) uint64 {
	if r.Packets <= 1 {
		return r.Bytes
	}
	return r.Bytes / r.Packets
}

// each calls fn for the ring's samples, oldest first, with their bytes.
func (s *sampleRing) each(fn func(*sample, []byte)) {
	n := s.next
	if s.filled {
		n = len(s.slots)
	}
	for k := 0; k < n; k++ {
		i := k
		if s.filled {
			i = (s.next + k) % len(s.slots)
		}
		off := i * s.snaplen
		fn(&s.slots[i], s.data[off:off+int(s.slots[i].dlen)])
	}
}

// dump is the traffic dump of one address (or misconfiguration source)
// while it has a detection open. Its bytes are written once and never
// overwritten, so reports already handed to the sink can share them: when
// the arena grows, earlier samples keep pointing into the old array, which
// stays as it was. It grows as samples come rather than being allocated at
// its cap: a full dump is ~130 kB (500 samples), and a carpet-bombing flood
// can open detections on thousands of addresses at once.
type dump struct {
	samples []abuseguard.PacketSample
	arena   []byte
	max     int
}

func newDump(max, snaplen int) *dump {
	return &dump{samples: make([]abuseguard.PacketSample, 0, min(max, 16)), arena: make([]byte, 0, min(max, 16)*snaplen), max: max}
}

func (d *dump) full() bool { return len(d.samples) >= d.max }

// add appends one sample; data is copied.
func (d *dump) add(s *sample, data []byte) {
	if d.full() {
		return
	}
	off := len(d.arena)
	d.arena = append(d.arena, data...)
	ps := abuseguard.PacketSample{
		Time: time.Unix(0, s.t).UTC(), Src: s.src.Addr(), Dst: s.dst.Addr(),
		SrcPort: s.srcPort, DstPort: s.dstPort, Proto: s.proto, TCPFlags: s.tcpFlags,
		Length: s.length(), Packets: s.packets, SamplingRate: s.rate,
	}
	if len(data) > 0 {
		ps.LinkType = uint16(s.link)
		ps.OrigLen = s.origLen
		ps.Data = d.arena[off:len(d.arena):len(d.arena)]
	}
	d.samples = append(d.samples, ps)
}

// addRecord appends r, its header cut to snaplen.
func (d *dump) addRecord(r *flow.Record, src, dst ipkey.Key, snaplen int) {
	if d.full() {
		return
	}
	s := makeSample(r, src, dst)
	h := r.Header
	if len(h) > snaplen {
		h = h[:snaplen]
	}
	d.add(&s, h)
}
