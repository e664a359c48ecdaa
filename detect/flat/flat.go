// Package flat is an open-addressing hash table for the detectors'
// per-address state: keys and values inline in one array, linear probing.
//
// A lookup in a table that has left the CPU cache costs one or two cache
// misses (the slot, and the next line when a probe crosses it), where a Go
// map of a few thousand entries costs four or five dependent ones (map
// header, directory, table, control word, slot). The detectors look up a
// contact table on every UDP packet and TCP handshake, there is one per
// customer address, and a busy address's has thousands of contacts: in
// BenchmarkReplay (cmd/abuseguard, November 2026) Go maps were a fifth of
// the replay path's time.
//
// Deletion shifts the following entries back (no tombstones), so a table
// that churns never needs a rebuild. The caller computes hashes, with Hash2
// or Hash3 (keyed with a per-process random seed, so that an attacker who
// chooses addresses and ports, spoofed sources included, cannot aim at one
// chain) in concrete code the compiler inlines; the table keeps a hash
// function for growing and deleting only.
package flat

import (
	"math/bits"
	"math/rand/v2"
)

// Table maps K to V. The zero value is not usable: make tables with New.
// It allocates on first insert and grows by doubling, never shrinks. Not
// safe for concurrent use.
type Table[K comparable, V any] struct {
	slots []slot[K, V]
	n     int
	fn    func(K) uint64
}

// New returns an empty table whose keys hash with fn (which must agree
// with the hashes callers pass).
func New[K comparable, V any](fn func(K) uint64) Table[K, V] {
	return Table[K, V]{fn: fn}
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

// Len returns the number of entries.
func (t *Table[K, V]) Len() int { return t.n }

// Find returns where the value of k, whose hash is h, is stored (valid
// until the next Insert or Delete), or nil.
func (t *Table[K, V]) Find(k K, h uint64) *V {
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

// Insert adds k, which must be absent, with value v, and returns where v
// is stored (valid until the next Insert or Delete).
func (t *Table[K, V]) Insert(k K, h uint64, v V) *V {
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

// Delete removes k, whose hash is h, if present.
func (t *Table[K, V]) Delete(k K, h uint64) {
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
func (t *Table[K, V]) deleteAt(i uint64) (refill bool) {
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

// DeleteWhere removes every entry for which drop returns true. Every entry
// present at the start is offered; one moved by a deletion to a slot
// already visited may be offered twice, and drop must then answer the
// same.
func (t *Table[K, V]) DeleteWhere(drop func(K, *V) bool) {
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

// Each calls fn for every entry, in no particular order.
func (t *Table[K, V]) Each(fn func(K, *V)) {
	for i := range t.slots {
		if s := &t.slots[i]; s.used {
			fn(s.key, &s.val)
		}
	}
}

// Clear empties the table, keeping its memory.
func (t *Table[K, V]) Clear() {
	if t.n > 0 {
		clear(t.slots)
		t.n = 0
	}
}

func (t *Table[K, V]) grow() {
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

// The per-process keys of Hash2 and Hash3.
var seed0, seed1, seed2, seed3 = rand.Uint64(), rand.Uint64(), rand.Uint64(), rand.Uint64()

// mix is wyhash's: the two halves of the 128-bit product, folded.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// Hash2 returns a keyed hash of the 128-bit value a, b (a packed address):
// a 64×64-bit multiplication of the inputs, each xored with a secret, then
// a second one by a secret odd number.
//
// One round was not enough: for IPv4 addresses a is the same for all, so
// the product is linear in b, with a per-process slope, and the table
// index (the low bits) of addresses that differ in their third octet
// depended on that slope: a customer LAN's few hundred addresses made
// probe chains of 1 to 20 slots depending on the seed (the address
// lookups of the netflow_v5 pipeline benchmark cost 105 to 330
// instructions a record from run to run). The second round costs four.
func Hash2(a, b uint64) uint64 { return mix(mix(a^seed0, b^seed1), seed3|1) }

// Hash3 is Hash2 of a, b and c (an address and a port, say). c is mixed
// with Hash2's result, which an attacker cannot predict, so that no choice
// of the three cancels out.
func Hash3(a, b, c uint64) uint64 { return mix(Hash2(a, b)^c, seed2|1) }
