package scan

import (
	"math/rand/v2"

	"abuseguard/detect/ipkey"
)

// flat is an open-addressing hash table with linear probing, keys and
// values stored inline in one array: a lookup in a table that has left the
// CPU cache costs one or two cache misses (the slot, and the next line
// when a probe crosses it), where a Go map of a few thousand entries costs
// four or five dependent ones (map header, directory, table, control word,
// slot). Contact tables are looked up on every UDP packet and every TCP
// handshake, there is one per customer address, and a busy address's
// table has thousands of contacts: in BenchmarkReplay (cmd/abuseguard) the
// Go maps were a fifth of the replay path's time.
//
// Deletion shifts the following entries back (no tombstones), so a table
// that churns never needs a rebuild. The hash is computed by the caller
// (hot paths, with concrete code the compiler inlines) or by fn (growing
// and deleting). Keys are hashed with a per-process random seed, so that
// an attacker choosing addresses and ports cannot aim at one chain.
//
// The zero value is an empty table; it allocates on first insert. Not safe
// for concurrent use.
type flat[K comparable, V any] struct {
	slots []slot[K, V]
	n     int
	fn    func(K) uint64
}

type slot[K comparable, V any] struct {
	key  K
	val  V
	used bool
}

// Table sizes: at most 3/4 full, so a probe is 1.5 slots on average for a
// hit; the smallest table has 4 slots (256 bytes of contacts): most
// addresses talk to a handful of peers.
const (
	minSlots  = 4
	loadNum   = 3
	loadDenom = 4
)

// seed keys the hashes of this process.
var seed = rand.Uint64() | 1

func (t *flat[K, V]) len() int { return t.n }

// find returns the value of k, whose hash is h, or nil.
func (t *flat[K, V]) find(k K, h uint64) *V {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if !s.used {
			return nil
		}
		if s.key == k {
			return &s.val
		}
	}
}

// insert adds k, which must be absent, with value v, and returns where v
// is stored (valid until the next insert or delete).
func (t *flat[K, V]) insert(k K, h uint64, v V) *V {
	if (t.n+1)*loadDenom > len(t.slots)*loadNum {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].used {
		i = (i + 1) & mask
	}
	t.slots[i] = slot[K, V]{key: k, val: v, used: true}
	t.n++
	return &t.slots[i].val
}

// delete removes k, whose hash is h, if present.
func (t *flat[K, V]) delete(k K, h uint64) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if !s.used {
			return
		}
		if s.key == k {
			t.deleteAt(i)
			return
		}
	}
}

// deleteAt empties slot i and moves back the entries after it that are
// not at their home slot, so that every entry stays reachable from its
// home slot without crossing an empty one. It returns true when an entry
// moved into slot i (a walk over the slots must look at i again).
func (t *flat[K, V]) deleteAt(i uint64) (refill bool) {
	mask := uint64(len(t.slots) - 1)
	hole := i
	for j := (i + 1) & mask; t.slots[j].used; j = (j + 1) & mask {
		home := t.fn(t.slots[j].key) & mask
		// The entry at j may fill the hole if its home is not in (hole, j]
		// (cyclically): it then stays reachable from its home.
		if (j-home)&mask >= (j-hole)&mask {
			t.slots[hole] = t.slots[j]
			if hole == i {
				refill = true
			}
			hole = j
		}
	}
	t.slots[hole] = slot[K, V]{}
	t.n--
	return refill
}

// deleteWhere removes every entry for which drop returns true, calling it
// once per entry present at the start (an entry moved by a deletion to a
// slot not yet visited may be offered twice; drop must then answer the
// same).
func (t *flat[K, V]) deleteWhere(drop func(K, *V) bool) {
	for i := uint64(0); i < uint64(len(t.slots)); {
		s := &t.slots[i]
		if s.used && drop(s.key, &s.val) {
			if t.deleteAt(i) {
				continue // an entry moved into i: look at it
			}
		}
		i++
	}
}

// each calls fn for every entry.
func (t *flat[K, V]) each(fn func(K, *V)) {
	for i := range t.slots {
		if s := &t.slots[i]; s.used {
			fn(s.key, &s.val)
		}
	}
}

// clear empties the table, keeping its memory.
func (t *flat[K, V]) clear() {
	if t.n > 0 {
		clear(t.slots)
		t.n = 0
	}
}

func (t *flat[K, V]) grow() {
	old := t.slots
	t.slots = make([]slot[K, V], max(minSlots, 2*len(old)))
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if !s.used {
			continue
		}
		i := t.fn(s.key) & mask
		for t.slots[i].used {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// Hashes of the three key types, seeded. The low bits pick the slot:
// ipkey.Mix spreads every input bit over them.

func hashKey(k Key) uint64 {
	return ipkey.Mix((k.Addr.Hi^seed)*0x9e3779b97f4a7c15 ^ k.Addr.Lo*0xbf58476d1ce4e5b9 ^ uint64(k.Port)<<8 ^ uint64(k.Proto))
}

func hashService(s Service) uint64 { return ipkey.Mix(uint64(s) ^ seed) }

func hashAddr(a ipkey.Key) uint64 {
	return ipkey.Mix((a.Hi^seed)*0x9e3779b97f4a7c15 ^ a.Lo*0xbf58476d1ce4e5b9)
}
