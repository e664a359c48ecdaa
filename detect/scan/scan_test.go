package scan

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"abuseguard/detect/ipkey"
)

func key(i int, port uint16, proto uint8) Key {
	a := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
	return Key{Addr: ipkey.From(a), Port: port, Proto: proto}
}

func (t *Table) service(s Service) Counter { return t.Service(s) }
func (t *Table) host(k Key) Counter        { return t.Host(k.Addr) }

func TestAttemptPromoteAnswer(t *testing.T) {
	tb := NewTable()
	k := key(1, 22, 6)
	if r := tb.Attempt(k, 100, 1, 40000, 60, 10); r != New {
		t.Fatalf("Attempt() = %v, want New", r)
	}
	if r := tb.Attempt(k, 100+2e9, 1, 40000, 60, 10); r != Repeated {
		t.Fatalf("Attempt() again = %v, want Repeated", r)
	}
	if got := tb.service(k.Service()); got != (Counter{}) {
		t.Fatalf("pending attempt counted: %+v", got)
	}
	c, h, v, ok := tb.Promote(k, 0)
	if !ok || c.State != Counted || c.First != 100 || c.Last != 100+2e9 {
		t.Fatalf("Promote() = %+v, %v", c, ok)
	}
	want := Counter{Open: 1, Seen: 1}
	if h != want || v != want {
		t.Fatalf("Promote() counters = %+v %+v, want %+v", h, v, want)
	}
	if _, _, _, ok := tb.Promote(k, 0); ok {
		t.Fatalf("Promote() twice succeeded")
	}
	tb.Answer(k, 102, 1, false, 10, 5)
	want = Counter{Done: 1}
	if got := tb.service(k.Service()); got != want {
		t.Fatalf("after Answer: service %+v, want %+v", got, want)
	}
	if r := tb.Attempt(k, 103, 1, 40000, 60, 10); r != Answered {
		t.Fatalf("Attempt() on answered contact = %v, want Answered", r)
	}
}

func TestAnsweredWithinGraceNeverCounts(t *testing.T) {
	tb := NewTable()
	k := key(1, 443, 6)
	tb.Attempt(k, 100, 1, 40000, 60, 10)
	tb.Answer(k, 150, 1, false, 10, 5)
	if _, _, _, ok := tb.Promote(k, 0); ok {
		t.Fatalf("Promote() of an answered contact succeeded")
	}
	if got, want := tb.service(k.Service()), (Counter{Done: 1}); got != want {
		t.Fatalf("service = %+v, want %+v", got, want)
	}
}

func TestICMPIsNotAPort(t *testing.T) {
	tb := NewTable()
	k := key(1, 0x0800, 1)
	tb.Attempt(k, 1, 1, 0, 84, 10)
	if _, h, v, _ := tb.Promote(k, 0); h.Open != 1 || v != (Counter{}) {
		t.Fatalf("Promote(ICMP) = %+v, %+v; want horizontal only", h, v)
	}
}

func TestExpire(t *testing.T) {
	tb := NewTable()
	for i := 0; i < 5; i++ {
		k := key(i, 23, 6)
		tb.Attempt(k, int64(i*10), 2, 1, 1, 10)
		tb.Promote(k, 0)
	}
	tb.Answer(key(4, 23, 6), 40, 2, false, 10, 5)
	tb.Answer(key(9, 5353, 17), 45, 1, true, 10, 5) // passive
	if got, want := tb.service(key(0, 23, 6).Service()), (Counter{Open: 8, Seen: 4, Done: 2}); got != want {
		t.Fatalf("service = %+v, want %+v", got, want)
	}
	tb.Expire(25, 50) // drops contacts 0, 1, 2
	if got, want := tb.service(key(0, 23, 6).Service()), (Counter{Open: 2, Seen: 1, Done: 2}); got != want {
		t.Fatalf("service after Expire = %+v, want %+v", got, want)
	}
	if tb.Len() != 3 || tb.LastSweep != 50 {
		t.Fatalf("Len() = %d, LastSweep = %d; want 3, 50", tb.Len(), tb.LastSweep)
	}
	tb.Expire(1000, 1000)
	if tb.Len() != 0 || tb.horiz.Len() != 0 || tb.vert.Len() != 0 || tb.passive != 0 || tb.Open() != 0 {
		t.Fatalf("table not empty after expiring all: %d contacts, %d services, %d hosts, %d passive",
			tb.Len(), tb.horiz.Len(), tb.vert.Len(), tb.passive)
	}
}

func TestPromoteSkipsExpired(t *testing.T) {
	tb := NewTable()
	k := key(1, 22, 6)
	tb.Attempt(k, 10, 1, 1, 1, 10)
	if _, _, _, ok := tb.Promote(k, 11); ok {
		t.Fatalf("Promote() of a contact older than the cutoff succeeded")
	}
}

func TestBounds(t *testing.T) {
	tb := NewTable()
	// Passive contacts stop at maxPassive, leaving room for attempts.
	for i := 0; i < 100; i++ {
		tb.Answer(key(i, 53, 17), 1, 1, true, 8, 4)
	}
	if tb.Len() != 4 {
		t.Fatalf("Len() after passive flood = %d, want 4", tb.Len())
	}
	var res []Result
	for i := 0; i < 6; i++ {
		res = append(res, tb.Attempt(key(1000+i, 22, 6), 1, 1, 1, 1, 8))
	}
	want := []Result{New, New, New, New, Full, Full}
	if diff := cmp.Diff(res, want); diff != "" {
		t.Fatalf("Attempt() results (-got, +want):\n%s", diff)
	}
}

func TestCrossed(t *testing.T) {
	tests := []struct {
		name string
		c    Counter
		want bool
	}{
		{"99 unsampled", Counter{Open: 99, Seen: 99}, false},
		{"100 unsampled", Counter{Open: 100, Seen: 100}, true},
		{"one sample at 1:1000", Counter{Open: 1000, Seen: 1}, false},
		{"seven samples at 1:1000", Counter{Open: 7000, Seen: 7}, false},
		{"eight samples at 1:1000", Counter{Open: 8000, Seen: 8}, true},
		{"crawler with 15 % dead hosts", Counter{Open: 150, Seen: 150, Done: 850}, false},
		{"scan of a busy subnet, 70 % open ports", Counter{Open: 300, Seen: 300, Done: 700}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Crossed(100, 8, 0.25); got != tt.want {
				t.Fatalf("%+v.Crossed(100, 8, 0.25) = %v, want %v", tt.c, got, tt.want)
			}
		})
	}
	if (Counter{Open: 5, Seen: 5}).Crossed(0, 8, 0) {
		t.Fatalf("a zero threshold (disabled) crossed")
	}
}

func BenchmarkAttemptPromote(b *testing.B) {
	tb := NewTable()
	keys := make([]Key, 4096)
	for i := range keys {
		keys[i] = key(i, 22, 6)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		k := keys[i&4095]
		if i&4095 == 0 {
			tb.Expire(int64(i), int64(i)) // keep it bounded like the sweep does
		}
		tb.Attempt(k, int64(i), 1, 1, 60, 4096)
		tb.Promote(k, 0)
	}
}

func TestAnswerAfterExpireRebuild(t *testing.T) {
	// The open-attempt filter is rebuilt by Expire: an attempt that
	// survives it must still be answerable, an expired one not found.
	tb := NewTable()
	old, kept := key(1, 22, 6), key(2, 22, 6)
	tb.Attempt(old, 10, 1, 1, 1, 10)
	tb.Attempt(kept, 100, 1, 1, 1, 10)
	tb.Promote(kept, 0)
	tb.Expire(50, 100)
	tb.Answer(kept, 101, 1, false, 10, 5)
	if got, want := tb.service(kept.Service()), (Counter{Done: 1}); got != want || tb.Open() != 0 {
		t.Fatalf("after Answer: %+v, open %d; want %+v, 0", got, tb.Open(), want)
	}
}

// TestOpenFilter: answering an attempt uncounts it from the filter, but
// never hides another open attempt sharing its counter, even past the
// counter's saturation (at 15); Expire recounts. The two counters of a byte
// do not disturb each other.
func TestOpenFilter(t *testing.T) {
	// Keys sharing one counter.
	var same []Key
	for i := 0; len(same) < 300; i++ {
		k := Key{Addr: ipkey.From(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})), Port: 443, Proto: 6}
		if k.bit() == key(0, 443, 6).bit() {
			same = append(same, k)
		}
	}
	// And one key on the other half of the same byte.
	var other Key
	for i := 0; ; i++ {
		if other = key(i, 80, 6); other.bit() == same[0].bit()^1 {
			break
		}
	}
	tb := NewTable()
	for _, k := range same {
		tb.Attempt(k, 1, 1, 40000, 60, 1000)
	}
	tb.Attempt(other, 1, 1, 40000, 60, 1000)
	if got := [2]uint8{tb.openCounter(same[0].bit()), tb.openCounter(other.bit())}; got != [2]uint8{15, 1} {
		t.Fatalf("counters = %v, want [15 1]", got)
	}
	tb.Answer(other, 2, 1, false, 1000, 500)
	if got := [2]uint8{tb.openCounter(same[0].bit()), tb.openCounter(other.bit())}; got != [2]uint8{15, 0} {
		t.Fatalf("counters after answering the other key = %v, want [15 0]", got)
	}
	// Answer all but the last: each must still find its contact.
	for _, k := range same[:len(same)-1] {
		tb.Answer(k, 2, 1, false, 1000, 500)
	}
	if tb.Open() != 1 {
		t.Fatalf("Open() = %d after answering all attempts but one, want 1", tb.Open())
	}
	last := same[len(same)-1]
	tb.Answer(last, 2, 1, false, 1000, 500)
	if tb.Open() != 0 {
		t.Fatalf("the last attempt, behind a saturated counter, was not answered")
	}
	// Below saturation, counters go back to zero as attempts are answered.
	tb.Expire(0, 3) // recounts: nothing open
	if c := tb.openCounter(last.bit()); c != 0 {
		t.Fatalf("counter after Expire with nothing open = %d, want 0", c)
	}
	tb.Attempt(key(100000, 22, 6), 4, 1, 1, 1, 1000)
	tb.Attempt(key(100001, 22, 6), 4, 1, 1, 1, 1000)
	tb.Answer(key(100000, 22, 6), 5, 1, false, 1000, 500)
	if c := tb.openCounter(key(100001, 22, 6).bit()); c == 0 {
		t.Fatalf("open attempt hidden by the filter")
	}
	tb.Answer(key(100001, 22, 6), 5, 1, false, 1000, 500)
	for i := range uint(openCounters) {
		if c := tb.openCounter(i); c != 0 {
			t.Fatalf("counter %d = %d with no attempt open", i, c)
		}
	}
}
