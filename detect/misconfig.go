package detect

import (
	"abuseguard/detect/flat"
	"cmp"
	"slices"
	"time"

	"abuseguard"
	"abuseguard/detect/ipkey"
	"abuseguard/detect/window"
	"abuseguard/flow"
)

// privState counts the distinct private or reserved destinations one
// customer address sent to within the misconfiguration window (M5).
type privState struct {
	dsts      map[ipkey.Key]privDst
	sum       uint64 // weighted distinct destinations
	seen      uint32 // observed distinct destinations
	lastSweep int64
}

// privDst is one private destination, with its first packet for the log.
type privDst struct {
	first, last      int64
	weight           uint32
	srcPort, dstPort uint16
	size             uint16
	proto            uint8
}

func (p *privState) reset() {
	clear(p.dsts)
	p.sum, p.seen, p.lastSweep = 0, 0, 0
}

// expire drops destinations last seen before cutoff.
func (p *privState) expire(cutoff, now int64) {
	p.lastSweep = now
	for k, d := range p.dsts {
		if d.last < cutoff {
			p.sum -= uint64(d.weight)
			p.seen--
			delete(p.dsts, k)
		}
	}
}

// private handles an outgoing record to a private or reserved destination.
// Distinct destinations count like netscan contacts: weighted by the
// sampling rate, with at least min(threshold, MinObserved) observed.
func (s *shard) private(slot int32, n *addrNode, r *flow.Record, dst ipkey.Key, t int64, lim *limits) {
	v := &n.v
	p := s.privTable(v, lim)
	t = max(t, satAdd(s.now, -lim.misWindow))
	d := v.det[slotPrivate]
	if e, ok := p.dsts[dst]; ok {
		if satSub(t, e.last) >= int64(time.Second) {
			e.last = t
			p.dsts[dst] = e
		}
		if d != nil {
			d.last = max(d.last, t)
		}
	} else {
		if len(p.dsts) >= s.cfg.MaxContacts {
			s.st[stDropContact]++
			return
		}
		w := uint32(min(r.Rate(), 1<<32-1))
		e := privDst{first: t, last: t, weight: w, srcPort: r.SrcPort, dstPort: r.DstPort, size: meanSize(r), proto: r.Proto}
		p.dsts[dst] = e
		p.sum += uint64(w)
		p.seen++
		if d != nil {
			s.addPrivate(d, n.key, dst, e)
		}
	}
	if p.sum < lim.private || uint64(p.seen) < min(lim.private, uint64(lim.minObserved)) {
		return
	}
	if d != nil {
		d.lastAbove = s.now
		d.value = max(d.value, float64(p.sum))
		d.distinct = max(d.distinct, p.sum)
		s.progress(n, slotPrivate)
		return
	}
	s.openPrivate(n, slot, p, lim)
}

func (s *shard) privTable(v *addrState, lim *limits) *privState {
	if v.priv == nil {
		v.priv = &privState{dsts: make(map[ipkey.Key]privDst), lastSweep: s.now}
	}
	if satSub(s.now, v.priv.lastSweep) >= lim.misSweep {
		v.priv.expire(satAdd(s.now, -lim.misWindow), s.now)
	}
	return v.priv
}

func (s *shard) addPrivate(d *openDet, src, dst ipkey.Key, e privDst) {
	d.attemptsTotal++
	if len(d.attempts) < s.cfg.MaxAttempts {
		d.attempts = append(d.attempts, abuseguard.Attempt{
			Time: time.Unix(0, e.first).UTC(), Src: src.Addr(), SrcPort: e.srcPort,
			Dst: dst.Addr(), DstPort: e.dstPort, Proto: e.proto, Size: uint32(e.size),
		})
	}
	d.pkts += uint64(e.weight)
	d.bytes += uint64(e.weight) * uint64(e.size)
	d.rate = max(d.rate, e.weight)
	d.last = max(d.last, e.last)
}

func (s *shard) openPrivate(n *addrNode, slot int32, p *privState, lim *limits) {
	type ref struct {
		k ipkey.Key
		e privDst
	}
	refs := make([]ref, 0, len(p.dsts))
	for k, e := range p.dsts {
		refs = append(refs, ref{k, e})
	}
	slices.SortFunc(refs, func(a, b ref) int {
		if c := cmp.Compare(a.e.first, b.e.first); c != 0 {
			return c
		}
		if c := cmp.Compare(a.k.Hi, b.k.Hi); c != 0 {
			return c
		}
		return cmp.Compare(a.k.Lo, b.k.Lo)
	})
	d := s.openAddrDet(n, slot, slotPrivate, "", refs[0].e.first, float64(lim.private), "destinations")
	for _, r := range refs {
		s.addPrivate(d, n.key, r.k, r.e)
	}
	d.value, d.distinct = float64(p.sum), p.sum
	s.emit(n, slotPrivate, false)
}

// evalPrivate re-evaluates an open private-destination detection.
func (s *shard) evalPrivate(n *addrNode, lim *limits) {
	v := &n.v
	above := false
	if v.priv != nil {
		p := s.privTable(v, lim)
		above = p.sum >= lim.private && uint64(p.seen) >= min(lim.private, uint64(lim.minObserved))
	}
	s.keepOrEnd(n, slotPrivate, above, lim.misQuiet, lim.maxDuration)
}

// srcKey identifies the sender of unassigned or spoofed traffic: its MAC
// address when the record has one (a misconfigured server using many wrong
// addresses is one detection), else the source address (unassigned) or the
// exporter interface it came in on (spoofed: keying spoofed traffic by its
// random source addresses would never reach a threshold).
type srcKey struct {
	a    ipkey.Key
	b    uint64
	kind uint8
}

// srcKey kinds; keySpoofed is or-ed in for spoofed sources, so the two
// conditions of one MAC are separate detections.
const (
	keyMAC uint8 = 1 + iota
	keyAddr
	keyPort
	keySpoofed uint8 = 0x80
)

// hash picks k's shard: the same in every run.
func (k srcKey) hash() uint64 {
	return ipkey.Mix(k.a.Hash() ^ ipkey.Mix(k.b) ^ uint64(k.kind))
}

// indexHash is k's keyed hash in its shard's index. b is at most 48 bits
// (a MAC, an interface index), so kind above it cannot cancel it out.
func (k srcKey) indexHash() uint64 {
	return flat.Hash3(k.a.Hi, k.a.Lo, k.b^uint64(k.kind)<<56)
}

// sourceKey returns the misconfiguration key of r, whose source class is cs.
func (e *Engine) sourceKey(r *flow.Record, cs flow.Class) srcKey {
	var spoofed uint8
	if !cs.Provider() {
		spoofed = keySpoofed
	}
	switch {
	case r.SrcMAC != 0:
		return srcKey{b: r.SrcMAC, kind: keyMAC | spoofed}
	case spoofed == 0:
		return srcKey{a: ipkey.From(r.Src), kind: keyAddr}
	default:
		var ex ipkey.Key
		if r.Exporter.IsValid() {
			ex = ipkey.From(r.Exporter)
		}
		return srcKey{a: ex, b: uint64(r.InIf), kind: keyPort | spoofed}
	}
}

// srcState is the state of one misconfiguration key.
type srcState struct {
	epoch   uint32
	group   uint16
	server  int32
	ring    window.Ring
	start   int64     // first record since the window was last empty
	first   ipkey.Key // the first wrong source address seen
	sources map[ipkey.Key]struct{}
	det     *openDet
	listed  bool
	dump    *dump
}

// maxSourceSet bounds the distinct wrong source addresses remembered per
// key; Distinct then reads "at least".
const maxSourceSet = 1024

// misc handles a record from an unassigned or spoofed source.
func (s *shard) misc(r *flow.Record, cs flow.Class, src, dst ipkey.Key, start, end int64) {
	k := s.e.sourceKey(r, cs)
	slot, n := s.source(k, cs, src)
	v := &n.v
	lim := s.e.limitsOf(v.group)
	th := lim.unassigned
	if k.kind&keySpoofed != 0 {
		th = lim.spoofed
	}
	if th == 0 {
		return
	}
	w := r.Rate()
	pk, by := max(r.Packets, 1)*w, r.Bytes*w
	v.ring.Advance(s.now, lim.misBucket)
	if p, _, _ := v.ring.Sums(); p == 0 {
		// Buckets are a tenth of the window (30 s by default): too coarse
		// for FirstSeen, so the episode's start is kept apart.
		v.start = max(start, satAdd(s.now, -lim.misWindow))
	}
	if v.ring.Add(start, end, s.now, lim.misBucket, pk, by, max(r.Packets, 1)) {
		s.st[stClamped]++
	}
	if len(v.sources) < maxSourceSet {
		v.sources[src] = struct{}{}
	}
	p, b, recs := v.ring.Sums()
	above := p >= th && uint64(recs) >= min(th, uint64(lim.minObserved))
	d := v.det
	if d == nil && above {
		d = s.openSource(n, slot, k, th, lim)
		d.pkts, d.bytes = p, b
		s.sourceFigures(d, lim, p, b, v)
		d.last = end
		d.rate = uint32(min(w, 1<<32-1))
		// The crossing record is not in the sample ring yet (it is pushed
		// after the detectors ran), so openSource did not see it.
		s.sourceAttempt(d, r, end)
		s.emitSource(n, false)
	} else if d != nil {
		s.sourceAttempt(d, r, end)
		d.pkts += pk
		d.bytes += by
		d.last = max(d.last, end)
		d.rate = max(d.rate, uint32(min(w, 1<<32-1)))
		s.sourceFigures(d, lim, p, b, v)
		if above {
			d.lastAbove = s.now
		}
		if d.value >= progressFactor*d.reported {
			s.emitSource(n, false)
		}
	}
	if v.dump != nil {
		v.dump.addRecord(r, src, dst, s.cfg.Snaplen)
	}
}

// sourceAttempt adds a record from a wrong source to the detection's
// evidence.
func (s *shard) sourceAttempt(d *openDet, r *flow.Record, end int64) {
	d.attemptsTotal++
	if len(d.attempts) < s.cfg.MaxAttempts {
		d.attempts = append(d.attempts, abuseguard.Attempt{
			Time: time.Unix(0, end).UTC(), Src: r.Src, SrcPort: r.SrcPort,
			Dst: r.Dst, DstPort: r.DstPort, Proto: r.Proto, Size: uint32(meanSize(r)),
		})
	}
}

func (s *shard) sourceFigures(d *openDet, lim *limits, p, b uint64, v *srcState) {
	sec := float64(lim.misWindow) / 1e9
	d.value = max(d.value, float64(p))
	d.pps = max(d.pps, float64(p)/sec)
	d.bps = max(d.bps, float64(b)*8/sec)
	d.distinct = max(d.distinct, uint64(len(v.sources)))
}

// source returns the state of misconfiguration key k.
func (s *shard) source(k srcKey, cs flow.Class, src ipkey.Key) (int32, *srcNode) {
	if i := s.srcs.get(k); i >= 0 {
		n := s.srcs.node(i)
		if n.v.epoch != s.epoch {
			s.resetSource(n, cs, src, k)
			n.active = s.now
		}
		s.srcs.touch(i, n, s.now)
		return i, n
	}
	if s.srcs.full() {
		t := s.srcs.victim(s.now)
		if n := s.srcs.node(t); n.v.det != nil {
			s.endSource(n)
		}
		s.srcs.remove(t)
		s.st[stEvictSource]++
	}
	i := s.srcs.insert(k, s.now)
	n := s.srcs.node(i)
	s.resetSource(n, cs, src, k)
	return i, n
}

func (s *shard) resetSource(n *srcNode, cs flow.Class, src ipkey.Key, k srcKey) {
	v := &n.v
	if v.sources == nil {
		v.sources = make(map[ipkey.Key]struct{})
	} else {
		clear(v.sources)
	}
	v.ring.Reset()
	v.epoch, v.group, v.first, v.det, v.dump = s.epoch, cs.Group, src, nil, nil
	v.server = -1
	if k.kind&^keySpoofed == keyMAC {
		v.server = s.e.inv.ServerByMAC(k.b)
	}
}

// evalSource re-evaluates an open misconfiguration-source detection.
func (s *shard) evalSource(n *srcNode) {
	v := &n.v
	lim := s.e.limitsOf(v.group)
	th := lim.unassigned
	if n.key.kind&keySpoofed != 0 {
		th = lim.spoofed
	}
	v.ring.Advance(s.now, lim.misBucket)
	p, b, recs := v.ring.Sums()
	s.sourceFigures(v.det, lim, p, b, v)
	d := v.det
	if p >= th && uint64(recs) >= min(th, uint64(lim.minObserved)) {
		d.lastAbove = s.now
	}
	if satSub(s.now, d.lastAbove) >= lim.misQuiet || satSub(s.now, d.opened) >= lim.maxDuration {
		s.endSource(n)
	}
}
