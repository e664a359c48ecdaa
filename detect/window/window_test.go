package window

import (
	"math/rand/v2"
	"testing"
	"time"
)

const (
	sec = int64(time.Second)
	bl  = sec // bucket length of a 10-second window
	t0  = 1_700_000_000 * sec
)

func TestAddInstant(t *testing.T) {
	var r Ring
	// 5 000 packets all at one instant: the rate is 5 000 / 10 s, not
	// infinite, because it is always the sum over the fixed window.
	for i := 0; i < 5000; i++ {
		r.Add(t0, t0, t0, bl, 1, 100, 1)
	}
	p, b, n := r.Sums()
	if p != 5000 || b != 500_000 || n != 5000 {
		t.Fatalf("Sums() = %d, %d, %d, want 5000, 500000, 5000", p, b, n)
	}
}

func TestSpreadActiveTimeout(t *testing.T) {
	// A 60-second flow at 1 000 packets/s exported at once: only the last
	// 10 seconds of it fall in the window.
	var r Ring
	end := t0 + 60*sec
	r.Add(t0, end, end, bl, 60_000, 60_000*1500, 1)
	p, b, _ := r.Sums()
	// The window holds buckets (end/bl)-9 .. end/bl: 9 whole seconds plus the
	// instant at end, i.e. 9 s worth (the newest bucket has only just begun).
	if p != 9000 || b != 9000*1500 {
		t.Fatalf("Sums() = %d packets, %d bytes, want 9000, %d", p, b, 9000*1500)
	}
}

func TestSpreadExactTotal(t *testing.T) {
	// A flow inside the window is spread without losing or creating a
	// packet, whatever the rounding.
	var r Ring
	now := t0 + 9*sec + sec/2
	r.Add(t0+sec/3, now, now, bl, 7, 1001, 1)
	p, b, n := r.Sums()
	if p != 7 || b != 1001 || n != 1 {
		t.Fatalf("Sums() = %d, %d, %d, want 7, 1001, 1", p, b, n)
	}
}

func TestAdvance(t *testing.T) {
	tests := []struct {
		name    string
		advance int64
		want    uint64
	}{
		{"same bucket", sec / 2, 10},
		{"newest still in", 9 * sec, 10},
		{"falls out", 10 * sec, 0},
		{"years ahead", 3 * 365 * 24 * 3600 * sec, 0},
		{"backwards is ignored", -100 * sec, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Ring
			r.Add(t0, t0, t0, bl, 10, 10, 1)
			r.Advance(t0+tt.advance, bl)
			if p, _, _ := r.Sums(); p != tt.want {
				t.Fatalf("Sums() after Advance(+%v) = %d, want %d", time.Duration(tt.advance), p, tt.want)
			}
		})
	}
}

func TestRollsBucketByBucket(t *testing.T) {
	var r Ring
	for i := int64(0); i < 10; i++ {
		r.Add(t0+i*sec, t0+i*sec, t0+i*sec, bl, uint64(i+1), 0, 1)
	}
	if p, _, _ := r.Sums(); p != 55 {
		t.Fatalf("Sums() = %d, want 55", p)
	}
	r.Advance(t0+12*sec, bl) // drops the buckets holding 1, 2 and 3
	if p, _, _ := r.Sums(); p != 55-6 {
		t.Fatalf("Sums() after 3 buckets = %d, want %d", p, 55-6)
	}
}

func TestLateRecordClamped(t *testing.T) {
	var r Ring
	now := t0 + 100*sec
	r.Advance(now, bl)
	// A packet from 50 s ago counts once, in the oldest bucket ...
	if !r.Add(t0+50*sec, t0+50*sec, now, bl, 3, 300, 1) {
		t.Fatalf("Add() of a late record did not report clamping")
	}
	if p, _, _ := r.Sums(); p != 3 {
		t.Fatalf("Sums() = %d, want 3", p)
	}
	// ... and leaves the window with it one bucket later.
	r.Advance(now+sec, bl)
	if p, _, _ := r.Sums(); p != 0 {
		t.Fatalf("Sums() after one bucket = %d, want 0", p)
	}
	// A late 80-second flow counts only the share one bucket covers:
	// 1000 packets · 1 s / 80 s = 12.5, rounded up by the exact split.
	r.Add(t0, t0+80*sec, now+sec, bl, 1000, 0, 1)
	if p, _, _ := r.Sums(); p != 13 {
		t.Fatalf("Sums() of late long flow = %d, want 13", p)
	}
}

func TestFutureEndIsNow(t *testing.T) {
	var r Ring
	r.Add(t0, t0+time.Hour.Nanoseconds(), t0, bl, 5, 5, 1)
	if p, _, _ := r.Sums(); p != 5 {
		t.Fatalf("Sums() = %d, want 5", p)
	}
}

func TestNegativeTime(t *testing.T) {
	var r Ring
	r.Add(-5*sec, -5*sec, -5*sec, bl, 1, 1, 1)
	r.Add(-sec/2, -sec/2, -sec/2, bl, 1, 1, 1)
	if p, _, _ := r.Sums(); p != 2 {
		t.Fatalf("Sums() = %d, want 2", p)
	}
	if got := r.OldestUsed(0, bl); got != -5*sec {
		t.Fatalf("OldestUsed() = %d, want %d", got, -5*sec)
	}
}

func TestHugeCounts(t *testing.T) {
	// Sampled counts multiplied out must not overflow the proportional
	// split: 2^60 packets over 20 s.
	var r Ring
	r.Add(t0, t0+20*sec, t0+20*sec, bl, 1<<60, 1<<62, 1)
	p, _, _ := r.Sums()
	want := uint64(1<<60) / 20 * 9
	if p < want-16 || p > want+16 { // want itself is rounded
		t.Fatalf("Sums() = %d, want ≈ %d", p, want)
	}
}

func BenchmarkAddPacket(b *testing.B) {
	var r Ring
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now := t0 + int64(i)*1000
		r.Add(now, now, now, bl, 1, 1500, 1)
	}
}

func BenchmarkAddFlow(b *testing.B) {
	var r Ring
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now := t0 + int64(i)*1000
		r.Add(now-30*sec, now, now, bl, 3000, 3000*1500, 1)
	}
}

func TestObservedSaturates(t *testing.T) {
	var r Ring
	r.Add(t0, t0, t0, bl, 1, 1, 1<<40)
	r.Add(t0+sec, t0+sec, t0+sec, bl, 1, 1, 1<<31)
	if _, _, o := r.Sums(); o != 1<<32-1 {
		t.Fatalf("observed = %d, want saturated at %d", o, uint32(1<<32-1))
	}
	// Rolling out the saturated bucket leaves a consistent sum.
	r.Advance(t0+10*sec, bl)
	r.Advance(t0+20*sec, bl)
	if _, _, o := r.Sums(); o != 0 {
		t.Fatalf("observed after the window = %d, want 0", o)
	}
}

// TestAgainstReference compares Ring with a plain map of buckets over
// random records, in and out of order, inside and across buckets.
func TestAgainstReference(t *testing.T) {
	type ref struct{ pkts map[int64]uint64 }
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		var ring Ring
		want := ref{map[int64]uint64{}}
		bucket := int64(1+r.IntN(5)) * sec / 10
		now := int64(r.IntN(1000)) * sec / 7
		if trial%2 == 0 {
			now = -now
		}
		for step := 0; step < 300; step++ {
			now += int64(r.IntN(4)) * bucket / 3
			end := now - int64(r.IntN(14))*bucket/2
			start := end - int64(r.IntN(3))*bucket/2
			if step%2 == 1 {
				// Flows over up to 14 buckets, ending anywhere in one.
				start = end - int64(r.IntN(40))*bucket/3 - int64(r.IntN(1000))
			}
			pk := uint64(1 + r.IntN(1000))
			if trial%4 == 1 {
				// Sampled counts multiplied out: products past 64 bits.
				pk = r.Uint64() >> (8 + r.IntN(8))
			}
			ring.Add(start, end, now, bucket, pk, 0, 1)
			// reference: shift late records into the oldest bucket, spread
			// by overlap, drop what is before the window
			head := floorDiv(now, bucket)
			first := head - Buckets + 1
			if floorDiv(end, bucket) < first {
				shift := (first+1)*bucket - 1 - end
				start, end = start+shift, end+shift
			}
			d := end - start
			for b := floorDiv(start, bucket); b <= floorDiv(end, bucket); b++ {
				if d == 0 {
					want.pkts[b] += pk
					break
				}
				lo, hi := max(start, b*bucket), min(end, (b+1)*bucket)
				if b == floorDiv(end, bucket) {
					hi = end
				}
				// the exact split gives floor(P·(hi-start)/d) - floor(P·(lo-start)/d)
				want.pkts[b] += mulDiv(pk, uint64(hi-start), uint64(d)) - mulDiv(pk, uint64(lo-start), uint64(d))
			}
			var sum uint64
			for b, v := range want.pkts {
				if b >= first && b <= head {
					sum += v
				}
			}
			if got, _, _ := ring.Sums(); got != sum {
				t.Fatalf("trial %d step %d: Sums() = %d, reference %d", trial, step, got, sum)
			}
		}
	}
}
