package nft

import (
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"abuseguard"
	"abuseguard/enforce"
)

// The table holds six sets and, per hook, one chain with the same rules:
//
//	table inet abuseguard {
//	  set blocked4 { type ipv4_addr }               # scope both: drop to and from
//	  set inbound4 { type ipv4_addr }               # scope inbound: drop to
//	  set access4  { type ipv4_addr . ipv4_addr }   # server . access IP
//	  (and the same three for IPv6)
//	  chain forward {
//	    type filter hook forward priority -10; policy accept;
//	    ip saddr . ip daddr @access4 accept          # server to access IP
//	    ip daddr . ip saddr @access4 accept          # access IP to server
//	    ip6 ... @access6 accept (both ways)
//	    ip daddr @blocked4 counter drop
//	    ip saddr @blocked4 counter drop
//	    ip daddr @inbound4 counter drop
//	    ip6 ... the same with the IPv6 sets
//	  }
//	}
//
// The rules never change; a block is a set element, so applying a change
// is one atomic batch of element additions and deletions.

// set names.
const (
	blocked4 = "blocked4"
	blocked6 = "blocked6"
	inbound4 = "inbound4"
	inbound6 = "inbound6"
	access4  = "access4"
	access6  = "access6"
)

// setSpecs are the sets in creation order.
var setSpecs = []struct {
	name   string
	key    nftables.SetDatatype
	concat bool
}{
	{blocked4, nftables.TypeIPAddr, false},
	{blocked6, nftables.TypeIP6Addr, false},
	{inbound4, nftables.TypeIPAddr, false},
	{inbound6, nftables.TypeIP6Addr, false},
	{access4, nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr), true},
	{access6, nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeIP6Addr), true},
}

// elements is the content of every set: set name to element keys (the
// key bytes as a string, for use as a map key).
type elements map[string]map[string]bool

func newElements() elements {
	e := make(elements, len(setSpecs))
	for _, s := range setSpecs {
		e[s.name] = make(map[string]bool)
	}
	return e
}

// count returns the number of elements in all sets.
func (e elements) count() int {
	n := 0
	for _, s := range e {
		n += len(s)
	}
	return n
}

// want returns the set elements a plan needs, and the status detail of
// each target.
func want(targets []enforce.Target) (elements, []string) {
	el := newElements()
	details := make([]string, len(targets))
	for i, t := range targets {
		v4 := t.Address.Is4()
		key := string(t.Address.AsSlice())
		switch {
		case t.Scope == abuseguard.ScopeInbound:
			el[pick(v4, inbound4, inbound6)][key] = true
			details[i] = "nftables set: dropped inbound"
		case len(t.Access) == 0:
			el[pick(v4, blocked4, blocked6)][key] = true
			details[i] = "nftables set: dropped both ways"
		default:
			el[pick(v4, blocked4, blocked6)][key] = true
			for _, a := range t.Access {
				el[pick(v4, access4, access6)][key+string(a.AsSlice())] = true
			}
			details[i] = "nftables set: dropped both ways except the access IP"
		}
	}
	return el, details
}

func pick(v4 bool, a, b string) string {
	if v4 {
		return a
	}
	return b
}

// describe renders an element key for logs: one address or a pair.
func describe(key string) string {
	switch len(key) {
	case 4, 16:
		a, _ := netip.AddrFromSlice([]byte(key))
		return a.String()
	case 8, 32:
		h := len(key) / 2
		a, _ := netip.AddrFromSlice([]byte(key[:h]))
		b, _ := netip.AddrFromSlice([]byte(key[h:]))
		return a.String() + " . " + b.String()
	}
	return "?"
}

// Header offsets (RFC 791, RFC 8200).
const (
	ip4Src, ip4Dst, ip4Len = 12, 16, 4
	ip6Src, ip6Dst, ip6Len = 8, 24, 16
)

// rules returns the chain's rules in order: the access pairs are accepted
// before anything is dropped.
func rules(sets map[string]*nftables.Set) [][]expr.Any {
	var rs [][]expr.Any
	for _, v4 := range []bool{true, false} {
		src, dst, n := uint32(ip4Src), uint32(ip4Dst), uint32(ip4Len)
		proto, acc := byte(unix.NFPROTO_IPV4), sets[access4]
		// A concatenation fills consecutive 32-bit registers: the second
		// IPv4 address goes to register 9 (NFT_REG32_01) right after the
		// first in register 1, the second IPv6 address to 128-bit register 2.
		second := uint32(unix.NFT_REG32_01)
		if !v4 {
			src, dst, n = ip6Src, ip6Dst, ip6Len
			proto, acc = unix.NFPROTO_IPV6, sets[access6]
			second = unix.NFT_REG_2
		}
		rs = append(rs,
			concat(proto, src, dst, n, second, acc, expr.VerdictAccept), // server to access IP
			concat(proto, dst, src, n, second, acc, expr.VerdictAccept), // access IP to server
		)
	}
	for _, v4 := range []bool{true, false} {
		src, dst, n := uint32(ip4Src), uint32(ip4Dst), uint32(ip4Len)
		proto, blocked, inbound := byte(unix.NFPROTO_IPV4), sets[blocked4], sets[inbound4]
		if !v4 {
			src, dst, n = ip6Src, ip6Dst, ip6Len
			proto, blocked, inbound = unix.NFPROTO_IPV6, sets[blocked6], sets[inbound6]
		}
		rs = append(rs,
			lookup(proto, dst, n, blocked),
			lookup(proto, src, n, blocked),
			lookup(proto, dst, n, inbound),
		)
	}
	return rs
}

// nfproto matches the packet's protocol family, which must precede any
// payload match in an inet chain.
func nfproto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

// lookup is "<family> <field> @set counter drop".
func lookup(proto byte, off, n uint32, set *nftables.Set) []expr.Any {
	return append(nfproto(proto),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
}

// concat is "<family> <field a> . <field b> @set accept".
func concat(proto byte, a, b, n, second uint32, set *nftables.Set, v expr.VerdictKind) []expr.Any {
	return append(nfproto(proto),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: a, Len: n},
		&expr.Payload{DestRegister: second, Base: expr.PayloadBaseNetworkHeader, Offset: b, Len: n},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Counter{},
		&expr.Verdict{Kind: v},
	)
}

// hookNum maps configured hook names to netfilter hooks.
var hookNum = map[string]*nftables.ChainHook{
	"forward": nftables.ChainHookForward,
	"input":   nftables.ChainHookInput,
	"output":  nftables.ChainHookOutput,
}
