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
