package scan

import (
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFlatAgainstMap runs random inserts, updates, deletes and filtered
// deletes on a flat table and on a Go map and compares them after every
// step. The hashes are weak on purpose (few distinct home slots), so that
// long clusters form, wrap around the end of the array and are cut by
// deletions: the cases backward-shift deletion must get right.
func TestFlatAgainstMap(t *testing.T) {
	for _, tt := range []struct {
		name string
		hash func(uint32) uint64
	}{
		{"spread", func(k uint32) uint64 { return hashService(Service(k)) }},
		{"clustered", func(k uint32) uint64 { return uint64(k % 3) }},
		{"at the end", func(k uint32) uint64 { return ^uint64(0) - uint64(k%2) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			tb := flat[uint32, int]{fn: tt.hash}
			want := map[uint32]int{}
			for step := range 20000 {
				k := uint32(rng.IntN(64))
				switch op := rng.IntN(10); {
				case op < 5:
					if p := tb.find(k, tt.hash(k)); p != nil {
						*p += 1
						want[k]++
					} else {
						tb.insert(k, tt.hash(k), step)
						want[k] = step
					}
				case op < 8:
					tb.delete(k, tt.hash(k))
					delete(want, k)
				case op < 9:
					mod := uint32(rng.IntN(5) + 2)
					tb.deleteWhere(func(k uint32, _ *int) bool { return k%mod == 0 })
					maps.DeleteFunc(want, func(k uint32, _ int) bool { return k%mod == 0 })
				default:
					if rng.IntN(20) == 0 {
						tb.clear()
						clear(want)
					}
				}
				got := map[uint32]int{}
				tb.each(func(k uint32, v *int) { got[k] = *v })
				if diff := cmp.Diff(got, want); diff != "" || tb.len() != len(want) {
					t.Fatalf("step %d: len %d, want %d; contents (-got, +want):\n%s", step, tb.len(), len(want), diff)
				}
				for k, v := range want {
					if p := tb.find(k, tt.hash(k)); p == nil || *p != v {
						t.Fatalf("step %d: find(%d) = %v, want %d", step, k, p, v)
					}
				}
			}
		})
	}
}

// TestFlatDeleteWhereVisitsAll: a filtered delete offers every entry,
// including those a deletion moves back into the slot just visited.
func TestFlatDeleteWhereVisitsAll(t *testing.T) {
	tb := flat[uint32, int]{fn: func(uint32) uint64 { return 0 }}
	for k := range uint32(6) {
		tb.insert(k, 0, int(k))
	}
	seen := map[uint32]bool{}
	tb.deleteWhere(func(k uint32, _ *int) bool {
		seen[k] = true
		return true
	})
	if len(seen) != 6 || tb.len() != 0 {
		t.Fatalf("deleteWhere offered %d of 6 entries and left %d", len(seen), tb.len())
	}
}
