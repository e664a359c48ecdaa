// Package ipkey packs a netip.Addr into a comparable value without pointers,
// the key type of the detectors' hot maps.
package ipkey

import (
	"encoding/binary"
	"net/netip"
	"unsafe"
)

// Key is an IP address in its 16-byte form, IPv4 as ::ffff:a.b.c.d. Records
// are Unmap()ped at ingest, so an IPv4 address and its mapped IPv6 form never
// both occur and cannot collide.
//
// Why not netip.Addr as the key: measured on the 2-core build machine
// (Go 1.26, maps of 1M entries keyed by {address, port, proto}), lookups cost
// the same (30–47 ns either way, within the noise of a shared machine), but
// this key makes the entry 24 instead of 32 bytes (−17 % map memory) and holds
// no pointer (netip.Addr carries a zone pointer), so the garbage collector
// does not scan the maps: a full GC cycle took 2.3–3.4 ms instead of 20 ms.
// With millions of contacts and addresses tracked, that is the difference.
type Key struct{ Hi, Lo uint64 }

// From packs a.
//
// It reads the address's two 64-bit halves straight out of the netip.Addr
// when the standard library lays it out as checked at start-up (see
// layoutKnown), which is free; otherwise it goes through As16. As16 costs
// 9-11 ns a call on the build machine (November 2026, Go 1.26): its 16-byte
// result is stored as two 8-byte halves and copied with one 16-byte load,
// which defeats the CPU's store forwarding; every record packs two
// addresses, and this was 8 % of the replay path's time.
func From(a netip.Addr) Key {
	if layoutKnown {
		return *(*Key)(unsafe.Pointer(&a))
	}
	return fromBytes(a)
}

// fromBytes is From through the public API.
func fromBytes(a netip.Addr) Key {
	b := a.As16()
	return Key{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// layoutKnown reports whether a netip.Addr begins with its address as two
// native uint64s, high half first, IPv4 in its IPv4-mapped form: the layout
// of Go 1.18 to 1.26 (struct{ addr uint128; z unique.Handle }). A release
// that changes it makes From take the slow path, never a wrong one.
var layoutKnown = func() bool {
	if unsafe.Sizeof(netip.Addr{}) < unsafe.Sizeof(Key{}) {
		return false
	}
	for _, s := range []string{"0.0.0.0", "203.0.113.7", "255.255.255.254", "::", "::1", "2001:db8:100:42::10", "fe80::1:2:3:4%eth0", "ffff:fffe:fdfc:fbfa:f9f8:f7f6:f5f4:f3f2"} {
		a := netip.MustParseAddr(s)
		if *(*Key)(unsafe.Pointer(&a)) != fromBytes(a) {
			return false
		}
	}
	return *(*Key)(unsafe.Pointer(&netip.Addr{})) == Key{}
}()

// Addr unpacks k; IPv4 comes back as IPv4.
func (k Key) Addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.Hi)
	binary.BigEndian.PutUint64(b[8:], k.Lo)
	return netip.AddrFrom16(b).Unmap()
}

// Hash returns a well-mixed 64-bit hash of k, stable across runs and
// machines so that sharding (and with it replay) is deterministic.
func (k Key) Hash() uint64 {
	return Mix(k.Hi*0x9e3779b97f4a7c15 ^ k.Lo)
}

// Mix is the finaliser of MurmurHash3: every input bit affects every output
// bit, for two multiplications.
func Mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
