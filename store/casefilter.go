package store

import (
	"context"
	"hash/maphash"
	"net/netip"

	"abuseguard"
)

// caseFilter answers "may addr have a case for reason that is not closed?"
// without a query, for the writer: a detection for an address without
// such a case opens one, and looking for it first cost a query that found
// nothing, 10 µs of the 130 µs a new case takes (36 columns for the driver
// to describe, BenchmarkIngest, November 2026).
//
// It is a Bloom filter: it can say "maybe" for a key never added (0.2 % of
// the time at its fill limit, then a query answers), never "no" for one
// added. Keys are only added, so a change rolled back leaves a "maybe"
// behind, not a wrong "no". It is built from the cases that are not closed
// when the store opens, when it is full, and whenever another connection
// (another process) committed since the writer last looked, which PRAGMA
// data_version tells at the start of every write transaction. Used under
// writeMu only.
type caseFilter struct {
	bits    []uint64
	seed    maphash.Seed
	added   int  // keys added since built
	limit   int  // rebuilt past this many
	built   bool // bits hold every open case
	version int64
}

// caseFilterProbes and caseFilterBitsPerKey give 0.2 % false "maybe"s at
// the fill limit.
const caseFilterProbes, caseFilterBitsPerKey = 4, 16

func (f *caseFilter) key(addr netip.Addr, reason abuseguard.Reason) (uint64, uint64) {
	var h maphash.Hash
	h.SetSeed(f.seed)
	a := addr.As16()
	h.Write(a[:])
	h.WriteString(string(reason))
	x := h.Sum64()
	return x, x>>32 | x<<32 | 1
}

func (f *caseFilter) add(addr netip.Addr, reason abuseguard.Reason) {
	if !f.built {
		return
	}
	h1, h2 := f.key(addr, reason)
	n := uint64(len(f.bits) * 64)
	for i := range uint64(caseFilterProbes) {
		b := (h1 + i*h2) % n
		f.bits[b/64] |= 1 << (b % 64)
	}
	f.added++
}

// mayExist reports whether a case for addr and reason may be open: true
// unless the filter is built and says no.
func (f *caseFilter) mayExist(addr netip.Addr, reason abuseguard.Reason) bool {
	if !f.built {
		return true
	}
	h1, h2 := f.key(addr, reason)
	n := uint64(len(f.bits) * 64)
	for i := range uint64(caseFilterProbes) {
		b := (h1 + i*h2) % n
		if f.bits[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// refresh rebuilds the filter in the write transaction t if another
// connection committed since the last look, or if it is full. A failure
// leaves it unbuilt: every lookup then queries.
func (f *caseFilter) refresh(ctx context.Context, t *tx) error {
	var version int64
	if err := t.queryRow(ctx, "PRAGMA data_version").Scan(&version); err != nil {
		f.built = false
		return internal("data version", err)
	}
	if f.built && version == f.version && f.added <= f.limit {
		return nil
	}
	f.built, f.version = false, version
	rows, err := t.query(ctx, `SELECT address, reason FROM cases WHERE state != 'closed'`)
	if err != nil {
		return internal("open cases", err)
	}
	defer rows.Close()
	type key struct {
		addr   netip.Addr
		reason abuseguard.Reason
	}
	var keys []key
	for rows.Next() {
		var a string
		var k key
		if err := rows.Scan(&a, &k.reason); err != nil {
			return internal("open cases", err)
		}
		k.addr, _ = netip.ParseAddr(a)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return internal("open cases", err)
	}
	// Room for twice the open cases, at least 65 536 (128 KiB).
	f.limit = max(2*len(keys), 1<<16)
	f.bits = make([]uint64, f.limit*caseFilterBitsPerKey/64)
	f.seed = maphash.MakeSeed()
	f.built, f.added = true, 0
	for _, k := range keys {
		f.add(k.addr, k.reason)
	}
	f.added = 0
	return nil
}
