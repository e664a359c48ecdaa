package detect

// lru is a bounded table of per-key state in least-recently-active order.
// Values live in fixed chunks so that a *V stays valid while the table
// grows, and the key map holds slot numbers, not pointers, so the garbage
// collector does not scan it. Freed slots keep their value for reuse: a
// value type can keep its maps and clear them on reuse (see addrState.reset).
//
// Slot numbers and generations let other structures (the pending attempts
// queue) refer to a slot and notice when it has been freed and reused.
// An lru is owned by one shard and not safe for concurrent use.
type lru[K comparable, V any] struct {
	idx map[K]int32
	// cache maps a key's hash to its slot+1 (0: empty), direct-mapped, in
	// front of idx. A hosting provider's traffic is mostly its few busy
	// servers, while background scanning of the whole customer space keeps
	// idx large (131 072 addresses in the mixed benchmark, 8 MB): lookups
	// there missed the CPU cache and were a fifth of the engine's time. The
	// 32 kB cache stays in it. Entries are checked against the node's key,
	// so stale ones are harmless.
	cache  []int32
	hash   func(K) uint64
	chunks [][]lruNode[K, V]
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

const lruCache = 8192 // entries, a power of two

func newLRU[K comparable, V any](max int, hash func(K) uint64) *lru[K, V] {
	return &lru[K, V]{idx: make(map[K]int32), cache: make([]int32, lruCache), hash: hash, head: -1, tail: -1, max: max}
}

func (l *lru[K, V]) len() int { return len(l.idx) }

func (l *lru[K, V]) full() bool { return len(l.idx) >= l.max }

func (l *lru[K, V]) node(i int32) *lruNode[K, V] { return &l.chunks[i/lruChunk][i%lruChunk] }

// get returns the slot of k, or -1.
func (l *lru[K, V]) get(k K) int32 {
	h := l.hash(k) >> 40 & (lruCache - 1) // high bits: the low ones chose the shard
	if c := l.cache[h] - 1; c >= 0 {
		if n := l.node(c); n.live && n.key == k {
			return c
		}
	}
	if i, ok := l.idx[k]; ok {
		l.cache[h] = i + 1
		return i
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
			l.chunks = append(l.chunks, make([]lruNode[K, V], lruChunk))
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
	l.idx[k] = i
	l.cache[l.hash(k)>>40&(lruCache-1)] = i + 1
	return i
}

// touch marks slot i active at now and moves it to the front, unless it
// was already touched less than touchGranularity ago: moving a node writes
// its two neighbours, two more cache misses, which profiles showed as 7 % of
// the engine's time; the order only has to be right to the second for idle
// expiry and eviction.
func (l *lru[K, V]) touch(i int32, now int64) {
	n := l.node(i)
	if now-n.active < touchGranularity && n.active <= now {
		return
	}
	if now > n.active {
		n.active = now
	}
	if l.head == i {
		return
	}
	l.unlink(i)
	n.prev, n.next = -1, l.head
	l.node(l.head).prev = i
	l.head = i
}

// remove frees slot i. Its value stays for the next occupant to reuse.
func (l *lru[K, V]) remove(i int32) {
	n := l.node(i)
	l.unlink(i)
	delete(l.idx, n.key)
	n.live = false
	n.gen++
	l.free = append(l.free, i)
}

func (l *lru[K, V]) unlink(i int32) {
	n := l.node(i)
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
