package flat

import (
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAgainstMap runs random inserts, updates, deletes and filtered
// deletes on a flat table and on a Go map and compares them after every
// step. The hashes are weak on purpose (few distinct home slots), so that
// long clusters form, wrap around the end of the array and are cut by
// deletions: the cases backward-shift deletion must get right.
func TestAgainstMap(t *testing.T) {
	for _, tt := range []struct {
		name string
		hash func(uint32) uint64
	}{
		{"spread", func(k uint32) uint64 { return Hash2(uint64(k), 0) }},
		{"clustered", func(k uint32) uint64 { return uint64(k % 3) }},
		{"at the end", func(k uint32) uint64 { return ^uint64(0) - uint64(k%2) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			tb := New[uint32, int](tt.hash)
			want := map[uint32]int{}
			for step := range 20000 {
				k := uint32(rng.IntN(64))
				switch op := rng.IntN(10); {
				case op < 5:
					if p := tb.Find(k, tt.hash(k)); p != nil {
						*p += 1
						want[k]++
					} else {
						tb.Insert(k, tt.hash(k), step)
						want[k] = step
					}
				case op < 8:
					tb.Delete(k, tt.hash(k))
					delete(want, k)
				case op < 9:
					mod := uint32(rng.IntN(5) + 2)
					tb.DeleteWhere(func(k uint32, _ *int) bool { return k%mod == 0 })
					maps.DeleteFunc(want, func(k uint32, _ int) bool { return k%mod == 0 })
				default:
					if rng.IntN(20) == 0 {
						tb.Clear()
						clear(want)
					}
				}
				got := map[uint32]int{}
				tb.Each(func(k uint32, v *int) { got[k] = *v })
				if diff := cmp.Diff(got, want); diff != "" || tb.Len() != len(want) {
					t.Fatalf("step %d: len %d, want %d; contents (-got, +want):\n%s", step, tb.Len(), len(want), diff)
				}
				for k, v := range want {
					if p := tb.Find(k, tt.hash(k)); p == nil || *p != v {
						t.Fatalf("step %d: find(%d) = %v, want %d", step, k, p, v)
					}
				}
			}
		})
	}
}

// TestDeleteWhereVisitsAll: a filtered delete offers every entry,
// including those a deletion moves back into the slot just visited.
func TestDeleteWhereVisitsAll(t *testing.T) {
	tb := New[uint32, int](func(uint32) uint64 { return 0 })
	for k := range uint32(6) {
		tb.Insert(k, 0, int(k))
	}
	seen := map[uint32]bool{}
	tb.DeleteWhere(func(k uint32, _ *int) bool {
		seen[k] = true
		return true
	})
	if len(seen) != 6 || tb.Len() != 0 {
		t.Fatalf("deleteWhere offered %d of 6 entries and left %d", len(seen), tb.Len())
	}
}

// TestHashSpreads: keys that differ in one bit anywhere, of the address or
// the port, land in different slots of a small table about as often as
// random hashes would.
func TestHashSpreads(t *testing.T) {
	const slots = 64
	same := 0
	for bit := range 64 {
		for _, k := range [][3]uint64{{0, 0xffff_c000_0201, 22}, {0x2001_0db8_0000_0000, 1, 443}} {
			h := Hash3(k[0], k[1], k[2]) % slots
			if Hash3(k[0]^1<<bit, k[1], k[2])%slots == h {
				same++
			}
			if Hash3(k[0], k[1]^1<<bit, k[2])%slots == h {
				same++
			}
			if bit < 24 && Hash3(k[0], k[1], k[2]^1<<bit)%slots == h {
				same++
			}
		}
	}
	// 2·(64+64+24) = 304 pairs, 1 in 64 expected alike: about 5.
	if same > 20 {
		t.Fatalf("%d of 304 one-bit changes kept the slot", same)
	}
}
