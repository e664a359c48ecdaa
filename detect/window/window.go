// Package window keeps packet and byte counts over a sliding window of time
// buckets, the basis of the packet-limit and flood detectors.
//
// A Ring has Buckets buckets of equal length; the window is their total
// length. Rates are always the window's sums divided by the window's length,
// never by the span actually observed, so a burst of records that all carry
// the same timestamp gives the right rate and not an infinite one.
//
// Flow records describe traffic spread over [Start, End]. Add spreads their
// counts over the buckets that interval overlaps, in proportion to the
// overlap: a NetFlow record for a 60-second flow, exported at once when the
// active timeout expires, adds a sixth of its packets to a 10-second window,
// not all of them (which would make a 1 000 pps flow look like 6 000 pps).
//
// The package is pure: no clock, no allocation, no locking. A Ring is not
// safe for concurrent use.
package window

import "math/bits"

// Buckets is the number of buckets in a window. Ten makes the newest,
// still-filling bucket at most a tenth of the window, so a rate is at most
// 10 % low while a bucket fills, and a flood is seen within 1.1 windows.
const Buckets = 10

// Ring is a window of Buckets time buckets of packet and byte counts (as
// estimated: scaled by the sampling rate) and of observed packets (as seen,
// unscaled: how much evidence the estimate rests on). The zero value is an empty ring. Bucket length is passed to each
// call rather than stored: it is a per-host-group setting and storing it in
// every tracked address would cost 8 bytes each for nothing.
type Ring struct {
	pkts  [Buckets]uint64
	bytes [Buckets]uint64
	obs   [Buckets]uint32 // saturating: evidence counts need no more
	// sums over all buckets, kept incrementally.
	sumPkts, sumBytes uint64
	sumObs            uint32
	// head is the bucket number (time / bucket length) of the newest bucket;
	// the ring holds buckets head-Buckets+1 .. head. headStart is its start
	// time: a record inside the newest bucket, the common case, then needs
	// no 64-bit division (three of them cost ~30 ns a record).
	head      int64
	headStart int64
	// hslot is head's slot (head mod Buckets), kept as head moves: a
	// signed modulo by 10 is eight instructions, and Add and Advance
	// needed two to four of them a record (cachegrind, netflow_v5
	// pipeline benchmark: 18 of the engine's ~1 270 instructions a record).
	hslot uint8
	used  bool
}

// Sums returns the estimated packets and bytes in the window, and the
// packets actually observed.
func (r *Ring) Sums() (pkts, bytes uint64, observed uint32) {
	return r.sumPkts, r.sumBytes, r.sumObs
}

// Reset empties the ring.
func (r *Ring) Reset() { *r = Ring{} }

// Advance moves the window so that its newest bucket holds now, dropping the
// buckets that fall out. Time never goes back: a now older than the newest
// bucket is ignored. A jump of a whole window or more empties the ring in
// constant time, however far it goes.
func (r *Ring) Advance(now, bucketLen int64) {
	// Inlined: within the newest bucket, the common case.
	// (unsigned: now-headStart must not wrap for timestamps 292 years apart)
	if r.used && now >= r.headStart && uint64(now)-uint64(r.headStart) < uint64(bucketLen) {
		return
	}
	r.advanceSlow(now, bucketLen)
}

func (r *Ring) advanceSlow(now, bucketLen int64) {
	if r.used && now >= r.headStart {
		d := uint64(now) - uint64(r.headStart)
		if d/Buckets < uint64(bucketLen) {
			// Less than a window later: roll bucket by bucket, which
			// needs no 64-bit division (floorDiv is two), since
			// headStart is head × bucketLen.
			for d >= uint64(bucketLen) {
				r.head++
				r.headStart += bucketLen
				d -= uint64(bucketLen)
				r.roll()
			}
			return
		}
	}
	n := floorDiv(now, bucketLen)
	if !r.used {
		r.head, r.headStart, r.hslot, r.used = n, n*bucketLen, uint8(slot(n)), true
		return
	}
	if n <= r.head {
		return
	}
	if n-r.head >= Buckets {
		*r = Ring{head: n, headStart: n * bucketLen, hslot: uint8(slot(n)), used: true}
		return
	}
	for b := r.head + 1; b <= n; b++ {
		r.roll()
	}
	r.head, r.headStart = n, n*bucketLen
}

// roll moves hslot to the next slot and empties it: it becomes the newest
// bucket.
func (r *Ring) roll() {
	r.hslot++
	if r.hslot == Buckets {
		r.hslot = 0
	}
	r.drop(int(r.hslot))
}

// bucketOf returns the number of the bucket that holds t, which must not be
// after the newest bucket. A bucket more than a window older than the newest
// comes out as head-Buckets-1: Add only needs to know that it is before the
// window. One unsigned division, where floorDiv is two signed ones and a
// record's start is before the newest bucket for most flow records.
func (r *Ring) bucketOf(t, bucketLen int64) int64 {
	if t >= r.headStart {
		return r.head
	}
	k := (uint64(r.headStart)-uint64(t)-1)/uint64(bucketLen) + 1
	return r.head - int64(min(k, Buckets+1))
}

// drop empties bucket slot i, which leaves the window.
func (r *Ring) drop(i int) {
	r.sumPkts -= r.pkts[i]
	r.sumBytes -= r.bytes[i]
	r.sumObs -= r.obs[i]
	r.pkts[i], r.bytes[i], r.obs[i] = 0, 0, 0
}

// Add counts pkts packets and bytes bytes (estimates) resting on observed
// packets seen, over [start, end], after advancing the window to now. end is
// taken as at most now. The observed count goes to the bucket of end, whole:
// it says how much was seen, not when.
//
// The part of [start, end] before the window is dropped: it is traffic of a
// time the window no longer covers. A record that ends before the window
// (a late arrival) is clamped: shifted, keeping its duration, to end in the
// oldest bucket, so it still counts once but cannot resurrect old buckets.
// Add returns true when it had to clamp.
func (r *Ring) Add(start, end, now, bucketLen int64, pkts, bytes, observed uint64) (clamped bool) {
	r.Advance(now, bucketLen)
	if r.headStart <= start && start <= end && end <= now {
		// Within the newest bucket (now is in it after Advance), as most
		// records of a flow exporter with a short active timeout are: the
		// general path below, without its branches.
		r.observe(int(r.hslot), observed)
		r.putSlot(int(r.hslot), pkts, bytes)
		return false
	}
	if end > now {
		end = now
	}
	if start > end {
		start = end
	}
	first := r.head - Buckets + 1 // oldest bucket number in the window
	eb := r.bucketOf(end, bucketLen)
	if eb < first {
		clamped = true
		shift := (first+1)*bucketLen - 1 - end // to the last instant of the oldest bucket
		start, end, eb = start+shift, end+shift, first
		if start > end { // overflow of a absurdly long record
			start = end
		}
	}
	r.observe(r.slot(eb), observed)
	sb := eb
	if start < r.headStart || eb != r.head {
		sb = r.bucketOf(start, bucketLen)
	}
	if sb == eb {
		r.put(eb, pkts, bytes)
		return clamped
	}
	// Spread in proportion to overlap. Shares are computed from cumulative
	// boundaries (floor(P·elapsed/d)) so that they are exact integers that
	// add up to the whole: no packet is created or lost by rounding.
	d := uint64(end - start)
	if sb < first {
		sb = first
	}
	prevP, prevB := uint64(0), uint64(0)
	if sb*bucketLen > start {
		e := uint64(sb*bucketLen - start)
		prevP, prevB = mulDiv(pkts, e, d), mulDiv(bytes, e, d)
	}
	// The window's sums get what lands in the window, at once.
	r.sumPkts += pkts - prevP
	r.sumBytes += bytes - prevB
	i, n := r.slot(sb), int(eb-sb)
	e := uint64((sb+1)*bucketLen - start)
	spread(&r.pkts, i, n, pkts, prevP, e, uint64(bucketLen), d)
	spread(&r.bytes, i, n, bytes, prevB, e, uint64(bucketLen), d)
	return clamped
}

// spread adds x, of which prev is already counted (before the window),
// to the n+1 slots of c from i on, in proportion to overlap: e is the
// elapsed time at the end of the first, each next one ends bucketLen
// later, and d is the flow's duration.
//
// The cumulative share at each boundary is the previous one plus
// x·bucketLen/d, kept as quotient and remainder: exactly floor(x·elapsed/d)
// with two divisions instead of one a bucket (a 128-bit DIV is 40-90
// cycles; a flow exported at a 60-second active timeout spans the whole
// window of ten buckets). One counter at a time, so that the loop's
// values stay in registers.
func spread(c *[Buckets]uint64, i, n int, x, prev, e, bucketLen, d uint64) {
	if n > 0 {
		cur, rem := mulDivRem(x, e, d) // e ≤ d: the flow ends after
		var step, stepRem uint64
		if n >= 2 { // then d > bucketLen: the quotient fits
			step, stepRem = mulDivRem(x, bucketLen, d)
		}
		for ; n > 0; n-- {
			c[i] += cur - prev
			prev = cur
			if i++; i == Buckets {
				i = 0
			}
			cur, rem = addFrac(cur, rem, step, stepRem, d)
		}
	}
	c[i] += x - prev
}

// addFrac returns q+dq + (r+dr)/d as a quotient and a remainder below d,
// for r, dr below d.
// Branch-free: whether the remainders overflow d is data, right half the
// time, and a mispredicted branch here was 0.6 a v5 record (cachegrind).
func addFrac(q, r, dq, dr, d uint64) (uint64, uint64) {
	r, carry := bits.Add64(r, dr, 0)
	_, borrow := bits.Sub64(r, d, 0)
	over := carry | (borrow ^ 1) // r+dr ≥ d
	return q + dq + over, r - d&-over
}

// observe adds observed packets to slot i, saturating.
func (r *Ring) observe(i int, observed uint64) {
	o := uint32(min(observed, 1<<32-1))
	if r.sumObs > 1<<32-1-o {
		// Saturate the sum; a bucket, never more than the sum, then
		// cannot overflow either.
		o = 1<<32 - 1 - r.sumObs
	}
	r.obs[i] += o
	r.sumObs += o
}

// OldestUsed returns the start time of the oldest bucket in the window that
// holds traffic, or now when the window is empty.
func (r *Ring) OldestUsed(now, bucketLen int64) int64 {
	for b := r.head - Buckets + 1; b <= r.head; b++ {
		if i := r.slot(b); r.obs[i] != 0 || r.pkts[i] != 0 {
			return b * bucketLen
		}
	}
	return now
}

func (r *Ring) put(b int64, pkts, bytes uint64) { r.putSlot(r.slot(b), pkts, bytes) }

func (r *Ring) putSlot(i int, pkts, bytes uint64) {
	r.pkts[i] += pkts
	r.bytes[i] += bytes
	r.sumPkts += pkts
	r.sumBytes += bytes
}

// slot returns the slot of bucket b, which must be in the window
// (head-Buckets < b <= head).
func (r *Ring) slot(b int64) int {
	i := int(r.hslot) - int(r.head-b)
	if i < 0 {
		i += Buckets
	}
	return i
}

// slot returns b mod Buckets, for the rare paths that set hslot anew.
func slot(b int64) int {
	i := b % Buckets
	if i < 0 {
		i += Buckets
	}
	return int(i)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// mulDiv returns x·n/d for n ≤ d without overflow (the 128-bit product is
// divided exactly).
func mulDiv(x, n, d uint64) uint64 {
	q, _ := mulDivRem(x, n, d)
	return q
}

// mulDivRem returns the quotient and remainder of x·n/d, for n ≤ d.
func mulDivRem(x, n, d uint64) (q, rem uint64) {
	hi, lo := bits.Mul64(x, n)
	return bits.Div64(hi, lo, d)
}
