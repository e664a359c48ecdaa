package detect

import (
	"cmp"
	"math"
	"slices"
	"time"

	"abuseguard"
	"abuseguard/detect/ipkey"
	"abuseguard/detect/scan"
	"abuseguard/flow"
)

// action is what an outgoing record means to netscan detection.
type action uint8

const (
	actNone     action = iota
	actAttempt         // opens (or repeats) a connection attempt
	actComplete        // shows the connection established: not a scan
)

// ICMP echo request and reply as flow.Record.DstPort carries them
// (type<<8|code).
const (
	icmpEchoRequest   = 8 << 8
	icmpEchoReply     = 0
	icmpv6EchoRequest = 128 << 8
	icmpv6EchoReply   = 129 << 8
)

// outAction classifies an outgoing record. Only attempts count (DESIGN.md):
//
//   - TCP: SYN without ACK is an attempt; so are FIN, Xmas and other probes
//     without ACK, SYN or RST (nmap -sF/-sX: no real TCP segment lacks ACK
//     after the handshake). A record with no flags at all is not: some
//     NetFlow exporters export no TCP flags, and counting their every flow
//     would make every crawler a scanner. RST is never an attempt (nmap -sS
//     answers SYN-ACK with RST; backscatter). SYN-ACK alone is a reply
//     (backscatter to spoofed SYNs). ACK without SYN, or a flow with SYN,
//     ACK and data or FIN, is an established connection.
//   - UDP: an attempt unless it is a reply: from a service port (below 1024
//     or configured) to a port ≥ 1024. Replies to peers that sent first are
//     recognised by the contact table (see scanIn).
//   - ICMP and ICMPv6: echo requests are attempts (sweeps); nothing else.
//
// Fragments and truncated packets carry no transport header and count
// nothing.
func (e *Engine) outAction(r *flow.Record) action {
	if r.Flags&(flow.FlagFragment|flow.FlagTruncated) != 0 {
		return actNone
	}
	switch r.Proto {
	case flow.ProtoTCP:
		f := r.TCPFlags
		switch {
		case f&flow.TCPRst != 0:
			return actNone
		case f&flow.TCPAck != 0:
			if f&flow.TCPSyn != 0 && f&(flow.TCPPsh|flow.TCPFin) == 0 {
				return actNone // SYN-ACK: a reply
			}
			return actComplete
		case f&flow.TCPSyn != 0, f&(flow.TCPFin|flow.TCPPsh|flow.TCPUrg) != 0:
			return actAttempt
		}
		return actNone
	case flow.ProtoUDP:
		if r.DstPort >= 1024 && e.servicePort(r.SrcPort) {
			return actNone
		}
		return actAttempt
	case flow.ProtoICMP:
		if r.DstPort == icmpEchoRequest {
			return actAttempt
		}
	case flow.ProtoICMPv6:
		if r.DstPort == icmpv6EchoRequest {
			return actAttempt
		}
	}
	return actNone
}

// reply reports whether an outgoing record answers traffic rather than
// starting it: TCP RST or SYN-ACK, UDP from a service port to a port
// ≥ 1024, and every ICMP message but an echo request (errors, echo replies,
// neighbour discovery). Private destinations count only what a server
// starts: a server under a SYN flood with random spoofed sources answers
// hundreds of reserved addresses (hping3 --rand-source in
// testdata/captures/syn-flood-incoming.pcap), which is backscatter, not a
// misconfiguration. Other protocols (GRE, ESP, ...) carry no reply marker
// and count.
func (e *Engine) reply(r *flow.Record) bool {
	switch r.Proto {
	case flow.ProtoTCP:
		f := r.TCPFlags
		return f&flow.TCPRst != 0 || (f&flow.TCPSyn != 0 && f&flow.TCPAck != 0 && f&(flow.TCPPsh|flow.TCPFin) == 0)
	case flow.ProtoUDP:
		return r.DstPort >= 1024 && e.servicePort(r.SrcPort)
	case flow.ProtoICMP:
		return r.DstPort != icmpEchoRequest
	case flow.ProtoICMPv6:
		return r.DstPort != icmpv6EchoRequest
	}
	return false
}

// backscatter reports whether an outgoing record is a reply a server sends
// because it received something, whatever it runs: TCP SYN-ACK or RST, ICMP
// and ICMPv6 errors and echo replies. UDP answers are not: an open resolver
// or memcached amplifying towards a victim is abuse to stop.
func (e *Engine) backscatter(r *flow.Record) bool {
	switch r.Proto {
	case flow.ProtoTCP:
		f := r.TCPFlags
		return f&flow.TCPRst != 0 || (f&flow.TCPSyn != 0 && f&flow.TCPAck != 0 && f&(flow.TCPPsh|flow.TCPFin) == 0)
	case flow.ProtoICMP:
		t := r.DstPort >> 8
		return t == 0 || t == 3 || t == 4 || t == 5 || t == 11 || t == 12
	case flow.ProtoICMPv6:
		t := r.DstPort >> 8
		return t < 128 || t == 129
	}
	return false
}

// isEcho reports whether s is the ICMP or ICMPv6 echo service: sweeps are
// their own kind, with their own threshold.
func isEcho(s scan.Service) bool {
	return s == scan.Key{Proto: flow.ProtoICMP, Port: icmpEchoRequest}.Service() ||
		s == scan.Key{Proto: flow.ProtoICMPv6, Port: icmpv6EchoRequest}.Service()
}

// scanOut feeds an outgoing record to the address's contact table.
func (s *shard) scanOut(slot int32, n *addrNode, r *flow.Record, dst ipkey.Key, t int64, lim *limits) {
	if lim.horizontal == 0 && lim.vertical == 0 && lim.sweep == 0 {
		return
	}
	act := s.e.outAction(r)
	if act == actNone {
		return
	}
	v := &n.v
	k := scan.Key{Addr: dst, Port: r.DstPort, Proto: r.Proto}
	t = max(t, satAdd(s.now, -lim.scanWindow))
	w := uint32(min(r.Rate(), 1<<32-1))
	if act == actAttempt {
		tb := s.scanTable(v, lim)
		switch tb.Attempt(k, t, w, r.SrcPort, meanSize(r), s.cfg.MaxContacts) {
		case scan.New:
			s.schedule(pendingAttempt{key: k, due: satAdd(s.now, lim.grace), slot: slot, gen: n.gen})
		case scan.Full:
			s.st[stDropContact]++
		}
		return
	}
	// An established connection. With sampled input the SYN of a connection
	// is rarely sampled along with a later packet of it, so a crawler's
	// sampled SYNs would look unanswered: remembering the services the
	// address connects to as a client (remote port is a service port) lets
	// AttemptShare see that most of its contacts are answered.
	create := r.SamplingRate > 1 && s.e.servicePort(r.DstPort)
	if v.scan == nil && !create {
		return
	}
	s.scanTable(v, lim).Answer(k, t, w, create, s.cfg.MaxContacts, s.cfg.MaxContacts/2)
}

// scanIn feeds an incoming record: UDP from a peer marks it answered (or
// known, when it sent first: a DNS server's clients, a P2P client's peers),
// and an echo reply answers an echo request. Incoming SYN-ACK and RST answer
// nothing: a port scan gets them from open and closed ports alike.
func (s *shard) scanIn(n *addrNode, r *flow.Record, src ipkey.Key, t int64, lim *limits) {
	if lim.horizontal == 0 && lim.vertical == 0 && lim.sweep == 0 {
		return
	}
	if r.Flags&(flow.FlagFragment|flow.FlagTruncated) != 0 {
		return
	}
	var k scan.Key
	create := false
	switch {
	case r.Proto == flow.ProtoUDP:
		k, create = scan.Key{Addr: src, Port: r.SrcPort, Proto: flow.ProtoUDP}, true
	case r.Proto == flow.ProtoICMP && r.DstPort == icmpEchoReply:
		k = scan.Key{Addr: src, Port: icmpEchoRequest, Proto: flow.ProtoICMP}
	case r.Proto == flow.ProtoICMPv6 && r.DstPort == icmpv6EchoReply:
		k = scan.Key{Addr: src, Port: icmpv6EchoRequest, Proto: flow.ProtoICMPv6}
	default:
		return
	}
	v := &n.v
	if v.scan == nil && !create {
		return
	}
	t = max(t, satAdd(s.now, -lim.scanWindow))
	w := uint32(min(r.Rate(), 1<<32-1))
	s.scanTable(v, lim).Answer(k, t, w, create, s.cfg.MaxContacts, s.cfg.MaxContacts/2)
}

// scanTable returns the address's contact table, creating it, and expires
// old contacts every sweep period (a tenth of the window).
func (s *shard) scanTable(v *addrState, lim *limits) *scan.Table {
	// Inlined: the table exists and was swept less than a period ago. (A
	// difference that overflows is negative, so huge unsigned, and takes
	// the slow path, which saturates.)
	if t := v.scan; t != nil && uint64(s.now-t.LastSweep) < uint64(lim.scanSweep) {
		return t
	}
	return s.scanTableSlow(v, lim)
}

func (s *shard) scanTableSlow(v *addrState, lim *limits) *scan.Table {
	if v.scan == nil {
		v.scan = scan.NewTable()
		v.scan.LastSweep = s.now
	}
	if satSub(s.now, v.scan.LastSweep) >= lim.scanSweep {
		v.scan.Expire(satAdd(s.now, -lim.scanWindow), s.now)
	}
	return v.scan
}

// pendingAttempt is an attempt waiting out its grace period.
type pendingAttempt struct {
	key  scan.Key
	due  int64
	slot int32
	gen  uint32 // the slot's generation: a freed and reused slot is skipped
}

// pendingQueue is a FIFO ring of pending attempts that grows up to the
// configured cap. Attempts join in event-time order with the same grace, so
// the head is always the first due (with per-group graces, at most the
// longest grace late).
type pendingQueue struct {
	buf     []pendingAttempt
	head, n int
	// headDue is the head's due time, math.MaxInt64 when empty: the one
	// comparison every record makes (promoteDue), without reading buf.
	headDue int64
}

func (q *pendingQueue) push(p pendingAttempt) {
	if q.n == len(q.buf) {
		nb := make([]pendingAttempt, max(2*len(q.buf), 64))
		for i := 0; i < q.n; i++ {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = p
	if q.n == 0 {
		q.headDue = p.due
	}
	q.n++
}

func (q *pendingQueue) pop() pendingAttempt {
	p := q.buf[q.head]
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	q.headDue = math.MaxInt64
	if q.n > 0 {
		q.headDue = q.buf[q.head].due
	}
	return p
}

func (q *pendingQueue) clear() { q.head, q.n, q.headDue = 0, 0, math.MaxInt64 }

// schedule queues an attempt to be counted when its grace period is over;
// at the cap, the oldest is judged early instead (and counted as such).
func (s *shard) schedule(p pendingAttempt) {
	if p.due <= s.now {
		s.promote(p)
		return
	}
	if s.pending.n >= s.e.perShard(s.cfg.PendingAttempts) {
		s.st[stPendingEarly]++
		s.promote(s.pending.pop())
	}
	s.pending.push(p)
}

// promoteDue counts the attempts whose grace period is over. Inlined: for
// most records none is.
func (s *shard) promoteDue() {
	if s.pending.headDue <= s.now {
		s.promoteDueSlow()
	}
}

func (s *shard) promoteDueSlow() {
	for s.pending.headDue <= s.now && s.pending.n > 0 { // now may be MaxInt64 too
		s.promote(s.pending.pop())
	}
}

// promote counts an attempt that stayed unanswered and checks the
// thresholds it may have pushed its service or host over.
func (s *shard) promote(p pendingAttempt) {
	n := s.addrs.node(p.slot)
	if !n.live || n.gen != p.gen || n.v.epoch != s.epoch || n.v.scan == nil {
		return
	}
	v := &n.v
	lim := s.e.limitsOf(v.group)
	c, h, vc, ok := v.scan.Promote(p.key, satAdd(s.now, -lim.scanWindow))
	if !ok {
		return
	}
	for _, sl := range [...]int{slotHorizontal, slotVertical, slotSweep} {
		if d := v.det[sl]; d != nil {
			s.addAttempt(d, n.key, p.key, c)
		}
	}
	if isEcho(p.key.Service()) {
		if h.Crossed(lim.sweep, lim.minObserved, lim.share) {
			s.scanAbove(n, p.slot, slotSweep, h.Open, lim.sweep, lim, p.key)
		}
		return
	}
	if h.Crossed(lim.horizontal, lim.minObserved, lim.share) {
		s.scanAbove(n, p.slot, slotHorizontal, h.Open, lim.horizontal, lim, p.key)
	}
	if vc.Crossed(lim.vertical, lim.minObserved, lim.share) {
		s.scanAbove(n, p.slot, slotVertical, vc.Open, lim.vertical, lim, p.key)
	}
}

// addAttempt adds a counted attempt to an open netscan detection.
func (s *shard) addAttempt(d *openDet, src ipkey.Key, k scan.Key, c scan.Contact) {
	d.attemptsTotal++
	if len(d.attempts) < s.cfg.MaxAttempts {
		d.attempts = append(d.attempts, attempt(src, k, c))
	}
	d.pkts += uint64(c.Weight)
	d.bytes += uint64(c.Weight) * uint64(c.Size)
	d.rate = max(d.rate, c.Weight)
	d.last = max(d.last, c.Last)
}

func attempt(src ipkey.Key, k scan.Key, c scan.Contact) abuseguard.Attempt {
	return abuseguard.Attempt{
		Time: time.Unix(0, c.First).UTC(), Src: src.Addr(), SrcPort: c.SrcPort,
		Dst: k.Addr.Addr(), DstPort: k.Port, Proto: k.Proto, Size: uint32(c.Size),
	}
}

// scanAbove notes that a netscan condition holds at value, opening the
// detection (with the attempts so far as evidence) when it is new.
func (s *shard) scanAbove(n *addrNode, slot int32, sl int, value, threshold uint64, lim *limits, k scan.Key) {
	v := &n.v
	if d := v.det[sl]; d != nil {
		d.lastAbove = s.now
		d.value = max(d.value, float64(value))
		d.distinct = max(d.distinct, value)
		noteKey(d, sl, k)
		s.progress(n, sl)
		return
	}
	// The evidence: every counted attempt in the table, oldest first (then
	// by key, so that replay output is the same every run).
	type ref struct {
		k scan.Key
		c scan.Contact
	}
	var refs []ref
	cutoff := satAdd(s.now, -lim.scanWindow)
	v.scan.Contacts(func(k scan.Key, c scan.Contact) {
		if c.State == scan.Counted && c.Last >= cutoff {
			refs = append(refs, ref{k, c})
		}
	})
	slices.SortFunc(refs, func(a, b ref) int {
		if c := cmp.Compare(a.c.First, b.c.First); c != 0 {
			return c
		}
		if c := cmp.Compare(a.k.Addr.Hi, b.k.Addr.Hi); c != 0 {
			return c
		}
		if c := cmp.Compare(a.k.Addr.Lo, b.k.Addr.Lo); c != 0 {
			return c
		}
		if c := cmp.Compare(a.k.Proto, b.k.Proto); c != 0 {
			return c
		}
		return cmp.Compare(a.k.Port, b.k.Port)
	})
	first := s.now
	if len(refs) > 0 {
		first = refs[0].c.First
	}
	unit := "destinations"
	if sl == slotVertical {
		unit = "ports"
	}
	d := s.openAddrDet(n, slot, sl, "", first, float64(threshold), unit)
	for _, r := range refs {
		s.addAttempt(d, n.key, r.k, r.c)
	}
	d.value, d.distinct = float64(value), value
	noteKey(d, sl, k)
	s.emit(n, sl, false)
}

// noteKey remembers the service or host that crossed in slot sl.
func noteKey(d *openDet, sl int, k scan.Key) {
	if sl == slotVertical {
		if len(d.hosts) < maxCrossedKeys && !slices.Contains(d.hosts, k.Addr) {
			d.hosts = append(d.hosts, k.Addr)
		}
		return
	}
	if sv := k.Service(); len(d.services) < maxCrossedKeys && !slices.Contains(d.services, sv) {
		d.services = append(d.services, sv)
	}
}

// evalScan re-evaluates the open netscan detections of an address at
// housekeeping: as attempts expire the counters fall, and a scan that has
// stayed below threshold for Quiet ends. Only the keys that crossed are
// checked; a key crossing anew is noted by promote as it happens.
func (s *shard) evalScan(n *addrNode, lim *limits) {
	v := &n.v
	if v.scan == nil {
		return
	}
	s.scanTable(v, lim) // expires on the sweep period
	for _, sl := range [...]int{slotHorizontal, slotVertical, slotSweep} {
		d := v.det[sl]
		if d == nil {
			continue
		}
		var value uint64
		switch sl {
		case slotVertical:
			for _, h := range d.hosts {
				if c := v.scan.Host(h); c.Crossed(lim.vertical, lim.minObserved, lim.share) {
					value = max(value, c.Open)
				}
			}
		default:
			th := lim.horizontal
			if sl == slotSweep {
				th = lim.sweep
			}
			for _, sv := range d.services {
				if c := v.scan.Service(sv); c.Crossed(th, lim.minObserved, lim.share) {
					value = max(value, c.Open)
				}
			}
		}
		if value > 0 {
			d.value = max(d.value, float64(value))
			d.distinct = max(d.distinct, value)
		}
		s.keepOrEnd(n, sl, value > 0, lim.scanQuiet, lim.maxDuration)
	}
}

// meanSize is the mean IP length per packet of r, for the evidence.
func meanSize(r *flow.Record) uint16 {
	return uint16(min(perPacket(r), 65535))
}
