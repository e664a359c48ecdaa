// Package scan keeps the contacts of one customer address and counts its
// unanswered connection attempts by destination port (horizontal scans) and
// by destination host (vertical scans), the state behind netscan detection
// (M1).
//
// A Table knows nothing of packets: the caller decides which records are
// attempts and which answer one (see detect's netscan rules) and tells the
// table. The table keeps, per contact (remote address, protocol, remote
// port), when it was first and last seen, how much it weighs (the sampling
// rate of the record that opened it) and its state:
//
//	Pending  an attempt inside its grace period: not counted yet, because a
//	         handshake normally completes within a round trip
//	Counted  an attempt that stayed unanswered: it counts
//	Done     answered or established: it counts towards the answered share
//
// Counters are kept incrementally, so checking a threshold is one map
// lookup, and expiring old contacts walks the table once per sweep.
//
// A Table is not safe for concurrent use. Once its maps have grown it does
// not allocate; the caller bounds it with the max arguments.
package scan

import (
	"abuseguard/detect/flat"
	"abuseguard/detect/ipkey"
)

// Key identifies a contact: the remote address, protocol and remote port
// (ICMP: type<<8|code of the echo request). 24 bytes and pointer-free (see
// ipkey for the measurement).
type Key struct {
	Addr  ipkey.Key
	Port  uint16
	Proto uint8
}

// bit returns k's counter in Table.openCount.
func (k Key) bit() uint {
	return uint(ipkey.Mix(k.Addr.Hi^k.Addr.Lo*0x9e3779b97f4a7c15^uint64(k.Port)<<8^uint64(k.Proto)) & (openCounters - 1))
}

// Service returns the (protocol, port) part of k, the horizontal key.
func (k Key) Service() Service { return Service(uint32(k.Proto)<<16 | uint32(k.Port)) }

// Service is a protocol and port packed as proto<<16 | port.
type Service uint32

// Proto returns the protocol of s.
func (s Service) Proto() uint8 { return uint8(s >> 16) }

// Port returns the port of s.
func (s Service) Port() uint16 { return uint16(s) }

// State is the state of a contact.
type State uint8

// States of a contact.
const (
	Pending State = iota + 1 // an attempt in its grace period
	Counted                  // an unanswered attempt, counted
	Done                     // answered or established
)

// Contact is one remote endpoint a customer address talked to.
type Contact struct {
	// First and Last are when the contact was first and last seen, in Unix
	// nanoseconds of event time.
	First, Last int64
	// Weight is the sampling rate of the record that opened the contact:
	// one observed contact stands for Weight real ones.
	Weight uint32
	// SrcPort and Size describe the first attempt, for the evidence log.
	SrcPort uint16
	Size    uint16
	State   State
	// Passive marks a contact created by an answer rather than by an attempt
	// (incoming UDP first, or an established connection seen without its
	// SYN). Passive contacts are limited separately so that a flood of
	// incoming packets cannot fill the table and hide a scan.
	Passive bool
}

// Counter counts the contacts of one service (horizontal) or one remote host
// (vertical).
type Counter struct {
	// Open is the weighted number of counted, unanswered attempts; Seen is
	// how many were actually observed (Open/Seen is the sampling rate).
	Open uint64
	Seen uint32
	// Done is the weighted number of contacts that were answered.
	Done uint64
}

// Crossed reports whether c shows a scan: at least threshold weighted
// unanswered attempts, at least min(threshold, minObserved) of them observed
// (one sampled packet at 1:1000 weighs 1 000 but proves nothing), and
// unanswered attempts making up at least share of all contacts (a crawler
// whose 10 % dead hosts add up to more than the threshold is not a scanner;
// a scanner's targets mostly do not answer).
func (c Counter) Crossed(threshold uint64, minObserved uint32, share float64) bool {
	if threshold == 0 || c.Open < threshold {
		return false
	}
	if uint64(c.Seen) < min(threshold, uint64(minObserved)) {
		return false
	}
	return float64(c.Open) >= share*float64(c.Open+c.Done)
}

// Result says what Attempt did.
type Result uint8

// Results of Attempt.
const (
	New      Result = iota + 1 // a new contact, Pending
	Repeated                   // an open attempt seen again
	Answered                   // the contact already answered: not an attempt
	Full                       // the table is full: dropped
)

// Table is the contact table of one customer address.
type Table struct {
	contacts flat.Table[Key, Contact]
	horiz    flat.Table[Service, Counter]
	vert     flat.Table[ipkey.Key, Counter]
	passive  int // contacts with Passive set
	open     int // contacts Pending or Counted
	// openCount is a counting filter of the keys of open attempts: most
	// packets of a server are of established connections, and the filter
	// answers "no open attempt to this endpoint" without a lookup (a lookup
	// in a table that has left the CPU cache costs a cache miss or two).
	// Counters go down as attempts are answered, so that the packets of a
	// connection after its handshake pass through: a bit set that was only
	// cleared at Expire let 12 % of the replay's records look up contacts
	// answered long before (BenchmarkReplay, November 2026). The counters
	// are 4 bits, two to a byte; one that reached 15 stays there until
	// Expire recounts.
	openCount [openCounters / 2]uint8
	// LastSweep is when Expire last ran, for the caller's sweep schedule.
	LastSweep int64
}

// openCounters is the number of counters in Table.openCount: 256 bytes, a
// false positive rate of n/512 for n open attempts.
const openCounters = 512

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{
		contacts: flat.New[Key, Contact](hashKey),
		horiz:    flat.New[Service, Counter](hashService),
		vert:     flat.New[ipkey.Key, Counter](hashAddr),
	}
}

// Len returns the number of contacts.
func (t *Table) Len() int { return t.contacts.Len() }

// Open returns the number of attempts not answered yet, counted or not.
func (t *Table) Open() int { return t.open }

// refresh is how stale Last may get before a repeated packet rewrites the
// contact: expiry works at window granularity (60 s), and skipping the write
// keeps the contact's cache line clean on most packets of a long UDP
// exchange.
const refresh = int64(1e9)

// Reset empties the table, keeping its memory.
func (t *Table) Reset() {
	t.contacts.Clear()
	t.horiz.Clear()
	t.vert.Clear()
	t.passive, t.open = 0, 0
	t.openCount = [openCounters / 2]uint8{}
	t.LastSweep = 0
}

// Attempt records a connection attempt to k at time t, weighing w, opening
// the contact as Pending when it is new. max bounds the table.
func (t *Table) Attempt(k Key, at int64, w uint32, srcPort, size uint16, max int) Result {
	h := hashKey(k)
	c := t.contacts.Find(k, h)
	if c == nil {
		if t.contacts.Len() >= max {
			return Full
		}
		t.contacts.Insert(k, h, Contact{First: at, Last: at, Weight: w, SrcPort: srcPort, Size: size, State: Pending})
		t.open++
		t.opened(k)
		return New
	}
	if at-c.Last >= refresh {
		c.Last = at
	}
	if c.State == Done {
		return Answered
	}
	return Repeated
}

// Promote counts k if it is still a Pending attempt last seen at or after
// cutoff (not expired), and returns the contact and the counters of its
// service and host as they are now. ok is false when there was nothing to
// promote.
func (t *Table) Promote(k Key, cutoff int64) (c Contact, h, v Counter, ok bool) {
	p := t.contacts.Find(k, hashKey(k))
	if p == nil || p.State != Pending || p.Last < cutoff {
		if p != nil {
			c = *p
		}
		return c, h, v, false
	}
	p.State = Counted
	c = *p
	hc := t.serviceCounter(k.Service())
	hc.Open += uint64(c.Weight)
	hc.Seen++
	h = *hc
	if vertical(k.Proto) {
		vc := t.hostCounter(k.Addr)
		vc.Open += uint64(c.Weight)
		vc.Seen++
		v = *vc
	}
	return c, h, v, true
}

// serviceCounter returns the counter of sv, adding a zero one.
func (t *Table) serviceCounter(sv Service) *Counter {
	h := hashService(sv)
	if c := t.horiz.Find(sv, h); c != nil {
		return c
	}
	return t.horiz.Insert(sv, h, Counter{})
}

// hostCounter returns the counter of remote host a, adding a zero one.
func (t *Table) hostCounter(a ipkey.Key) *Counter {
	h := hashAddr(a)
	if c := t.vert.Find(a, h); c != nil {
		return c
	}
	return t.vert.Insert(a, h, Counter{})
}

// Answer marks k answered (or established) at time at. When k is unknown and
// create is set, it records k as an answered contact of weight w, so that a
// later outgoing packet to it is known not to be an attempt; at most
// maxPassive such contacts are created, and never past max. Without create
// and with no open attempt, Answer returns at once: that is the common case
// of every packet of an established connection.
func (t *Table) Answer(k Key, at int64, w uint32, create bool, max, maxPassive int) {
	if !create {
		if t.open == 0 || t.openCounter(k.bit()) == 0 {
			return
		}
	}
	h := hashKey(k)
	c := t.contacts.Find(k, h)
	if c == nil {
		if !create || t.contacts.Len() >= max || t.passive >= maxPassive {
			return
		}
		t.contacts.Insert(k, h, Contact{First: at, Last: at, Weight: w, State: Done, Passive: true})
		t.passive++
		t.add(k, 0, 0, uint64(w))
		return
	}
	switch c.State {
	case Pending:
		t.open--
		t.closed(k)
		c.Last, c.State = maxInt64(c.Last, at), Done
		t.add(k, 0, 0, uint64(c.Weight))
	case Counted:
		t.open--
		t.closed(k)
		c.Last, c.State = maxInt64(c.Last, at), Done
		t.sub(k, uint64(c.Weight), 1, 0)
		t.add(k, 0, 0, uint64(c.Weight))
	default:
		if at-c.Last >= refresh {
			c.Last = maxInt64(c.Last, at)
		}
	}
}

// Expire removes the contacts last seen before cutoff and takes them out of
// the counters. It walks the whole table: call it once per sweep period
// (a tenth of the window), not per record.
func (t *Table) Expire(cutoff, now int64) {
	t.LastSweep = now
	t.openCount = [openCounters / 2]uint8{}
	t.contacts.DeleteWhere(func(k Key, c *Contact) bool {
		if c.Last >= cutoff {
			if c.State == Pending || c.State == Counted {
				t.opened(k) // an entry offered twice counts twice: harmless
			}
			return false
		}
		switch c.State {
		case Pending:
			t.open--
		case Counted:
			t.sub(k, uint64(c.Weight), 1, 0)
			t.open--
		case Done:
			t.sub(k, 0, 0, uint64(c.Weight))
		}
		if c.Passive {
			t.passive--
		}
		return true
	})
}

// openCounter returns counter b of the filter.
func (t *Table) openCounter(b uint) uint8 { return t.openCount[b/2] >> (b % 2 * 4) & 15 }

// opened counts an open attempt to k in the filter.
func (t *Table) opened(k Key) {
	if b := k.bit(); t.openCounter(b) < 15 {
		t.openCount[b/2] += 1 << (b % 2 * 4)
	}
}

// closed uncounts an attempt to k that is answered; a saturated counter
// is left for Expire to recount.
func (t *Table) closed(k Key) {
	if b := k.bit(); t.openCounter(b)-1 < 14 { // 1 to 14
		t.openCount[b/2] -= 1 << (b % 2 * 4)
	}
}

// Contacts calls fn for every contact, in no particular order.
func (t *Table) Contacts(fn func(Key, Contact)) {
	t.contacts.Each(func(k Key, c *Contact) { fn(k, *c) })
}

// Service returns the counter of service sv.
func (t *Table) Service(sv Service) Counter {
	if c := t.horiz.Find(sv, hashService(sv)); c != nil {
		return *c
	}
	return Counter{}
}

// Host returns the counter of remote host a.
func (t *Table) Host(a ipkey.Key) Counter {
	if c := t.vert.Find(a, hashAddr(a)); c != nil {
		return *c
	}
	return Counter{}
}

func (t *Table) add(k Key, open uint64, seen uint32, done uint64) {
	h := t.serviceCounter(k.Service())
	h.Open += open
	h.Seen += seen
	h.Done += done
	if vertical(k.Proto) {
		v := t.hostCounter(k.Addr)
		v.Open += open
		v.Seen += seen
		v.Done += done
	}
}

func (t *Table) sub(k Key, open uint64, seen uint32, done uint64) {
	sv := k.Service()
	hh := hashService(sv)
	if h := t.horiz.Find(sv, hh); h != nil {
		h.Open -= open
		h.Seen -= seen
		h.Done -= done
		if *h == (Counter{}) {
			t.horiz.Delete(sv, hh)
		}
	}
	if vertical(k.Proto) {
		hv := hashAddr(k.Addr)
		if v := t.vert.Find(k.Addr, hv); v != nil {
			v.Open -= open
			v.Seen -= seen
			v.Done -= done
			if *v == (Counter{}) {
				t.vert.Delete(k.Addr, hv)
			}
		}
	}
}

// vertical reports whether contacts of proto count as ports of a host:
// TCP, UDP and SCTP. An ICMP echo is one probe of a host, not a port.
func vertical(proto uint8) bool { return proto == 6 || proto == 17 || proto == 132 }

func maxInt64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// Hashes of the three key types, keyed (see flat).

func hashKey(k Key) uint64 {
	return flat.Hash3(k.Addr.Hi, k.Addr.Lo, uint64(k.Port)<<8|uint64(k.Proto))
}

func hashService(s Service) uint64 { return flat.Hash2(uint64(s), 0) }

func hashAddr(a ipkey.Key) uint64 { return flat.Hash2(a.Hi, a.Lo) }
