package detect

import (
	"testing"
	"time"
)

// TestCrossedAny: the per-record form agrees with crossed for disabled and
// enabled thresholds, and minimum evidence above and below the packet
// threshold.
func TestCrossedAny(t *testing.T) {
	for _, pps := range []int64{0, 1, 1000} {
		for _, bps := range []int64{0, 8, 8000} {
			for _, minObs := range []int64{0, 1, 5, 1 << 40} {
				th := DefaultThresholds()
				th.PacketLimit = RateThresholds{Window: 10 * time.Second, PPS: pps, BPS: bps}
				th.MinObserved = minObs
				l := compile("g", th, 0.5)
				rl := &l.out
				for _, p := range []uint64{0, rl.pkts - 1, rl.pkts, rl.pkts + 1, 1 << 62} {
					for _, b := range []uint64{0, rl.bytes - 1, rl.bytes, 1 << 62} {
						for _, obs := range []uint32{0, 1, 4, 5, 9, 10, 1<<32 - 1} {
							pc, bc := rl.crossed(p, b, obs, l.minObserved)
							if got := rl.crossedAny(p, b, obs); got != (pc || bc) {
								t.Fatalf("pps %d bps %d minObserved %d: crossedAny(%d, %d, %d) = %v, crossed says %v, %v",
									pps, bps, minObs, p, b, obs, got, pc, bc)
							}
						}
					}
				}
			}
		}
	}
}
