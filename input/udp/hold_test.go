package udp_test

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"abuseguard/input/udp"
)

// TestBatchesFillWhileWorkersBusy: with the only worker stuck, datagrams
// that arrive one at a time (each read on its own, the receiver's worst
// case) fill the waiting batches instead of taking a batch each, so the
// queue holds QueueSize × BatchSize datagrams, not QueueSize. With 4
// batches of 8: the stuck worker's, one handed over at once (nothing
// waited), then two filled while it waited; the third filled batch finds
// no free one and is the first dropped.
func TestBatchesFillWhileWorkersBusy(t *testing.T) {
	// A hold longer than the test: the datagrams are paced by what the
	// receiver reads, milliseconds apart on a busy machine.
	t.Cleanup(udp.SetHoldMax(time.Minute))
	rec := &recorder{release: make(chan struct{})}
	cfg := testConfig()
	cfg.QueueSize = 4
	cfg.BatchSize = 8
	l, reg := start(t, cfg, udp.Dependencies{NewHandler: rec.newHandler})
	var release sync.Once
	unblock := func() { release.Do(func() { close(rec.release) }) }
	t.Cleanup(unblock) // before Stop, which waits for the worker
	c := dial(t, l.Addrs()[0])
	const kept = 1 + 1 + 2*8
	send := func(from, to int) {
		for i := from; i < to; i++ {
			c.Write(binary.BigEndian.AppendUint32(nil, uint32(i)))
			waitFor(t, "the receiver to read the datagram", func() bool {
				return counter(t, reg, "abuseguard_collector_udp_datagrams_total") == float64(i+1)
			})
		}
	}
	send(0, kept)
	if drops := counter(t, reg, "abuseguard_collector_udp_queue_drops_total"); drops != 0 {
		t.Fatalf("%v of %d datagrams dropped with a stuck worker, want none: one batch per datagram?", drops, kept)
	}
	send(kept, kept+8)
	waitFor(t, "the next full batch to be dropped", func() bool {
		return counter(t, reg, "abuseguard_collector_udp_queue_drops_total") == 8
	})
	unblock()
	waitFor(t, "the kept datagrams", func() bool { return rec.count() == kept })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, d := range rec.dgrams {
		if got := binary.BigEndian.Uint32(d.Payload); got != uint32(i) {
			t.Fatalf("datagram %d is number %d: order lost", i, got)
		}
	}
}
