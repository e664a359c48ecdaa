package bgp

import (
	"encoding/binary"
	"math"
	"net/netip"
	"time"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"abuseguard"
	"abuseguard/enforce"
)

// rkey identifies a route in the RIB: its family and what it matches.
// For a blackhole route dst is the host prefix; for a FlowSpec rule dst and
// src are its prefix components, zero when absent. A comparable struct
// rather than the NLRI's text: formatting 25 000 FlowSpec NLRIs took most
// of a pass (docs/performance.md).
type rkey struct {
	family   bgp.Family
	dst, src netip.Prefix
	// other holds the NLRI text of a route with components abuseguard
	// never makes, so that it is still found and withdrawn.
	other string
}

// kind is what a wanted route is; with its key it determines the path.
type kind uint8

const (
	kindRTBH    kind = iota
	kindDiscard      // FlowSpec, traffic-rate 0
	kindAccept       // FlowSpec without action
)

// plan is how one target (address) is announced. All its routes are of
// one family: the address's IP version, unicast or FlowSpec.
type plan struct {
	method string     // "rtbh", "flowspec", or "" when BGP announces nothing
	family bgp.Family // of its routes
	// state and detail override the computed status when set: an access
	// IP that cannot be enforced, a block left to nftables.
	state  abuseguard.EnforceState
	detail string
}

// planTarget decides the routes for one address, following the
// configured method for its scope, and adds them to want. Never a
// blackhole route together with an access IP: a blackhole route cannot
// carry an exception.
func (e *Enforcer) planTarget(t enforce.Target, want map[rkey]kind) plan {
	m := e.cfg.Inbound
	if t.Scope == abuseguard.ScopeBoth {
		m = e.cfg.Both
	}
	var p plan
	add := func(k rkey, kd kind) {
		p.family = k.family
		want[k] = kd
	}
	switch {
	case m == MethodFlowSpec && t.Scope == abuseguard.ScopeInbound:
		p.method = "flowspec"
		add(flowKey(t.Address, netip.Addr{}), kindDiscard)
	case m == MethodFlowSpec:
		// By RFC 8955 §5.1 rules are ordered component type by component
		// type, destination prefix first: for equal destinations a rule
		// with a source prefix wins over one without, and a rule with a
		// destination prefix wins over one without. So "dst=S, src=A"
		// beats "dst=S" (access IP to server) and "src=S, dst=A" beats
		// "src=S" (server to access IP). The pair rules carry no action,
		// which RFC 8955 §7 defines as accept.
		p.method = "flowspec"
		add(flowKey(t.Address, netip.Addr{}), kindDiscard)
		add(flowKey(netip.Addr{}, t.Address), kindDiscard)
		for _, a := range t.Access {
			add(flowKey(t.Address, a), kindAccept)
			add(flowKey(a, t.Address), kindAccept)
		}
	case m == MethodRTBHNFTables && len(t.Access) > 0:
		p.state, p.detail = abuseguard.EnforceApplied, "nothing announced: the access IP is enforced by nftables"
	case m == MethodRTBH && len(t.Access) > 0:
		p.method = "rtbh"
		add(rtbhKey(t.Address), kindRTBH)
		p.state, p.detail = abuseguard.EnforceFailed, "rtbh announced, access IP not enforced: a blackhole route cannot carry an exception (needs flowspec or nftables)"
	default:
		p.method = "rtbh"
		add(rtbhKey(t.Address), kindRTBH)
	}
	return p
}

func host(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

func rtbhKey(a netip.Addr) rkey {
	f := bgp.RF_IPv4_UC
	if a.Is6() {
		f = bgp.RF_IPv6_UC
	}
	return rkey{family: f, dst: host(a)}
}

// flowKey is the key of a rule matching traffic to dst and from src
// (either may be zero, not both).
func flowKey(dst, src netip.Addr) rkey {
	k := rkey{family: bgp.RF_FS_IPv4_UC}
	if dst.Is6() || src.Is6() {
		k.family = bgp.RF_FS_IPv6_UC
	}
	if dst.IsValid() {
		k.dst = host(dst)
	}
	if src.IsValid() {
		k.src = host(src)
	}
	return k
}

// keyOf returns the key of a route found in the RIB.
func keyOf(family bgp.Family, nlri bgp.NLRI) rkey {
	k := rkey{family: family}
	switch n := nlri.(type) {
	case *bgp.IPAddrPrefix:
		k.dst = n.Prefix
		return k
	case *bgp.FlowSpecNLRI:
		for _, c := range n.Value {
			switch c := c.(type) {
			case *bgp.FlowSpecDestinationPrefix:
				k.dst = c.Prefix.Prefix
			case *bgp.FlowSpecSourcePrefix:
				k.src = c.Prefix.Prefix
			case *bgp.FlowSpecDestinationPrefix6:
				k.dst = c.Prefix.Prefix
			case *bgp.FlowSpecSourcePrefix6:
				k.src = c.Prefix.Prefix
			default:
				k.other = n.String()
			}
		}
		return k
	}
	k.other = nlri.String()
	return k
}

// path builds the path for a wanted route.
func (e *Enforcer) path(k rkey, kd kind) *apiutil.Path {
	if kd == kindRTBH {
		return e.rtbh(k.dst.Addr())
	}
	return e.flow(k.dst, k.src, kd == kindDiscard)
}

// rtbh returns the blackhole host route for addr, with the configured
// next hop and communities.
func (e *Enforcer) rtbh(addr netip.Addr) *apiutil.Path {
	prefix, _ := bgp.NewIPAddrPrefix(host(addr))
	attrs := baseAttrs()
	family := bgp.RF_IPv4_UC
	if addr.Is4() {
		nh, _ := bgp.NewPathAttributeNextHop(e.cfg.NextHopV4)
		attrs = append(attrs, nh)
	} else {
		family = bgp.RF_IPv6_UC
		mp, _ := bgp.NewPathAttributeMpReachNLRI(family, []bgp.PathNLRI{{NLRI: prefix}}, e.cfg.NextHopV6)
		attrs = append(attrs, mp)
	}
	attrs = append(attrs, communities(e.cfg.Communities)...)
	return &apiutil.Path{Family: family, Nlri: prefix, Attrs: attrs, Age: time.Now().Unix()}
}

// flow returns a FlowSpec rule matching traffic to dst and from src;
// discard adds the traffic-rate 0 action (RFC 8955 §7.3), otherwise the
// rule accepts.
func (e *Enforcer) flow(dst, src netip.Prefix, discard bool) *apiutil.Path {
	v4 := dst.Addr().Is4() || src.Addr().Is4()
	family := bgp.RF_FS_IPv4_UC
	if !v4 {
		family = bgp.RF_FS_IPv6_UC
	}
	var comps []bgp.FlowSpecComponentInterface
	if dst.IsValid() {
		p, _ := bgp.NewIPAddrPrefix(dst)
		if v4 {
			comps = append(comps, bgp.NewFlowSpecDestinationPrefix(p))
		} else {
			comps = append(comps, bgp.NewFlowSpecDestinationPrefix6(p, 0))
		}
	}
	if src.IsValid() {
		p, _ := bgp.NewIPAddrPrefix(src)
		if v4 {
			comps = append(comps, bgp.NewFlowSpecSourcePrefix(p))
		} else {
			comps = append(comps, bgp.NewFlowSpecSourcePrefix6(p, 0))
		}
	}
	nlri, _ := bgp.NewFlowSpecUnicast(family, comps)
	mp, _ := bgp.NewPathAttributeMpReachNLRI(family, []bgp.PathNLRI{{NLRI: nlri}})
	attrs := append(baseAttrs(), mp)
	attrs = append(attrs, communities(e.cfg.FlowSpecCommunities)...)
	if discard {
		attrs = append(attrs, bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{bgp.NewTrafficRateExtended(0, 0)}))
	}
	return &apiutil.Path{Family: family, Nlri: nlri, Attrs: attrs, Age: time.Now().Unix()}
}

// baseAttrs are the mandatory attributes of a locally originated route:
// ORIGIN IGP and an empty AS_PATH (GoBGP prepends our AS towards eBGP).
func baseAttrs() []bgp.PathAttributeInterface {
	return []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeAsPath(nil),
	}
}

func communities(cs []Community) []bgp.PathAttributeInterface {
	if len(cs) == 0 {
		return nil
	}
	v := make([]uint32, len(cs))
	for i, c := range cs {
		v[i] = uint32(c)
	}
	return []bgp.PathAttributeInterface{bgp.NewPathAttributeCommunities(v)}
}

// fingerprint hashes (FNV-1a, 64 bits) the attributes the enforcer sets,
// independent of the order GoBGP keeps them in: the next hop of unicast
// routes, the communities, the FlowSpec action. A configuration change
// (next hop, communities) changes it and re-announces the route.
func fingerprint(family bgp.Family, attrs []bgp.PathAttributeInterface) uint64 {
	var nh [16]byte
	var buf [8]byte
	comms, ext := uint64(offset64), uint64(offset64)
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			nh = a.Value.As16()
		case *bgp.PathAttributeMpReachNLRI:
			if family.Safi() == bgp.SAFI_UNICAST && a.Nexthop.IsValid() {
				nh = a.Nexthop.As16()
			}
		case *bgp.PathAttributeCommunities:
			for _, c := range a.Value {
				binary.BigEndian.PutUint32(buf[:4], c)
				comms = fnv(comms, buf[:4])
			}
		case *bgp.PathAttributeExtendedCommunities:
			for _, c := range a.Value {
				if r, ok := c.(*bgp.TrafficRateExtended); ok {
					binary.BigEndian.PutUint16(buf[:2], r.AS)
					binary.BigEndian.PutUint32(buf[2:6], math.Float32bits(r.Rate))
					ext = fnv(ext, buf[:6])
				} else {
					ext = fnv(ext, []byte(c.String()))
				}
			}
		}
	}
	h := fnv(offset64, nh[:])
	binary.BigEndian.PutUint64(buf[:], comms)
	h = fnv(h, buf[:])
	binary.BigEndian.PutUint64(buf[:], ext)
	return fnv(h, buf[:])
}

const offset64 = 14695981039346656037

// fnv continues an FNV-1a hash over b.
func fnv(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
