package detect

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"slices"
	"time"

	"abuseguard"
	"abuseguard/detect/ipkey"
	"abuseguard/detect/scan"
)

type (
	addrNode = lruNode[ipkey.Key, addrState]
	srcNode  = lruNode[srcKey, srcState]
)

// Detection slots of an address: one open detection per kind and subkind
// family at a time.
const (
	slotHorizontal = iota
	slotVertical
	slotSweep
	slotLimit // packet limit, pps or bps
	slotFlood // incoming flood, pps or bps
	slotPrivate
	numSlots
)

// detKinds are the kinds and subkinds of detections, indexing the
// detections counter.
var detKinds = [...]struct {
	kind    abuseguard.Reason
	subkind string
}{
	{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal},
	{abuseguard.ReasonNetscan, abuseguard.SubkindVertical},
	{abuseguard.ReasonNetscan, abuseguard.SubkindICMPSweep},
	{abuseguard.ReasonPacketLimit, abuseguard.SubkindPPS},
	{abuseguard.ReasonPacketLimit, abuseguard.SubkindBPS},
	{abuseguard.ReasonIncomingFlood, abuseguard.SubkindPPS},
	{abuseguard.ReasonIncomingFlood, abuseguard.SubkindBPS},
	{abuseguard.ReasonMisconfiguration, abuseguard.SubkindPrivateDestination},
	{abuseguard.ReasonMisconfiguration, abuseguard.SubkindUnassignedSource},
	{abuseguard.ReasonMisconfiguration, abuseguard.SubkindSpoofedSource},
}

func detKindIndex(kind abuseguard.Reason, subkind string) int {
	for i, k := range detKinds {
		if k.kind == kind && k.subkind == subkind {
			return i
		}
	}
	panic("detect: unknown detection kind " + string(kind) + "/" + subkind)
}

// openDet is a detection in progress.
type openDet struct {
	// d holds the identity and inventory fields, set when it opens.
	d abuseguard.Detection
	// opened is when the threshold was crossed; first and last bound the
	// evidence; lastAbove is when the condition last held.
	opened, first, last, lastAbove int64

	value float64
	// reported is the value at the last report that was not final.
	reported      float64
	pkts, bytes   uint64
	pps, bps      float64
	distinct      uint64
	rate          uint32
	attempts      []abuseguard.Attempt
	attemptsTotal uint64

	// The netscan keys that crossed the threshold (services for horizontal
	// and sweep, hosts for vertical), so that housekeeping checks a few
	// counters instead of walking a scanner's table every second (which cost
	// 2.4 µs per record with 64 scanners at once).
	services []scan.Service
	hosts    []ipkey.Key
}

// maxCrossedKeys bounds openDet.services and hosts: a scan over more ports
// or hosts than that at once keeps its detection open through any of them.
const maxCrossedKeys = 8

// slotInfo gives a slot's fixed fields.
func slotInfo(sl int) (abuseguard.Reason, string, abuseguard.Direction) {
	switch sl {
	case slotHorizontal:
		return abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, abuseguard.DirectionOut
	case slotVertical:
		return abuseguard.ReasonNetscan, abuseguard.SubkindVertical, abuseguard.DirectionOut
	case slotSweep:
		return abuseguard.ReasonNetscan, abuseguard.SubkindICMPSweep, abuseguard.DirectionOut
	case slotLimit:
		return abuseguard.ReasonPacketLimit, "", abuseguard.DirectionOut
	case slotFlood:
		return abuseguard.ReasonIncomingFlood, "", abuseguard.DirectionIn
	default:
		return abuseguard.ReasonMisconfiguration, abuseguard.SubkindPrivateDestination, abuseguard.DirectionOut
	}
}

// newDet returns a detection opening now, with its ID.
func (s *shard) newDet(kind abuseguard.Reason, subkind string, dir abuseguard.Direction, addr ipkey.Key,
	server int32, group uint16, first int64, threshold float64, unit string, salt uint64) *openDet {
	d := &openDet{opened: s.now, first: first, last: first, lastAbove: s.now}
	s.seq++
	d.d = abuseguard.Detection{
		ID:        detectionID(kind, subkind, addr, first, salt^uint64(s.id)<<48^s.seq),
		Kind:      kind,
		Subkind:   subkind,
		Address:   addr.Addr(),
		Direction: dir,
		HostGroup: s.e.limitsOf(group).name,
		Threshold: threshold,
		Unit:      unit,
	}
	if server >= 0 {
		d.d.ServerID, d.d.CustomerID = s.e.inv.Server(server)
	}
	s.st[stDetections+detKindIndex(kind, subkind)]++
	s.e.log.Debug("detection opened", "id", d.d.ID, "kind", kind, "subkind", subkind,
		"address", d.d.Address, "server", d.d.ServerID, "shard", s.id)
	return d
}

// openAddrDet opens a detection in slot sl of an address, lists the address
// for housekeeping and starts its traffic dump.
func (s *shard) openAddrDet(n *addrNode, slot int32, sl int, subkind string, first int64, threshold float64, unit string) *openDet {
	v := &n.v
	kind, sk, dir := slotInfo(sl)
	if subkind != "" {
		sk = subkind
	}
	d := s.newDet(kind, sk, dir, n.key, v.server, v.group, first, threshold, unit, 0)
	v.det[sl] = d
	v.open++
	if !v.listed {
		v.listed = true
		s.openAddrs = append(s.openAddrs, slot)
	}
	if v.dump == nil && s.cfg.MaxSamples > 0 {
		v.dump = newDump(s.cfg.MaxSamples, s.cfg.Snaplen)
		s.ring.each(func(smp *sample, data []byte) {
			if smp.src == n.key || smp.dst == n.key {
				v.dump.add(smp, data)
			}
		})
	}
	return d
}

// openRate opens a packet-limit or flood detection: pps when the packet
// rate crossed (first, or at the same record as the bit rate), else bps.
func (s *shard) openRate(slot int32, n *addrNode, sl int, rl *rateLimits, pps bool, first int64) *openDet {
	sub, th, unit := abuseguard.SubkindBPS, rl.bps, "bits/s"
	if pps {
		sub, th, unit = abuseguard.SubkindPPS, rl.pps, "packets/s"
	}
	return s.openAddrDet(n, slot, sl, sub, first, th, unit)
}

// openSource opens an unassigned- or spoofed-source detection.
func (s *shard) openSource(n *srcNode, slot int32, k srcKey, th uint64, lim *limits) *openDet {
	v := &n.v
	sub := abuseguard.SubkindUnassignedSource
	if k.kind&keySpoofed != 0 {
		sub = abuseguard.SubkindSpoofedSource
	}
	first := max(v.ring.OldestUsed(s.now, lim.misBucket), v.start)
	d := s.newDet(abuseguard.ReasonMisconfiguration, sub, abuseguard.DirectionOut, v.first, v.server, v.group, first, float64(th), "packets", k.hash())
	v.det = d
	if !v.listed {
		v.listed = true
		s.openSrcs = append(s.openSrcs, slot)
	}
	if s.cfg.MaxSamples > 0 {
		v.dump = newDump(s.cfg.MaxSamples, s.cfg.Snaplen)
	}
	// The evidence: what the wrong sources sent, as attempts (the log's
	// source table counts them per address and MAC). Before the crossing
	// only the shard's sample ring still has it.
	s.ring.each(func(smp *sample, data []byte) {
		if _, ok := v.sources[smp.src]; !ok {
			return
		}
		if v.dump != nil {
			v.dump.add(smp, data)
		}
		d.attemptsTotal++
		if len(d.attempts) < s.cfg.MaxAttempts {
			d.attempts = append(d.attempts, sampleAttempt(smp))
		}
	})
	return d
}

// sampleAttempt is the attempt a sampled packet shows.
func sampleAttempt(smp *sample) abuseguard.Attempt {
	// (Until 2026-11-25 this divided the mean by the packets once more,
	// giving flow records' attempts a size n² times too small.)
	size := smp.length()
	return abuseguard.Attempt{
		Time: time.Unix(0, smp.t).UTC(), Src: smp.src.Addr(), SrcPort: smp.srcPort,
		Dst: smp.dst.Addr(), DstPort: smp.dstPort, Proto: smp.proto, Size: size,
	}
}

// keepOrEnd ends the detection in slot sl when its condition has not held
// for quiet, or when it has run for maxDuration.
func (s *shard) keepOrEnd(n *addrNode, sl int, above bool, quiet, maxDuration int64) {
	d := n.v.det[sl]
	if above {
		d.lastAbove = s.now
	}
	if satSub(s.now, d.lastAbove) >= quiet || satSub(s.now, d.opened) >= maxDuration {
		s.end(n, sl)
	}
}

// evalAddr re-evaluates the open detections of an address.
func (s *shard) evalAddr(n *addrNode) {
	v := &n.v
	lim := s.e.limitsOf(v.group)
	if v.det[slotHorizontal] != nil || v.det[slotVertical] != nil || v.det[slotSweep] != nil {
		s.evalScan(n, lim)
	}
	if v.det[slotLimit] != nil {
		s.evalRate(n, slotLimit, &lim.out, lim)
	}
	if v.det[slotFlood] != nil {
		s.evalRate(n, slotFlood, &lim.in, lim)
	}
	if v.det[slotPrivate] != nil {
		s.evalPrivate(n, lim)
	}
}

// end reports the detection in slot sl Final and closes it.
func (s *shard) end(n *addrNode, sl int) {
	s.emit(n, sl, true)
	v := &n.v
	v.det[sl] = nil
	v.open--
	if v.open == 0 {
		v.dump = nil
	}
}

func (s *shard) endSource(n *srcNode) {
	s.emitSource(n, true)
	n.v.det, n.v.dump = nil, nil
}

// emit reports the detection in slot sl of an address.
func (s *shard) emit(n *addrNode, sl int, final bool) {
	v := &n.v
	d := v.det[sl]
	d.reported = d.value
	out := s.report(d, final, v.dump)
	lim := s.e.limitsOf(v.group)
	switch sl {
	case slotLimit:
		out.Peers = s.peers(v.outTop, v.outSince, d.last, &lim.out)
	case slotFlood:
		out.Peers = s.peers(v.inTop, v.inSince, d.last, &lim.in)
		out.Services = s.services(v.inSvc, v.inSince, d.last, &lim.in)
	}
	s.e.sink(out)
}

func (s *shard) emitSource(n *srcNode, final bool) {
	n.v.det.reported = n.v.det.value
	s.e.sink(s.report(n.v.det, final, n.v.dump))
}

// progressFactor is how much a detection's figure must grow between two
// reports before it is reported again. A detection's first report comes at
// the crossing, where its figure is the threshold; policy may block at once
// what is several times past it (lifecycle block_above), which only a later
// report can show. Doubling bounds the reports of one detection to a few
// (ten for a thousandfold breach).
const progressFactor = 2

// progress reports the detection in slot sl again, not final, when its
// figure has grown by progressFactor since its last report. Called where
// figures grow: on records, and at housekeeping, where netscan attempts are
// counted once their grace period is over (a scan's last attempts count
// after its last packet).
func (s *shard) progress(n *addrNode, sl int) {
	if d := n.v.det[sl]; d != nil && d.value >= progressFactor*d.reported {
		s.emit(n, sl, false)
	}
}

// report builds the Detection handed to the sink: a copy, so that the sink
// owns it.
func (s *shard) report(d *openDet, final bool, dp *dump) abuseguard.Detection {
	out := d.d
	out.FirstSeen = time.Unix(0, d.first).UTC()
	out.LastSeen = time.Unix(0, max(d.last, d.first)).UTC()
	out.Value = d.value
	out.Packets, out.Bytes = d.pkts, d.bytes
	out.PPS, out.BPS = d.pps, d.bps
	out.Distinct = d.distinct
	out.SamplingRate = max(d.rate, 1)
	out.Final = final
	if final {
		s.e.log.Debug("detection ended", "id", out.ID, "kind", out.Kind, "subkind", out.Subkind,
			"address", out.Address, "value", out.Value, "last_seen", out.LastSeen, "shard", s.id)
	}
	out.Attempts = slices.Clone(d.attempts)
	out.AttemptsTotal = d.attemptsTotal
	for _, sv := range d.services {
		out.Targets = append(out.Targets, abuseguard.Target{Proto: sv.Proto(), Port: sv.Port()})
	}
	for _, h := range d.hosts {
		out.Targets = append(out.Targets, abuseguard.Target{Host: h.Addr()})
	}
	if dp != nil {
		out.Samples = slices.Clone(dp.samples)
	}
	return out
}

// detectionID derives a detection's ID from what identifies it, so that a
// replay of the same input (with the same configuration) gives the same IDs:
// 16 hex digits of FNV-1a over kind, subkind, address, first-seen time and
// a salt. The salt holds the shard's detection sequence number, because the
// rest does not always tell detections apart (the fuzzer found both cases):
// an address evicted with its detection open and crossing again within the
// same bucket, or two MACs sending from the same wrong address at once; for
// misconfiguration sources it also holds their key.
func detectionID(kind abuseguard.Reason, subkind string, addr ipkey.Key, first int64, salt uint64) string {
	h := fnv.New64a()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(subkind))
	var b [40]byte
	binary.BigEndian.PutUint64(b[0:], addr.Hi)
	binary.BigEndian.PutUint64(b[8:], addr.Lo)
	binary.BigEndian.PutUint64(b[16:], uint64(first))
	binary.BigEndian.PutUint64(b[24:], salt)
	h.Write(b[:32])
	return hex.EncodeToString(h.Sum(b[32:32]))
}
