package detect

import (
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"abuseguard/flow"
)

// batch is a shard's share of records from one Submit call, copied: the
// records, what routing learnt of them, and their header bytes (cut to
// snaplen) in an arena, since the caller reuses its buffers as soon as
// Submit returns. Batches are recycled through a free list per shard, so
// steady-state Submit allocates nothing.
type batch struct {
	recs   []flow.Record
	metas  []meta // roles are those of the batch's shard
	arena  []byte
	tick   bool
	tickAt int64
}

// Reasons Submit drops records.
const (
	dropQueueFull = iota // the shard's queue was full
	dropNoBuffer         // all of the shard's batches were in flight
	dropStopped          // the engine was not running
	numDrops
)

var dropReasons = [numDrops]string{"queue_full", "no_buffer", "not_running"}

// Start starts one goroutine per shard. Records then go through Submit; Stop
// ends them. Start fails if the engine was started before.
func (e *Engine) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateIdle {
		return errors.New("detect: engine already started")
	}
	n := len(e.shards)
	e.queues = make([]chan *batch, n)
	e.free = make([]chan *batch, n)
	e.batches = make([]atomic.Int32, n)
	e.group = &errgroup.Group{}
	for i, s := range e.shards {
		q := make(chan *batch, e.cfg.QueueLength)
		free := make(chan *batch, e.cfg.QueueLength+2)
		e.queues[i], e.free[i] = q, free
		e.group.Go(func() error {
			for b := range q {
				if b.tick {
					s.tick(b.tickAt)
				}
				for j := range b.recs {
					s.handle(&b.recs[j], &b.metas[j], b.metas[j].roles)
				}
				s.publish()
				e.putBatch(i, b)
			}
			s.flush()
			s.publish()
			return nil
		})
	}
	e.state = stateRunning
	e.log.Info("detection started", "shards", n)
	return nil
}

// Stop stops accepting records, lets every shard finish its queue, reports
// every open detection Final (as Flush does) and waits for the shard
// goroutines to end. A stopped engine cannot be started again.
func (e *Engine) Stop() error {
	e.mu.Lock()
	if e.state != stateRunning {
		e.mu.Unlock()
		return errors.New("detect: engine not running")
	}
	e.state = stateStopped
	for _, q := range e.queues {
		close(q)
	}
	e.mu.Unlock()
	err := e.group.Wait()
	e.log.Info("detection stopped")
	return err
}

// Submit hands records to the shards without blocking: each shard's records
// are copied into a batch and queued; when a shard's queue is full its
// records are dropped and counted (abuseguard_detect_dropped_records_total).
// records is not kept. Safe for concurrent use; usable as a flow.Sink.
func (e *Engine) Submit(records []flow.Record) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.state != stateRunning {
		e.drop(dropStopped, len(records))
		return
	}
	var open [maxShards]*batch
	var m meta
	var ts [3]target
	ignored := uint64(0)
	for i := range records {
		r := &records[i]
		n := e.route(r, &m, &ts, nil)
		if n == 0 {
			ignored++
			continue
		}
		for _, t := range ts[:n] {
			b := open[t.shard]
			if b == nil {
				if b = e.getBatch(t.shard); b == nil {
					e.drop(dropNoBuffer, 1)
					continue
				}
				open[t.shard] = b
			}
			b.add(r, m, t.roles, e.cfg.Snaplen)
			if len(b.recs) == e.cfg.BatchSize {
				e.send(t.shard, b)
				open[t.shard] = nil
			}
		}
	}
	for i, b := range open[:len(e.shards)] {
		if b != nil {
			e.send(i, b)
		}
	}
	if ignored > 0 {
		e.ignored.Add(ignored)
	}
}

func (b *batch) add(r *flow.Record, m meta, roles uint8, snaplen int) {
	b.recs = append(b.recs, *r)
	c := &b.recs[len(b.recs)-1]
	if len(c.Header) > 0 {
		h := c.Header[:min(len(c.Header), snaplen)]
		off := len(b.arena)
		b.arena = append(b.arena, h...)
		c.Header = b.arena[off:len(b.arena):len(b.arena)]
	}
	m.roles = roles
	b.metas = append(b.metas, m)
}

// getBatch takes a free batch of shard i, allocating one while fewer than
// QueueLength+2 exist, or returns nil.
func (e *Engine) getBatch(i int) *batch {
	select {
	case b := <-e.free[i]:
		return b
	default:
	}
	if int(e.batches[i].Add(1)) > e.cfg.QueueLength+2 {
		e.batches[i].Add(-1)
		return nil
	}
	return &batch{
		recs:  make([]flow.Record, 0, e.cfg.BatchSize),
		metas: make([]meta, 0, e.cfg.BatchSize),
		// The arena must never grow while records point into it: each
		// record adds at most snaplen bytes.
		arena: make([]byte, 0, e.cfg.BatchSize*e.cfg.Snaplen),
	}
}

func (e *Engine) putBatch(i int, b *batch) {
	// No need to clear the records: their Header points into the batch's
	// own arena, so they keep nothing else alive (clearing cost ~10 ns a
	// record).
	b.recs, b.metas, b.arena, b.tick = b.recs[:0], b.metas[:0], b.arena[:0], false
	select {
	case e.free[i] <- b:
	default:
		e.batches[i].Add(-1)
	}
}

// send queues b for shard i, or drops it when the queue is full.
func (e *Engine) send(i int, b *batch) {
	select {
	case e.queues[i] <- b:
	default:
		e.drop(dropQueueFull, len(b.recs))
		e.putBatch(i, b)
	}
}

// drop counts n dropped records and warns at most every 10 seconds.
func (e *Engine) drop(reason, n int) {
	if n == 0 {
		return
	}
	e.drops[reason].Add(uint64(n))
	now := time.Now().UnixNano()
	last := e.lastLog.Load()
	if now-last > int64(10*time.Second) && e.lastLog.CompareAndSwap(last, now) {
		e.log.Warn("records dropped", "reason", dropReasons[reason], "records", n,
			"total", e.drops[reason].Load())
	}
}
