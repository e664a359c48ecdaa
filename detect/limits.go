package detect

import (
	"time"

	"abuseguard/detect/window"
)

// limits are one host group's thresholds compiled for the hot path: event
// time in nanoseconds, rates turned into counts per window so that a check
// is an integer comparison of the window's sums, 0 for a disabled check.
type limits struct {
	name string

	scanWindow, scanSweep, grace, scanQuiet int64
	horizontal, vertical, sweep             uint64
	share                                   float64

	out, in rateLimits

	misWindow, misBucket, misSweep, misQuiet int64
	private, unassigned, spoofed             uint64

	minObserved uint32
	maxDuration int64
}

// rateLimits are a packet-rate detector's thresholds.
type rateLimits struct {
	window, bucket, quiet int64
	seconds               float64 // window length in seconds
	// pkts and bytes are the thresholds as counts per window; act* the
	// counts at which top-K summaries start.
	pkts, bytes       uint64
	actPkts, actBytes uint64
	pps, bps          float64 // the thresholds as configured
	// crossedAny's form of crossed's test, for the per-record check:
	// thresholds less one with a disabled one at the maximum, and the observed
	// packets they need (11 instead of 27 instructions a record on the
	// netflow_v5 pipeline benchmark).
	anyPkts, anyBytes uint64
	anyObserved       uint32
}

func compile(name string, t Thresholds, activation float64) limits {
	l := limits{
		name:       name,
		scanWindow: int64(t.Netscan.Window),
		// Contacts are expired by a sweep, so counts cover up to a window
		// plus a sweep period: sweeping every tenth of a window keeps that
		// within 10 % (a quarter would let a scan at 1.4 hosts/s, below
		// 100/60 s, reach 100 in 75 s) at the cost of walking a table of
		// 4 096 contacts every 6 s.
		scanSweep:   int64(t.Netscan.Window) / 10,
		grace:       max(int64(t.Netscan.Grace), 0),
		scanQuiet:   int64(t.Netscan.Quiet),
		horizontal:  threshold(t.Netscan.Horizontal),
		vertical:    threshold(t.Netscan.Vertical),
		sweep:       threshold(t.Netscan.ICMPSweep),
		share:       max(t.Netscan.AttemptShare, 0),
		out:         compileRate(t.PacketLimit, activation),
		in:          compileRate(t.IncomingFlood, activation),
		misWindow:   int64(t.Misconfiguration.Window),
		misBucket:   int64(t.Misconfiguration.Window) / window.Buckets,
		misSweep:    int64(t.Misconfiguration.Window) / 4,
		misQuiet:    int64(t.Misconfiguration.Quiet),
		private:     threshold(t.Misconfiguration.PrivateDestinations),
		unassigned:  threshold(t.Misconfiguration.UnassignedPackets),
		spoofed:     threshold(t.Misconfiguration.SpoofedPackets),
		minObserved: uint32(min(t.MinObserved, 1<<31)),
		maxDuration: int64(t.MaxDuration),
	}
	l.out.setAny(l.minObserved)
	l.in.setAny(l.minObserved)
	return l
}

func (r *rateLimits) setAny(minObserved uint32) {
	// Strict comparisons against threshold-1, so that a disabled one
	// (the maximum) is never passed, even by a saturated sum.
	r.anyPkts, r.anyBytes = r.pkts-1, r.bytes-1
	if r.pkts == 0 {
		r.anyPkts = ^uint64(0)
	}
	if r.bytes == 0 {
		r.anyBytes = ^uint64(0)
	}
	r.anyObserved = uint32(min(uint64(minObserved), max(r.pkts, 1)))
}

func compileRate(r RateThresholds, activation float64) rateLimits {
	sec := r.Window.Seconds()
	rl := rateLimits{
		window:  int64(r.Window),
		bucket:  int64(r.Window) / window.Buckets,
		quiet:   int64(r.Quiet),
		seconds: sec,
		pkts:    threshold(int64(float64(max(r.PPS, 0)) * sec)),
		bytes:   threshold(int64(float64(max(r.BPS, 0)) / 8 * sec)),
		pps:     float64(r.PPS),
		bps:     float64(r.BPS),
	}
	if rl.pkts > 0 {
		rl.actPkts = max(uint64(float64(rl.pkts)*activation), 1)
	} else {
		rl.actPkts = ^uint64(0)
	}
	if rl.bytes > 0 {
		rl.actBytes = max(uint64(float64(rl.bytes)*activation), 1)
	} else {
		rl.actBytes = ^uint64(0)
	}
	return rl
}

// crossed reports whether window sums cross r: either threshold, with at
// least minObserved packets actually seen (or as many as the packet
// threshold, when that is lower). One sFlow sample at a wrong rate of
// 1:10 000 000 is not a flood; one unsampled NetFlow record of 3.6 M packets
// is plenty of evidence.
func (r *rateLimits) crossed(pkts, bytes uint64, observed, minObserved uint32) (pps, bps bool) {
	if uint64(observed) < min(uint64(minObserved), max(r.pkts, 1)) {
		return false, false
	}
	return r.pkts > 0 && pkts >= r.pkts, r.bytes > 0 && bytes >= r.bytes
}

// crossedAny reports whether crossed would report either (given the
// limits' minObserved).
func (r *rateLimits) crossedAny(pkts, bytes uint64, observed uint32) bool {
	return observed >= r.anyObserved && (pkts > r.anyPkts || bytes > r.anyBytes)
}

// threshold maps a configured threshold to the compiled one: negative
// (disabled) to 0.
func threshold(v int64) uint64 {
	if v <= 0 {
		return 0
	}
	return uint64(v)
}

// housekeepingInterval is how often, in event time, a shard ends quiet
// detections, expires idle state and publishes its counters: the bucket
// length of the default rate window, so a detection ends at most a second
// after its quiet period.
const housekeepingInterval = int64(time.Second)

// lateReset is the number of consecutive records older than the longest
// window after which a shard decides its clock is wrong rather than the
// records: one record with a timestamp years ahead (a corrupt export) must
// not freeze the windows of everything that follows. The shard then ends its
// detections, starts afresh at the records' time and counts a time reset.
const lateReset = 4096
