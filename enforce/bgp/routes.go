package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"abuseguard"
	"abuseguard/enforce"
)

// route is one path the enforcer wants in the speaker's RIB.
type route struct {
	path *apiutil.Path
	// key identifies the route in the RIB: family and NLRI. Two blocks
	// that need the same route share it.
	key string
	// fp fingerprints what we set on it (next hop, communities, FlowSpec
	// action), so a configuration change re-announces it.
	fp string
}

// plan is how one target (address) is announced.
type plan struct {
	method string // "rtbh", "flowspec", or "" when BGP announces nothing
	routes []route
	// state and detail override the computed status when set: an access
	// IP that cannot be enforced, a block left to nftables.
	state  abuseguard.EnforceState
	detail string
}

// planTarget decides the routes for one address, following the
// configured method for its scope. Never a blackhole route together with
// an access IP: a blackhole route cannot carry an exception.
func (e *Enforcer) planTarget(t enforce.Target) plan {
	m := e.cfg.Inbound
	if t.Scope == abuseguard.ScopeBoth {
		m = e.cfg.Both
	}
	switch {
	case m == MethodFlowSpec && t.Scope == abuseguard.ScopeInbound:
		return plan{method: "flowspec", routes: []route{e.flow(t.Address, netip.Addr{}, true)}}
	case m == MethodFlowSpec:
		return plan{method: "flowspec", routes: e.flowBoth(t)}
	case m == MethodRTBHNFTables && len(t.Access) > 0:
		return plan{state: abuseguard.EnforceApplied, detail: "nothing announced: the access IP is enforced by nftables"}
	case m == MethodRTBH && len(t.Access) > 0:
		return plan{method: "rtbh", routes: []route{e.rtbh(t.Address)}, state: abuseguard.EnforceFailed,
			detail: "rtbh announced, access IP not enforced: a blackhole route cannot carry an exception (needs flowspec or nftables)"}
	default:
		return plan{method: "rtbh", routes: []route{e.rtbh(t.Address)}}
	}
}

// flowBoth returns the rules that stop traffic to and from the address
// except for its access IPs. By RFC 8955 §5.1 the rules are ordered
// component type by component type, destination prefix first: for equal
// destinations a rule with a source prefix wins over one without, and a
// rule with a destination prefix wins over one without. So
// "dst=S, src=A" beats "dst=S" (access IP to server), and "src=S, dst=A"
// beats "src=S" (server to access IP). The pair rules carry no action,
// which RFC 8955 §7 defines as accept.
func (e *Enforcer) flowBoth(t enforce.Target) []route {
	rs := []route{
		e.flow(t.Address, netip.Addr{}, true),
		e.flow(netip.Addr{}, t.Address, true),
	}
	for _, a := range t.Access {
		rs = append(rs, e.flow(t.Address, a, false), e.flow(a, t.Address, false))
	}
	return rs
}

// rtbh returns the blackhole host route for addr, with the configured
// next hop and communities.
func (e *Enforcer) rtbh(addr netip.Addr) route {
	prefix, _ := bgp.NewIPAddrPrefix(netip.PrefixFrom(addr, addr.BitLen()))
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
	return newRoute(family, prefix, attrs)
}

// flow returns a FlowSpec rule matching traffic to dst and from src
// (either may be zero, not both); discard adds the traffic-rate 0 action
// (RFC 8955 §7.3), otherwise the rule accepts.
func (e *Enforcer) flow(dst, src netip.Addr, discard bool) route {
	v4 := dst.Is4() || src.Is4()
	family := bgp.RF_FS_IPv4_UC
	if !v4 {
		family = bgp.RF_FS_IPv6_UC
	}
	var comps []bgp.FlowSpecComponentInterface
	for _, c := range []struct {
		addr netip.Addr
		dst  bool
	}{{dst, true}, {src, false}} {
		if !c.addr.IsValid() {
			continue
		}
		p, _ := bgp.NewIPAddrPrefix(netip.PrefixFrom(c.addr, c.addr.BitLen()))
		switch {
		case v4 && c.dst:
			comps = append(comps, bgp.NewFlowSpecDestinationPrefix(p))
		case v4:
			comps = append(comps, bgp.NewFlowSpecSourcePrefix(p))
		case c.dst:
			comps = append(comps, bgp.NewFlowSpecDestinationPrefix6(p, 0))
		default:
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
	return newRoute(family, nlri, attrs)
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

func newRoute(family bgp.Family, nlri bgp.NLRI, attrs []bgp.PathAttributeInterface) route {
	return route{
		path: &apiutil.Path{Family: family, Nlri: nlri, Attrs: attrs, Age: time.Now().Unix()},
		key:  routeKey(family, nlri),
		fp:   fingerprint(family, attrs),
	}
}

func routeKey(family bgp.Family, nlri bgp.NLRI) string {
	return family.String() + " " + nlri.String()
}

// fingerprint summarises the attributes the enforcer sets, in a fixed
// order whatever order GoBGP keeps them in.
func fingerprint(family bgp.Family, attrs []bgp.PathAttributeInterface) string {
	var nh, comms, ext string
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			nh = a.Value.String()
		case *bgp.PathAttributeMpReachNLRI:
			if family.Safi() == bgp.SAFI_UNICAST {
				nh = a.Nexthop.String()
			}
		case *bgp.PathAttributeCommunities:
			s := make([]string, len(a.Value))
			for i, c := range a.Value {
				s[i] = Community(c).String()
			}
			comms = strings.Join(s, ",")
		case *bgp.PathAttributeExtendedCommunities:
			s := make([]string, len(a.Value))
			for i, c := range a.Value {
				s[i] = c.String()
			}
			slices.Sort(s)
			ext = strings.Join(s, ",")
		}
	}
	return fmt.Sprintf("nh=%s comm=%s ext=%s", nh, comms, ext)
}
