package detect

import (
	"net/netip"

	"abuseguard/detect/ipkey"
	"abuseguard/flow"
)

// classCache is a direct-mapped cache of the inventory's answers in front
// of Classify, keyed by the packed address.
//
// Every record needs the class of both its addresses, and a prefix-table
// lookup costs 15-20 ns (bart, 4 levels for an IPv4 /32 server, up to 16
// for an IPv6 /128); a hosting provider's records mostly involve its few
// busy servers and the popular outside peers, so that most lookups repeat
// one made shortly before. On the synthetic uplink of BenchmarkReplay
// (500 customer addresses, 262 000 outside ones picked with a Zipf law)
// 4 096 entries answer about 80 % of lookups; a hit costs a multiplication
// and a comparison.
//
// The inventory must answer the same for an address for the engine's life
// (inventory.Inventory is immutable; a reload builds a new engine). A cache
// is not safe for concurrent use.
type classCache struct {
	inv     Inventory
	entries *[1 << classCacheBits]classEntry
}

type classEntry struct {
	key   ipkey.Key
	class flow.Class
	// slot is where the address's shard last found key in its address
	// table (lru slot), or anything: shard.address checks it before use
	// and skips the table's hash and probe when it holds (about 30
	// instructions an address on the netflow_v5 pipeline benchmark).
	slot int32
}

// classCacheBits sizes the cache: 4 096 entries of 32 bytes, 128 KiB,
// which stays in the L2 cache with the shard's hot state.
const classCacheBits = 12

func newClassCache(inv Inventory) *classCache {
	c := &classCache{inv: inv, entries: new([1 << classCacheBits]classEntry)}
	// A zero entry is the key of ::, so every entry starts out as the true
	// answer for ::: no entry needs a "valid" flag.
	unspec := classEntry{class: inv.Classify(netip.IPv6Unspecified())}
	for i := range c.entries {
		c.entries[i] = unspec
	}
	return c
}

// entry returns the entry where k's class is cached, if it is, and its
// index. Callers
// test the hit and call miss themselves (see route): inlined, a hit is 20 instructions
// where the call to classify made it 38 (netflow_v5 pipeline benchmark,
// cachegrind).
func (c *classCache) entry(k ipkey.Key) (*classEntry, int32) {
	// Fibonacci hashing of both halves: the top bits depend on every bit
	// of the address, IPv4's 32 included.
	i := ((k.Hi*0x9e3779b97f4a7c15 ^ k.Lo) * 0xbf58476d1ce4e5b9) >> (64 - classCacheBits)
	i &= 1<<classCacheBits - 1
	return &c.entries[i], int32(i)
}

// miss asks the inventory and fills entry e. (noinline: inlined, it made
// classify too big to inline.)
//
//go:noinline
func (c *classCache) miss(e *classEntry, a netip.Addr, k ipkey.Key) flow.Class {
	cl := c.inv.Classify(a)
	e.key, e.class = k, cl
	return cl
}
