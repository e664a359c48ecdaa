package detect

import (
	"abuseguard"
	"abuseguard/detect/ipkey"
	"abuseguard/detect/scan"
	"abuseguard/detect/topk"
	"abuseguard/detect/window"
	"abuseguard/flow"
)

// out handles a record from customer address src: packet limit (M2),
// netscan (M1), private destinations (M5).
//
// m is what routing learnt: passing it whole instead of its classes and
// keys spared moving seven words into registers and back a call.
func (s *shard) out(r *flow.Record, m *meta, start, end int64) {
	cd, src, dst := m.cd, m.src, m.dst
	slot, n := s.address(src, m.cs, m.srcHint)
	v := &n.v
	lim := s.e.limitsOf(v.group)
	w := r.Rate()
	pk, by := max(r.Packets, 1)*w, r.Bytes*w
	obs := max(r.Packets, 1)
	if s.e.backscatter(r) {
		// Replies the address's incoming traffic explains do not count
		// towards its packet limit; the rest does.
		var explained uint64
		pk, by, explained = s.explainBackscatter(v, lim, start, end, pk, by)
		if explained > 0 {
			s.st[stBackscatter] += obs
		}
		obs = min(obs, pk)
	}
	if pk > 0 && v.out.Add(start, end, s.now, lim.out.bucket, pk, by, obs) {
		s.st[stClamped]++
	}
	p, b, recs := v.out.Sums()
	if v.outTop == nil && (p >= lim.out.actPkts || b >= lim.out.actBytes) {
		s.activate(slot, v, true)
	}
	if v.outTop != nil {
		v.outTop.Add(dst, pk, by)
	}
	if v.det[slotLimit] != nil || lim.out.crossedAny(p, b, recs) {
		s.rateCheck(slot, n, slotLimit, &lim.out, p, b, recs, pk, by, end, w)
	}
	s.scanOut(slot, n, r, dst, end, lim)
	if cd.Reserved() && lim.private > 0 && !s.e.reply(r) {
		s.private(slot, n, r, dst, end, lim)
	}
	if v.dump != nil {
		v.dump.addRecord(r, src, dst, s.cfg.Snaplen)
	}
}

// backscatterFactor is how many reply packets one incoming packet may
// explain: Linux answers a SYN with a SYN-ACK and retransmits it up to five
// times (net.ipv4.tcp_synack_retries = 5) when the spoofed source never
// answers. In syn-flood-incoming.pcap the server sent 5 802 packets for
// 2 836 received.
const backscatterFactor = 6

// explainBackscatter splits an outgoing reply record (see backscatter) into
// the part the address's incoming traffic in the window explains, which is
// kept in its own window and excluded from the packet limit, and the rest,
// which is returned to be counted. A server flooded with spoofed SYNs sends
// as many SYN-ACKs and RSTs as it receives SYNs, and must not be taken for
// the attacker (it gets the protective blackhole of the incoming flood
// instead); an RST flood with no traffic coming in still counts.
func (s *shard) explainBackscatter(v *addrState, lim *limits, start, end int64, pk, by uint64) (outPk, outBy, explained uint64) {
	if v.bs == nil {
		v.bs = new(window.Ring)
	}
	v.in.Advance(s.now, lim.in.bucket)
	v.bs.Advance(s.now, lim.out.bucket)
	inP, _, _ := v.in.Sums()
	done, _, _ := v.bs.Sums()
	allow := satMul(inP, backscatterFactor)
	if done >= allow {
		return pk, by, 0
	}
	bsPk, bsBy := min(pk, allow-done), by
	if bsPk < pk {
		bsBy = by / pk * bsPk
	}
	v.bs.Add(start, end, s.now, lim.out.bucket, bsPk, bsBy, 1)
	return pk - bsPk, by - bsBy, bsPk
}

// satMul multiplies without overflowing.
func satMul(a, b uint64) uint64 {
	if b != 0 && a > ^uint64(0)/b {
		return ^uint64(0)
	}
	return a * b
}

// in handles a record towards customer address dst: incoming flood (M4),
// and answers that clear netscan attempts.
func (s *shard) in(r *flow.Record, m *meta, start, end int64) {
	src, dst := m.src, m.dst
	slot, n := s.address(dst, m.cd, m.dstHint)
	v := &n.v
	lim := s.e.limitsOf(v.group)
	w := r.Rate()
	pk, by := max(r.Packets, 1)*w, r.Bytes*w
	if v.in.Add(start, end, s.now, lim.in.bucket, pk, by, max(r.Packets, 1)) {
		s.st[stClamped]++
	}
	p, b, recs := v.in.Sums()
	if v.inTop == nil && (p >= lim.in.actPkts || b >= lim.in.actBytes) {
		s.activate(slot, v, false)
	}
	if v.inTop != nil {
		v.inTop.Add(src, pk, by)
		v.inSvc.Add(scan.Key{Proto: r.Proto, Port: r.DstPort}.Service(), pk, by)
	}
	if v.det[slotFlood] != nil || lim.in.crossedAny(p, b, recs) {
		s.rateCheck(slot, n, slotFlood, &lim.in, p, b, recs, pk, by, end, w)
	}
	s.scanIn(n, r, src, end, lim)
	if v.dump != nil {
		v.dump.addRecord(r, src, dst, s.cfg.Snaplen)
	}
}

// rateCheck updates or opens the rate detection in slot after a record
// added pk packets and by bytes, leaving the window at p, b, recs. Its
// callers skip it when there is nothing to do: no detection open, no
// threshold crossed (a call per record was 2-3 ns of the replay path).
func (s *shard) rateCheck(slot int32, n *addrNode, sl int, rl *rateLimits, p, b uint64, recs uint32, pk, by uint64, end int64, w uint64) {
	v := &n.v
	lim := s.e.limitsOf(v.group)
	pps, bps := rl.crossed(p, b, recs, lim.minObserved)
	d := v.det[sl]
	opened := false
	if d == nil {
		if !pps && !bps {
			return
		}
		first := v.out.OldestUsed(s.now, rl.bucket)
		if sl == slotFlood {
			first = v.in.OldestUsed(s.now, rl.bucket)
		}
		d = s.openRate(slot, n, sl, rl, pps, first)
		d.pkts, d.bytes = p, b
		opened = true
	} else {
		d.pkts += pk
		d.bytes += by
	}
	d.last = max(d.last, end)
	d.rate = max(d.rate, uint32(min(w, 1<<32-1)))
	s.rateFigures(d, rl, p, b)
	if pps || bps {
		d.lastAbove = s.now
	}
	if opened {
		s.emit(n, sl, false)
	} else {
		s.progress(n, sl)
	}
}

// rateFigures updates a rate detection's highest pps and bit/s.
func (s *shard) rateFigures(d *openDet, rl *rateLimits, p, b uint64) {
	pps := float64(p) / rl.seconds
	bps := float64(b) * 8 / rl.seconds
	d.pps = max(d.pps, pps)
	d.bps = max(d.bps, bps)
	if d.d.Subkind == abuseguard.SubkindPPS {
		d.value = d.pps
	} else {
		d.value = d.bps
	}
}

// evalRate re-evaluates an open rate detection at housekeeping.
func (s *shard) evalRate(n *addrNode, sl int, rl *rateLimits, lim *limits) {
	v := &n.v
	ring := &v.out
	if sl == slotFlood {
		ring = &v.in
	}
	ring.Advance(s.now, rl.bucket)
	p, b, recs := ring.Sums()
	d := v.det[sl]
	s.rateFigures(d, rl, p, b)
	pps, bps := rl.crossed(p, b, recs, lim.minObserved)
	s.keepOrEnd(n, sl, pps || bps, rl.quiet, lim.maxDuration)
}

// activate gives an address top-K summaries for one direction.
func (s *shard) activate(slot int32, v *addrState, out bool) {
	if s.topActive >= s.e.perShard(s.cfg.MaxTopK) {
		if !v.topDenied {
			v.topDenied = true
			s.st[stTopKDenied]++
		}
		return
	}
	s.topActive++
	if out {
		v.outTop, v.outSince = s.peerSummary(), s.now
	} else {
		v.inTop, v.inSvc, v.inSince = s.peerSummary(), s.serviceSummary(), s.now
	}
	if !v.topListed {
		v.topListed = true
		s.topAddrs = append(s.topAddrs, slot)
	}
}

func (s *shard) peerSummary() *topk.Summary[ipkey.Key] {
	if n := len(s.peerPool); n > 0 {
		t := s.peerPool[n-1]
		s.peerPool = s.peerPool[:n-1]
		return t
	}
	return topk.New[ipkey.Key](s.cfg.TopKCounters)
}

func (s *shard) serviceSummary() *topk.Summary[scan.Service] {
	if n := len(s.svcPool); n > 0 {
		t := s.svcPool[n-1]
		s.svcPool = s.svcPool[:n-1]
		return t
	}
	return topk.New[scan.Service](s.cfg.TopKCounters)
}

// maybeDeactivate releases a direction's summaries once its detection has
// ended and its rate is back under the activation level.
func (s *shard) maybeDeactivate(n *addrNode) {
	v := &n.v
	lim := s.e.limitsOf(v.group)
	if v.outTop != nil && v.det[slotLimit] == nil {
		v.out.Advance(s.now, lim.out.bucket)
		if p, b, _ := v.out.Sums(); p < lim.out.actPkts && b < lim.out.actBytes {
			s.releaseTop(v, true)
		}
	}
	if v.inTop != nil && v.det[slotFlood] == nil {
		v.in.Advance(s.now, lim.in.bucket)
		if p, b, _ := v.in.Sums(); p < lim.in.actPkts && b < lim.in.actBytes {
			s.releaseTop(v, false)
		}
	}
}

// takeTopEvictions counts the evictions of v's summaries in use since they
// were last counted (housekeeping, every second).
func (s *shard) takeTopEvictions(v *addrState) {
	if v.outTop != nil {
		s.st[stEvictPeer] += v.outTop.TakeEvictions()
	}
	if v.inTop != nil {
		s.st[stEvictPeer] += v.inTop.TakeEvictions()
		s.st[stEvictService] += v.inSvc.TakeEvictions()
	}
}

// releaseTop returns a direction's summaries to the pool, counting their
// evictions not counted yet.
func (s *shard) releaseTop(v *addrState, out bool) {
	if out && v.outTop != nil {
		s.st[stEvictPeer] += v.outTop.TakeEvictions()
		v.outTop.Reset()
		s.peerPool = append(s.peerPool, v.outTop)
		v.outTop = nil
		s.topActive--
	}
	if !out && v.inTop != nil {
		s.st[stEvictPeer] += v.inTop.TakeEvictions()
		s.st[stEvictService] += v.inSvc.TakeEvictions()
		v.inTop.Reset()
		v.inSvc.Reset()
		s.peerPool = append(s.peerPool, v.inTop)
		s.svcPool = append(s.svcPool, v.inSvc)
		v.inTop, v.inSvc = nil, nil
		s.topActive--
	}
}

// peers returns the top-K of a summary as PeerTotals, with rates over the
// time the summary counted until the detection's last record (at least one
// window), not until the report: a Final report comes a quiet period after
// the traffic.
func (s *shard) peers(t *topk.Summary[ipkey.Key], since, last int64, rl *rateLimits) []abuseguard.PeerTotal {
	if t == nil {
		return nil
	}
	sec := max(float64(last-since)/1e9, rl.seconds)
	top := t.Top(nil, s.cfg.TopK)
	out := make([]abuseguard.PeerTotal, len(top))
	for i, c := range top {
		out[i] = abuseguard.PeerTotal{
			Addr: c.Key.Addr(), Packets: c.Count, Bytes: c.Bytes,
			PPS: float64(c.Count) / sec, BPS: float64(c.Bytes) * 8 / sec,
		}
	}
	return out
}

// services is peers for the service summary of an incoming flood.
func (s *shard) services(t *topk.Summary[scan.Service], since, last int64, rl *rateLimits) []abuseguard.ServiceTotal {
	if t == nil {
		return nil
	}
	sec := max(float64(last-since)/1e9, rl.seconds)
	top := t.Top(nil, s.cfg.TopK)
	out := make([]abuseguard.ServiceTotal, len(top))
	for i, c := range top {
		out[i] = abuseguard.ServiceTotal{
			Proto: c.Key.Proto(), Port: c.Key.Port(), Packets: c.Count, Bytes: c.Bytes,
			PPS: float64(c.Count) / sec, BPS: float64(c.Bytes) * 8 / sec,
		}
	}
	return out
}
