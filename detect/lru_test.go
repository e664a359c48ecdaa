package detect

import (
	"net/netip"
	"testing"

	"abuseguard/detect/ipkey"
)

// TestLRUIndex: 5 000 addresses through an lru of 1 000, evicting the
// least recently active: the last 1 000 are found, the others not, and the
// shard's address index hashes as address() looks it up.
func TestLRUIndex(t *testing.T) {
	key := func(i int) ipkey.Key {
		return ipkey.From(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	l := newLRU[ipkey.Key, addrState](1000, addrHash)
	for i := range 5000 {
		if l.full() {
			l.remove(l.tail)
		}
		l.insert(key(i), int64(i))
	}
	if l.len() != 1000 {
		t.Fatalf("len() = %d, want 1000", l.len())
	}
	for i := range 5000 {
		got := l.getHashed(key(i), addrHash(key(i)))
		if found := got >= 0 && l.node(got).key == key(i); found != (i >= 4000) {
			t.Fatalf("address %d: slot %d, found %v", i, got, found)
		}
	}
	e, _ := newEngine(t, testConfig())
	if k := key(7); e.shards[0].addrs.hash(k) != addrHash(k) {
		t.Fatal("the shard's address index does not hash with addrHash, which address() passes to getHashed")
	}
}

// TestLRUVictim: a node touched since it was last moved is not evicted
// while one that was not touched remains, though touching it within
// moveGranularity left it in place.
func TestLRUVictim(t *testing.T) {
	key := func(i int) ipkey.Key { return ipkey.From(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})) }
	sec := int64(1e9)
	l := newLRU[ipkey.Key, addrState](3, addrHash)
	a := l.insert(key(1), 0)
	b := l.insert(key(2), 1*sec)
	l.insert(key(3), 2*sec)
	l.touch(a, l.node(a), 3*sec)
	if l.tail != a {
		t.Fatalf("tail = slot %d, want %d: a touch within moveGranularity moved the node", l.tail, a)
	}
	if got := l.victim(4 * sec); got != b {
		t.Fatalf("victim() = slot %d, want %d (the least recently active)", got, b)
	}
	if l.head != a {
		t.Fatalf("head = slot %d, want %d: the touched tail goes to the front", l.head, a)
	}
	l.touch(b, l.node(b), 1*sec+moveGranularity)
	if l.head != b {
		t.Fatalf("head = slot %d, want %d: a touch moveGranularity after the last move moves", l.head, b)
	}
}

// TestAddressHint: the slot the class cache remembers for an address is
// used only while it still holds that address: after the address is freed
// and its slot taken by another, address() finds or creates the right one.
func TestAddressHint(t *testing.T) {
	e, _ := newEngine(t, testConfig())
	s := e.shards[0]
	a := ipkey.From(netip.MustParseAddr("10.0.0.1"))
	b := ipkey.From(netip.MustParseAddr("10.0.0.2"))
	c := e.inv.Classify(netip.MustParseAddr("10.0.0.1"))
	ce, hint := e.classes.entry(a)
	ce.key = a
	i, n := s.address(a, c, hint)
	if ce.slot != i || n.key != a {
		t.Fatalf("address(a) = slot %d (key %v), cache remembers slot %d; want the same slot, key a", i, n.key, ce.slot)
	}
	if j, _ := s.address(a, c, hint); j != i {
		t.Fatalf("address(a) again = slot %d, want %d", j, i)
	}
	s.addrs.remove(i)
	if j, _ := s.address(b, c, -1); j != i {
		t.Fatalf("address(b) = slot %d, want the freed slot %d (the case under test)", j, i)
	}
	j, n := s.address(a, c, hint)
	if j == i || n.key != a {
		t.Fatalf("address(a) after its slot went to b = slot %d (key %v); want a new slot holding a", j, n.key)
	}
	if ce.slot != j {
		t.Fatalf("cache remembers slot %d, want %d", ce.slot, j)
	}
}
