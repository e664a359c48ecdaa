package topk

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExactWhenFewKeys(t *testing.T) {
	s := New[string](4)
	s.Add("a", 5, 50)
	s.Add("b", 1, 10)
	s.Add("c", 3, 30)
	s.Add("a", 2, 20)
	got := s.Top(nil, 2)
	want := []Counter[string]{{Key: "a", Count: 7, Bytes: 70}, {Key: "c", Count: 3, Bytes: 30}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("Top() (-got, +want):\n%s", diff)
	}
	if s.Evictions() != 0 {
		t.Fatalf("Evictions() = %d, want 0", s.Evictions())
	}
}

func TestHeavyHittersSurviveSpoofedFlood(t *testing.T) {
	// 1 000 000 packets from random spoofed sources, interleaved with three
	// real heavy sources sending 5 %, 3 % and 2 % of the traffic: m = 64
	// counters must keep the three, in order, with counts within W/m.
	s := New[uint32](64)
	r := rand.New(rand.NewPCG(7, 7))
	const total = 1_000_000
	heavy := map[uint32]uint64{}
	for i := 0; i < total; i++ {
		var k uint32
		switch x := i % 100; {
		case x < 5:
			k = 1
		case x < 8:
			k = 2
		case x < 10:
			k = 3
		default:
			k = 1000 + r.Uint32()%(1<<30)
		}
		if k < 1000 {
			heavy[k]++
		}
		s.Add(k, 1, 60)
	}
	if s.Len() != 64 {
		t.Fatalf("Len() = %d, want 64", s.Len())
	}
	top := s.Top(nil, 3)
	for i, want := range []uint32{1, 2, 3} {
		c := top[i]
		if c.Key != want {
			t.Fatalf("Top()[%d].Key = %d, want %d (top: %v)", i, c.Key, want, top)
		}
		if c.Count < heavy[want] || c.Count-heavy[want] > total/64 {
			t.Errorf("key %d: Count %d, true %d, bound %d", want, c.Count, heavy[want], total/64)
		}
		if c.Count-c.Err > heavy[want] {
			t.Errorf("key %d: Count-Err %d exceeds the true count %d", want, c.Count-c.Err, heavy[want])
		}
	}
	if s.Evictions() < total/2 {
		t.Fatalf("Evictions() = %d, want most of the spoofed keys counted", s.Evictions())
	}
}

func TestReset(t *testing.T) {
	s := New[int](2)
	s.Add(1, 1, 1)
	s.Add(2, 1, 1)
	s.Add(3, 1, 1)
	s.Reset()
	if s.Len() != 0 || s.Evictions() != 0 || len(s.Top(nil, 5)) != 0 {
		t.Fatalf("Reset() left %d keys, %d evictions", s.Len(), s.Evictions())
	}
	s.Add(4, 2, 2)
	if got := s.Top(nil, 5); len(got) != 1 || got[0].Key != 4 {
		t.Fatalf("Top() after Reset = %v", got)
	}
}

func BenchmarkAddSpoofed(b *testing.B) {
	s := New[uint64](64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Add(uint64(i)*0x9e3779b97f4a7c15, 1, 60)
	}
}

func BenchmarkAddHeavy(b *testing.B) {
	s := New[uint64](64)
	for i := 0; i < 64; i++ {
		s.Add(uint64(i), 1, 1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Add(uint64(i%4), 1, 60)
	}
}

// TestTakeEvictions: each eviction is returned once, across takes and a
// Reset.
func TestTakeEvictions(t *testing.T) {
	s := New[int](2)
	for k := range 5 { // 3 evictions
		s.Add(k, 1, 1)
	}
	if got := s.TakeEvictions(); got != 3 {
		t.Fatalf("TakeEvictions() = %d, want 3", got)
	}
	if got := s.TakeEvictions(); got != 0 {
		t.Fatalf("TakeEvictions() again = %d, want 0", got)
	}
	s.Add(9, 1, 1)
	if got, all := s.TakeEvictions(), s.Evictions(); got != 1 || all != 4 {
		t.Fatalf("after one more: TakeEvictions() = %d, Evictions() = %d; want 1, 4", got, all)
	}
	s.Reset()
	s.Add(1, 1, 1)
	s.Add(2, 1, 1)
	s.Add(3, 1, 1)
	if got := s.TakeEvictions(); got != 1 {
		t.Fatalf("after Reset: TakeEvictions() = %d, want 1", got)
	}
}
