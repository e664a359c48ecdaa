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
	v          V
}

const lruChunk = 1024

// touchGranularity is how stale a node's position may get (event time).
const touchGranularity = int64(1e9)

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
	n.key, n.live, n.active = k, true, now
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

// touch marks slot i active at now and moves it to the front, unless it
// was already touched less than touchGranularity ago: moving a node writes
// its two neighbours, two more cache misses, which profiles showed as 7 % of
// the engine's time; the order only has to be right to the second for idle
// expiry and eviction.
//
// n is slot i's node, which the caller has at hand.
func (l *lru[K, V]) touch(i int32, n *lruNode[K, V], now int64) {
	if now-n.active < touchGranularity && n.active <= now {
		return
	}
	if now > n.active {
		n.active = now
	}
	if l.head == i {
		return
	}
	l.unlinkNode(i, n)
	n.prev, n.next = -1, l.head
	l.node(l.head).prev = i
	l.head = i
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
