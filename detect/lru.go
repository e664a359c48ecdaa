package detect

import "abuseguard/detect/flat"

// lru is a bounded table of per-key state in least-recently-active order.
// Values live in fixed chunks so that a *V stays valid while the table
// grows, and the key index holds slot numbers, not pointers, so the garbage
// collector does not scan it. Freed slots keep their value for reuse: a
// value type can keep its maps and clear them on reuse (see addrState.reset).
//
// The index is an open-addressing table (flat): a lookup is one cache miss
// for a key that has left the cache, where a Go map of 100 000 addresses
// cost three or four (in front of it, a direct-mapped cache of slots hid
// that for the busiest addresses only). Its hash is keyed: addresses are
// chosen by whoever sends traffic to customer space.
//
// Slot numbers and generations let other structures (the pending attempts
// queue) refer to a slot and notice when it has been freed and reused.
// An lru is owned by one shard and not safe for concurrent use.
type lru[K comparable, V any] struct {
	idx    flat.Table[K, int32]
	hash   func(K) uint64 // keyed, see flat.Hash2
	chunks []*[lruChunk]lruNode[K, V]
	free   []int32
	used   int32 // slots ever handed out
	head   int32 // most recently active, -1 when empty
	tail   int32 // least recently active, -1 when empty
	max    int
}

type lruNode[K comparable, V any] struct {
	key        K
	prev, next int32
	gen        uint32
	live       bool
	active     int64 // event time of the last touch
	moved      int64 // event time of the last move to the front
	v          V
}

const lruChunk = 1024

// moveGranularity is how stale a node's position may get (event time).
// Its last-active time is always exact: idle expiry walks past nodes out
// of place (see shard.expireIdle), and eviction gives them a second chance
// (victim), so the granularity trades moves against those walks only.
//
// At 1 s, an address seen about once a second (the netflow_v5 pipeline
// benchmark's, a real exporter's quiet hosts) was moved on every record:
// 55 of the engine's ~1 100 instructions a record, and two neighbours'
// cache lines written. Idle state lives for minutes (the longest window
// and quiet period, 10 min by default), so 10 s is small beside it.
const moveGranularity = int64(10e9)

func newLRU[K comparable, V any](max int, hash func(K) uint64) *lru[K, V] {
	return &lru[K, V]{idx: flat.New[K, int32](hash), hash: hash, head: -1, tail: -1, max: max}
}

func (l *lru[K, V]) len() int { return l.idx.Len() }

func (l *lru[K, V]) full() bool { return l.idx.Len() >= l.max }

// node returns slot i's node. Unsigned, and into an array: a signed
// division and modulo by lruChunk are shifts with sign fix-ups, a slice a
// second bounds check, and node ran ten times a record (lookups, touches
// and their neighbours): 95 of the engine's ~1 270 instructions a record
// in the netflow_v5 pipeline benchmark.
func (l *lru[K, V]) node(i int32) *lruNode[K, V] {
	u := uint32(i)
	return &l.chunks[u/lruChunk][u%lruChunk]
}

// get returns the slot of k, or -1.
func (l *lru[K, V]) get(k K) int32 { return l.getHashed(k, l.hash(k)) }

// getHashed is get for a caller that computed l.hash(k) itself, in code
// the compiler inlines (l.hash is a function value).
func (l *lru[K, V]) getHashed(k K, h uint64) int32 {
	if i := l.idx.Find(k, h); i != nil {
		return *i
	}
	return -1
}

// insert adds k, which must be absent, as most recently active. The caller
// evicts first when the table is full. The returned node's value is what the
// slot last held (or zero): the caller resets it.
func (l *lru[K, V]) insert(k K, now int64) int32 {
	var i int32
	if n := len(l.free); n > 0 {
		i = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		if int(l.used)%lruChunk == 0 {
			l.chunks = append(l.chunks, new([lruChunk]lruNode[K, V]))
		}
		i = l.used
		l.used++
	}
	n := l.node(i)
	n.key, n.live, n.active, n.moved = k, true, now, now
	n.prev, n.next = -1, l.head
	if l.head >= 0 {
		l.node(l.head).prev = i
	} else {
		l.tail = i
	}
	l.head = i
	l.idx.Insert(k, l.hash(k), i)
	return i
}

// touch marks slot i active at now, and moves it to the front unless it
// was moved less than moveGranularity ago: moving a node writes its two
// neighbours, two more cache misses.
//
// n is slot i's node, which the caller has at hand.
func (l *lru[K, V]) touch(i int32, n *lruNode[K, V], now int64) {
	if now > n.active {
		n.active = now
	}
	if now-n.moved < moveGranularity && n.moved <= now {
		return
	}
	l.move(i, n, now)
}

// move is touch's move, out of line so that touch inlines.
func (l *lru[K, V]) move(i int32, n *lruNode[K, V], now int64) {
	n.moved = now // even back in time (a reset): positions follow moves
	l.toFront(i, n)
}

func (l *lru[K, V]) toFront(i int32, n *lruNode[K, V]) {
	if l.head == i {
		return
	}
	l.unlinkNode(i, n)
	n.prev, n.next = -1, l.head
	l.node(l.head).prev = i
	l.head = i
}

// victim returns the slot to evict from a full table: the tail, after
// moving to the front, as if just moved at now, each tail node touched
// since it was last moved (a second chance), so that what is evicted is
// the least recently active to moveGranularity. Each node moved here was
// touched without a move since, so the walk is paid for by those touches.
func (l *lru[K, V]) victim(now int64) int32 {
	for {
		t := l.tail
		n := l.node(t)
		if n.active <= n.moved || t == l.head {
			return t
		}
		n.moved = max(n.active, now)
		l.toFront(t, n)
	}
}

// remove frees slot i. Its value stays for the next occupant to reuse.
func (l *lru[K, V]) remove(i int32) {
	n := l.node(i)
	l.unlink(i)
	l.idx.Delete(n.key, l.hash(n.key))
	n.live = false
	n.gen++
	l.free = append(l.free, i)
}

func (l *lru[K, V]) unlink(i int32) { l.unlinkNode(i, l.node(i)) }

func (l *lru[K, V]) unlinkNode(i int32, n *lruNode[K, V]) {
	if n.prev >= 0 {
		l.node(n.prev).next = n.next
	} else {
		l.head = n.next
	}
	if n.next >= 0 {
		l.node(n.next).prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = -1, -1
}
