package detect

import (
	"abuseguard/detect/flat"
	"math"
	"sync/atomic"

	"abuseguard/detect/ipkey"
	"abuseguard/detect/scan"
	"abuseguard/detect/topk"
	"abuseguard/detect/window"
	"abuseguard/flow"
)

// shard holds the state of the customer addresses (and misconfiguration
// sources) that hash to it, and its own event clock. It is driven by one
// goroutine at a time: Process's caller, or its own goroutine after Start.
type shard struct {
	id  int
	e   *Engine
	cfg *Configuration

	// now is the latest event time seen (Unix ns); see advance.
	now     int64
	started bool
	nextHK  int64
	late    int    // consecutive records older than the longest window
	epoch   uint32 // bumped by a time reset; older state is stale
	seq     uint64 // detections opened, part of their IDs

	addrs   *lru[ipkey.Key, addrState]
	srcs    *lru[srcKey, srcState]
	pending pendingQueue

	// Slots with open detections, and with active top-K summaries, so that
	// housekeeping visits only those, not every tracked address.
	openAddrs []int32
	openSrcs  []int32
	topAddrs  []int32
	topActive int
	peerPool  []*topk.Summary[ipkey.Key]
	svcPool   []*topk.Summary[scan.Service]

	ring sampleRing

	// Counters, written only by the owner; published to pub (read by the
	// metrics collector) at the end of each batch, so that the hot path pays
	// a plain increment instead of an atomic one.
	st  [nStats]uint64
	pub [nStats]atomic.Uint64
}

// addrState is everything detect keeps of one customer address.
type addrState struct {
	epoch  uint32
	group  uint16
	server int32

	out, in window.Ring
	// bs counts outgoing replies excluded from the packet limit because
	// incoming traffic explains them (explainBackscatter); allocated for
	// addresses that send any.
	bs *window.Ring

	// Top-K summaries, active only while the address's rate is above
	// TopKActivation of a threshold.
	outTop, inTop     *topk.Summary[ipkey.Key]
	inSvc             *topk.Summary[scan.Service]
	outSince, inSince int64
	topDenied         bool // MaxTopK was reached; counted once

	scan *scan.Table
	priv *privState

	det       [numSlots]*openDet
	open      uint8 // non-nil entries of det
	listed    bool  // in shard.openAddrs
	topListed bool  // in shard.topAddrs
	dump      *dump
}

func newShard(id int, e *Engine) *shard {
	return &shard{
		id: id, e: e, cfg: &e.cfg,
		addrs:   newLRU[ipkey.Key, addrState](e.perShard(e.cfg.MaxAddresses), addrHash),
		srcs:    newLRU[srcKey, srcState](e.perShard(e.cfg.MaxSources), srcKey.indexHash),
		ring:    newSampleRing(e.cfg.SampleRing, e.cfg.Snaplen),
		pending: pendingQueue{headDue: math.MaxInt64},
	}
}

// addrHash is the keyed hash of the address index (not ipkey.Key.Hash,
// which picks shards and must be the same in every run).
func addrHash(k ipkey.Key) uint64 { return flat.Hash2(k.Hi, k.Lo) }

// perShard splits a total cap among the shards, rounding up.
func (e *Engine) perShard(total int) int {
	return max(1, (total+e.cfg.Shards-1)/e.cfg.Shards)
}

// handle runs one record through the detectors its roles select.
func (s *shard) handle(r *flow.Record, m *meta, roles uint8) {
	start, end := r.Start, r.End
	if end < start {
		end = start
	}
	s.advance(end)
	s.st[stRecords]++
	s.promoteDue()
	if roles&roleOut != 0 {
		s.out(r, m, start, end)
	}
	if roles&roleIn != 0 {
		s.in(r, m, start, end)
	}
	if roles&roleMisc != 0 {
		s.misc(r, m.cs, m.src, m.dst, start, end)
	}
	s.ring.push(r, m.src, m.dst)
}

// advance moves the shard's clock to t, the time of a record.
//
// A later t moves now forward (running housekeeping when it is due; a jump
// of years is one housekeeping that finds everything quiet and idle). An
// earlier t leaves now alone: the detectors clamp it into their windows.
// lateReset consecutive records older than the longest window mean the
// clock is what is wrong: it is reset to t.
func (s *shard) advance(t int64) {
	// Inlined: most records are at or after now and before the next
	// housekeeping. (Before the first record now and nextHK are both 0:
	// no t passes.)
	if t >= s.now && t < s.nextHK {
		s.now, s.late = t, 0
		return
	}
	s.advanceSlow(t)
}

func (s *shard) advanceSlow(t int64) {
	switch {
	case !s.started:
		s.started, s.now = true, t
		s.nextHK = satAdd(t, housekeepingInterval)
	case t > s.now:
		s.now, s.late = t, 0
		if t >= s.nextHK {
			s.housekeeping()
		}
	case t < satAdd(s.now, -s.e.maxWindow):
		s.st[stLate]++
		if s.late++; s.late >= lateReset {
			s.reanchor(t)
		}
	default:
		s.late = 0
	}
}

// tick advances the clock without a record.
func (s *shard) tick(t int64) {
	if !s.started || t <= s.now {
		return
	}
	s.now, s.late = t, 0
	s.housekeeping()
	s.promoteDue()
}

// reanchor resets the clock to t after a run of records far behind it:
// every open detection ends, and all state becomes stale (reset lazily when
// next touched, or freed by housekeeping).
func (s *shard) reanchor(t int64) {
	s.e.log.Warn("event time went back; shard state reset",
		"shard", s.id, "records_late", s.late, "from_ns", s.now, "to_ns", t)
	s.endAll()
	s.epoch++
	s.pending.clear()
	s.now, s.late = t, 0
	s.nextHK = satAdd(t, housekeepingInterval)
	s.st[stTimeResets]++
}

// housekeeping ends detections that have gone quiet, releases top-K
// summaries no longer needed and frees idle addresses.
func (s *shard) housekeeping() {
	s.nextHK = satAdd(s.now, housekeepingInterval)
	s.promoteDue()
	for i := 0; i < len(s.openAddrs); {
		n := s.addrs.node(s.openAddrs[i])
		if n.live && n.v.open > 0 {
			s.evalAddr(n)
		}
		if !n.live || n.v.open == 0 {
			n.v.listed = false
			s.openAddrs[i] = s.openAddrs[len(s.openAddrs)-1]
			s.openAddrs = s.openAddrs[:len(s.openAddrs)-1]
			continue
		}
		i++
	}
	for i := 0; i < len(s.openSrcs); {
		n := s.srcs.node(s.openSrcs[i])
		if n.live && n.v.det != nil {
			s.evalSource(n)
		}
		if !n.live || n.v.det == nil {
			n.v.listed = false
			s.openSrcs[i] = s.openSrcs[len(s.openSrcs)-1]
			s.openSrcs = s.openSrcs[:len(s.openSrcs)-1]
			continue
		}
		i++
	}
	for i := 0; i < len(s.topAddrs); {
		n := s.addrs.node(s.topAddrs[i])
		if n.live {
			s.takeTopEvictions(&n.v)
			s.maybeDeactivate(n)
		}
		if !n.live || (n.v.outTop == nil && n.v.inTop == nil) {
			n.v.topListed = false
			s.topAddrs[i] = s.topAddrs[len(s.topAddrs)-1]
			s.topAddrs = s.topAddrs[:len(s.topAddrs)-1]
			continue
		}
		i++
	}
	s.expireIdle()
}

// expireIdle frees addresses and sources not seen for longer than any
// window and quiet period (they hold nothing that still counts), oldest
// first, and stale ones from before a time reset.
func (s *shard) expireIdle() {
	cutoff := satAdd(s.now, -s.e.idle)
	for i := s.addrs.tail; i >= 0; {
		n := s.addrs.node(i)
		prev := n.prev
		stale := n.v.epoch != s.epoch
		if !stale && n.moved >= cutoff {
			break // all nodes from here on were moved, so active, later
		}
		// A node moved before the cutoff may have been active since
		// (moveGranularity): walked past.
		if (stale || n.active < cutoff) && n.v.open == 0 {
			s.releaseAddr(n)
			s.addrs.remove(i)
		}
		i = prev
	}
	for i := s.srcs.tail; i >= 0; {
		n := s.srcs.node(i)
		prev := n.prev
		stale := n.v.epoch != s.epoch
		if !stale && n.moved >= cutoff {
			break
		}
		if (stale || n.active < cutoff) && n.v.det == nil {
			s.srcs.remove(i)
		}
		i = prev
	}
}

// address returns the state of customer address k, creating it (and
// evicting the least recently active address when the shard is full).
//
// hint is k's index in the engine's class cache, or -1: the cache entry
// remembers k's slot, which spares the table's hash and probe when it
// still holds k.
func (s *shard) address(k ipkey.Key, c flow.Class, hint int32) (int32, *addrNode) {
	var ce *classEntry
	if hint >= 0 {
		ce = &s.e.classes.entries[hint&(1<<classCacheBits-1)]
		if i := ce.slot; uint32(i) < uint32(s.addrs.used) {
			n := s.addrs.node(i)
			if n.live && n.key == k && n.v.epoch == s.epoch && n.v.group == c.Group {
				// found's common case, written out: found does not
				// inline, and the call was 20 instructions an address.
				n.v.server = c.Server
				n.active = max(n.active, s.now)
				if s.now-n.moved >= moveGranularity || n.moved > s.now {
					s.addrs.move(i, n, s.now)
				}
				return i, n
			}
		}
	}
	var n *addrNode
	i := s.addrs.getHashed(k, addrHash(k))
	if i >= 0 {
		n = s.addrs.node(i)
		s.found(i, n, c)
	} else {
		i, n = s.newAddress(k, c)
	}
	if ce != nil && ce.key == k {
		ce.slot = i
	}
	return i, n
}

// found updates address node n, in slot i, found for a record.
func (s *shard) found(i int32, n *addrNode, c flow.Class) {
	if n.v.epoch != s.epoch || n.v.group != c.Group {
		s.renewAddress(n, c)
	}
	n.v.server = c.Server
	// lru.touch, written out: the compiler did not inline it here.
	n.active = max(n.active, s.now)
	if s.now-n.moved >= moveGranularity || n.moved > s.now {
		s.addrs.move(i, n, s.now)
	}
}

// renewAddress starts an address's state afresh: stale after a time reset,
// or moved to another host group by an inventory reload (the right
// thresholds then apply).
func (s *shard) renewAddress(n *addrNode, c flow.Class) {
	s.endAddr(n)
	s.releaseAddr(n)
	n.v.epoch, n.v.group = s.epoch, c.Group
	n.active = s.now
}

// newAddress inserts k.
func (s *shard) newAddress(k ipkey.Key, c flow.Class) (int32, *addrNode) {
	if s.addrs.full() {
		t := s.addrs.victim(s.now)
		n := s.addrs.node(t)
		s.endAddr(n)
		s.releaseAddr(n)
		s.addrs.remove(t)
		s.st[stEvictAddress]++
	}
	i := s.addrs.insert(k, s.now)
	n := s.addrs.node(i)
	s.releaseAddr(n)
	n.v.epoch, n.v.group, n.v.server = s.epoch, c.Group, c.Server
	return i, n
}

// releaseAddr empties an address's state (which must have no open
// detection), returning summaries to the pool and keeping small tables for
// reuse. Big tables (a scanner's) are dropped rather than kept: Go maps
// never shrink, and a slot reused by a quiet address would hold the memory.
func (s *shard) releaseAddr(n *lruNode[ipkey.Key, addrState]) {
	v := &n.v
	v.out.Reset()
	v.in.Reset()
	if v.bs != nil {
		v.bs.Reset()
	}
	s.releaseTop(v, true)
	s.releaseTop(v, false)
	v.topDenied = false
	if v.scan != nil {
		if v.scan.Len() > reuseLimit {
			v.scan = nil
		} else {
			v.scan.Reset()
		}
	}
	if v.priv != nil {
		if len(v.priv.dsts) > reuseLimit {
			v.priv = nil
		} else {
			v.priv.reset()
		}
	}
	v.dump = nil
}

// reuseLimit is the size above which a freed table is dropped instead of
// cleared for reuse.
const reuseLimit = 256

// endAddr ends every open detection of an address.
func (s *shard) endAddr(n *lruNode[ipkey.Key, addrState]) {
	for sl := range n.v.det {
		if n.v.det[sl] != nil {
			s.end(n, sl)
		}
	}
}

// endAll ends every open detection in the shard.
func (s *shard) endAll() {
	for _, i := range s.openAddrs {
		if n := s.addrs.node(i); n.live {
			s.endAddr(n)
		}
	}
	for _, i := range s.openSrcs {
		if n := s.srcs.node(i); n.live && n.v.det != nil {
			s.endSource(n)
		}
	}
}

// flush judges every pending attempt and ends every open detection.
func (s *shard) flush() {
	for s.pending.n > 0 {
		s.promote(s.pending.pop())
	}
	s.endAll()
}

// publish makes the counters visible to the metrics collector.
func (s *shard) publish() {
	s.st[stAddresses] = uint64(s.addrs.len())
	s.st[stSources] = uint64(s.srcs.len())
	s.st[stTopActive] = uint64(s.topActive)
	for i := range s.st {
		s.pub[i].Store(s.st[i])
	}
}

// satSub returns a-b, saturating instead of wrapping: elapsed times between
// untrusted timestamps.
func satSub(a, b int64) int64 {
	c := a - b
	if (b < 0 && c < a) || (b > 0 && c > a) {
		if b < 0 {
			return 1<<63 - 1
		}
		return -1 << 63
	}
	return c
}

// satAdd returns a+b, saturating instead of wrapping: timestamps are
// untrusted input, and a record near the end of int64 time must not make
// "now + window" negative.
func satAdd(a, b int64) int64 {
	c := a + b
	if (b > 0 && c < a) || (b < 0 && c > a) {
		if b > 0 {
			return 1<<63 - 1
		}
		return -1 << 63
	}
	return c
}
