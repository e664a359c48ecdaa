package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Configuration is the BGP enforcer's section of the configuration file.
// See docs/enforcement.md for router-side snippets.
type Configuration struct {
	// Enabled starts the embedded speaker. Default false: abuseguard runs
	// without routers until told about them.
	Enabled bool `yaml:"enabled"`
	// LocalAS is our AS number, usually a private one (64512–65534,
	// 4200000000–4294967294) in an eBGP session to each edge router, or
	// the provider's AS for iBGP. Required.
	LocalAS uint32 `yaml:"local_as"`
	// RouterID is the BGP identifier, an IPv4 address unique among the
	// routers' peers; usually the address the speaker dials from. Required.
	RouterID netip.Addr `yaml:"router_id"`
	// ListenPort is the TCP port to accept sessions on. Default 0: do not
	// listen; the speaker dials out to every neighbor that is not passive,
	// which is all the routers need. Set it (179) when the routers should
	// connect to us, e.g. because they sit behind a firewall that only
	// allows inbound sessions.
	ListenPort uint16 `yaml:"listen_port"`
	// ListenAddresses restricts listening to these local addresses.
	// Default: all IPv4 and IPv6 addresses.
	ListenAddresses []netip.Addr `yaml:"listen_addresses"`
	// Neighbors are the edge routers.
	Neighbors []Neighbor `yaml:"neighbors"`

	// NextHopV4 and NextHopV6 are the next hops of blackhole routes. The
	// routers must resolve them to a discard route (a static route to
	// null0/blackhole, or to prohibit/unreachable to make traceroutes end
	// at the edge, see docs/enforcement.md). Defaults 192.0.2.1 (TEST-NET-1,
	// the customary RTBH next hop, RFC 5635) and 100::1 (the IPv6
	// discard-only prefix, RFC 6666).
	NextHopV4 netip.Addr `yaml:"next_hop_v4"`
	NextHopV6 netip.Addr `yaml:"next_hop_v6"`
	// Communities go on blackhole routes. Default BLACKHOLE (65535:666,
	// RFC 7999) and NO_EXPORT (65535:65281), so a blackhole never leaves
	// the provider's AS unless the routers rewrite it on purpose. Written
	// "ASN:VALUE" or by name: blackhole, no-export, no-advertise.
	Communities []Community `yaml:"communities"`
	// FlowSpecCommunities go on FlowSpec rules. Default NO_EXPORT.
	FlowSpecCommunities []Community `yaml:"flowspec_communities"`

	// Inbound is how a block of scope inbound (attack on the server, M4)
	// is announced: "rtbh" (default: a /32 or /128 blackhole route) or
	// "flowspec" (a discard rule for traffic to the address).
	Inbound Method `yaml:"inbound"`
	// Both is how a block of scope both (abuse from the server) is
	// announced:
	//   "flowspec" (default): discard rules to and from the address and,
	//     with an access IP, rules for the pair without an action, which
	//     win by RFC 8955 §5.1 ordering.
	//   "rtbh": a blackhole route only. Traffic from the server is NOT
	//     stopped, and an access IP cannot work (a blackhole route has no
	//     exceptions): such blocks are reported failed.
	//   "rtbh-nftables": for providers without FlowSpec whose Linux edges
	//     run the nftables enforcer, which stops both directions. A
	//     blackhole route is announced for blocks without an access IP;
	//     blocks with one are left to nftables alone, since the route
	//     would drop the access IP's traffic before nftables sees it.
	Both Method `yaml:"both"`

	// GracefulRestart keeps the routers' copies of our routes while
	// abuseguard restarts (RFC 4724), so blocks stay in force.
	GracefulRestart GracefulRestart `yaml:"graceful_restart"`

	// CallTimeout bounds each call into GoBGP, which ignores contexts.
	// Default 10s.
	CallTimeout time.Duration `yaml:"call_timeout"`
}

// GracefulRestart configures BGP graceful restart (RFC 4724) with every
// neighbor. When abuseguard stops, it closes the sessions without a
// NOTIFICATION; a router that supports graceful restart (BIRD's default
// "aware" mode, FRR, Junos with graceful-restart) keeps our routes as stale
// for RestartTime. When abuseguard is back, it announces every active
// block again, then End-of-RIB, and the router drops only the stale routes
// that were not announced again: blocks lifted meanwhile. Routers without
// graceful restart drop our routes when the session closes, as without
// this option.
type GracefulRestart struct {
	// Enabled turns graceful restart on. Default true.
	Enabled bool `yaml:"enabled"`
	// RestartTime is how long the routers keep our routes after the
	// session closes. Default 120s. Stopping abuseguard for good leaves the
	// blocks in force this long.
	RestartTime time.Duration `yaml:"restart_time"`
	// DeferralTime bounds how long the restarted speaker waits for the
	// routers' End-of-RIB before it sends its routes anyway (a router that
	// is down would otherwise hold back every other). Default 10s.
	DeferralTime time.Duration `yaml:"deferral_time"`
}

// Neighbor is one edge router.
type Neighbor struct {
	// Address is the router's address for the session. Required.
	Address netip.Addr `yaml:"address"`
	// AS is the router's AS number; equal to LocalAS for iBGP. Required.
	AS uint32 `yaml:"as"`
	// Description is shown in the operator view.
	Description string `yaml:"description"`
	// Password enables TCP MD5 signatures (RFC 2385) with this key.
	Password string `yaml:"password"`
	// Families are the address families offered to the router. Default
	// all four: ipv4-unicast, ipv6-unicast, ipv4-flowspec, ipv6-flowspec.
	// Families the router does not support are simply not negotiated.
	Families []Family `yaml:"families"`
	// LocalAddress is the address to dial from. Default: chosen by the
	// kernel's routing.
	LocalAddress netip.Addr `yaml:"local_address"`
	// Port is the router's BGP port. Default 179.
	Port uint16 `yaml:"port"`
	// Passive waits for the router to connect instead of dialing it;
	// requires ListenPort.
	Passive bool `yaml:"passive"`
	// MultihopTTL allows an eBGP router that is not directly connected,
	// up to this many hops away. Default 0: directly connected (TTL 1).
	MultihopTTL uint8 `yaml:"multihop_ttl"`
	// HoldTime is the BGP hold time offered. Default 90s (RFC 4271's
	// suggestion); the keepalive interval is a third of it.
	HoldTime time.Duration `yaml:"hold_time"`
	// ConnectRetry is the time between connection attempts. Default 5s:
	// a block made while the session was down is announced within this
	// time of the router coming back. GoBGP's floor is 2s.
	ConnectRetry time.Duration `yaml:"connect_retry"`
}

// Method is how a block is announced.
type Method string

// Methods.
const (
	MethodRTBH         Method = "rtbh"
	MethodFlowSpec     Method = "flowspec"
	MethodRTBHNFTables Method = "rtbh-nftables"
)

// Family is a BGP address family, as named in the configuration.
type Family string

// Families abuseguard announces.
const (
	IPv4Unicast  Family = "ipv4-unicast"
	IPv6Unicast  Family = "ipv6-unicast"
	IPv4FlowSpec Family = "ipv4-flowspec"
	IPv6FlowSpec Family = "ipv6-flowspec"
)

var allFamilies = []Family{IPv4Unicast, IPv6Unicast, IPv4FlowSpec, IPv6FlowSpec}

// Community is a standard BGP community (RFC 1997): AS in the high 16
// bits, value in the low 16.
type Community uint32

// Well-known communities.
const (
	CommunityBlackhole   Community = 0xFFFF029A // 65535:666, RFC 7999
	CommunityNoExport    Community = 0xFFFFFF01 // 65535:65281, RFC 1997
	CommunityNoAdvertise Community = 0xFFFFFF02 // 65535:65282, RFC 1997
)

var communityNames = map[string]Community{
	"blackhole":    CommunityBlackhole,
	"no-export":    CommunityNoExport,
	"no-advertise": CommunityNoAdvertise,
}

// String returns "ASN:VALUE".
func (c Community) String() string {
	return fmt.Sprintf("%d:%d", uint32(c)>>16, uint32(c)&0xFFFF)
}

// MarshalText writes "ASN:VALUE".
func (c Community) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads "ASN:VALUE" or a well-known name.
func (c *Community) UnmarshalText(b []byte) error {
	s := strings.ToLower(strings.TrimSpace(string(b)))
	if v, ok := communityNames[s]; ok {
		*c = v
		return nil
	}
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return fmt.Errorf("community %q: want ASN:VALUE or one of blackhole, no-export, no-advertise", s)
	}
	h, err1 := strconv.ParseUint(hi, 10, 16)
	l, err2 := strconv.ParseUint(lo, 10, 16)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("community %q: both halves must be numbers from 0 to 65535", s)
	}
	*c = Community(h<<16 | l)
	return nil
}

// NeedsNFTables reports whether the configured methods rely on the
// nftables enforcer (both: rtbh-nftables). cmd checks it against the
// nftables section: without that enforcer, blocks with an access IP would
// be enforced nowhere.
func (c *Configuration) NeedsNFTables() bool {
	return c.Enabled && c.Both == MethodRTBHNFTables
}

// DefaultConfiguration returns the defaults documented on each field.
// Neighbor defaults are filled in by Validate, since the neighbor list
// comes from the file.
func DefaultConfiguration() Configuration {
	return Configuration{
		NextHopV4:           netip.MustParseAddr("192.0.2.1"),
		NextHopV6:           netip.MustParseAddr("100::1"),
		Communities:         []Community{CommunityBlackhole, CommunityNoExport},
		FlowSpecCommunities: []Community{CommunityNoExport},
		Inbound:             MethodRTBH,
		Both:                MethodFlowSpec,
		GracefulRestart:     GracefulRestart{Enabled: true, RestartTime: 120 * time.Second, DeferralTime: 10 * time.Second},
		CallTimeout:         10 * time.Second,
	}
}

// Validate fills the neighbors' defaults and reports every problem in c.
// A disabled configuration is not checked further.
func (c *Configuration) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.LocalAS == 0 {
		add("local_as: required")
	}
	if !c.RouterID.Is4() {
		add("router_id: must be an IPv4 address, got %q", c.RouterID)
	}
	for _, a := range c.ListenAddresses {
		if !a.IsValid() {
			add("listen_addresses: invalid address")
		}
	}
	if !c.NextHopV4.Is4() {
		add("next_hop_v4: must be an IPv4 address, got %q", c.NextHopV4)
	}
	if !c.NextHopV6.Is6() || c.NextHopV6.Is4In6() {
		add("next_hop_v6: must be an IPv6 address, got %q", c.NextHopV6)
	}
	if c.Inbound != MethodRTBH && c.Inbound != MethodFlowSpec {
		add("inbound: must be rtbh or flowspec, got %q", c.Inbound)
	}
	if c.Both != MethodRTBH && c.Both != MethodFlowSpec && c.Both != MethodRTBHNFTables {
		add("both: must be flowspec, rtbh or rtbh-nftables, got %q", c.Both)
	}
	if gr := c.GracefulRestart; gr.Enabled {
		// The OPEN message carries the restart time in 12 bits.
		if gr.RestartTime < time.Second || gr.RestartTime > 4095*time.Second {
			add("graceful_restart.restart_time: must be from 1s to 4095s")
		}
		if gr.DeferralTime < time.Second || gr.DeferralTime > 65535*time.Second {
			add("graceful_restart.deferral_time: must be from 1s to 65535s")
		}
	}
	if c.CallTimeout <= 0 {
		add("call_timeout: must be positive")
	}
	if len(c.Neighbors) == 0 {
		add("neighbors: at least one is required")
	}
	seen := make(map[netip.Addr]bool)
	for i := range c.Neighbors {
		n := &c.Neighbors[i]
		p := fmt.Sprintf("neighbors[%d]", i)
		if !n.Address.IsValid() {
			add("%s.address: required", p)
		} else if seen[n.Address] {
			add("%s.address: %s is listed twice", p, n.Address)
		}
		seen[n.Address] = true
		if n.AS == 0 {
			add("%s.as: required", p)
		}
		if len(n.Families) == 0 {
			n.Families = slices.Clone(allFamilies)
		}
		for _, f := range n.Families {
			if !slices.Contains(allFamilies, f) {
				add("%s.families: unknown family %q", p, f)
			}
		}
		if n.LocalAddress.IsValid() && n.Address.IsValid() && n.LocalAddress.Is4() != n.Address.Is4() {
			add("%s.local_address: must be of the same IP version as the address", p)
		}
		if n.Port == 0 {
			n.Port = 179
		}
		if n.Passive && c.ListenPort == 0 {
			add("%s.passive: needs listen_port", p)
		}
		if n.HoldTime == 0 {
			n.HoldTime = 90 * time.Second
		}
		if n.HoldTime < 3*time.Second {
			add("%s.hold_time: must be at least 3s (RFC 4271)", p)
		}
		if n.ConnectRetry == 0 {
			n.ConnectRetry = 5 * time.Second
		}
		if n.ConnectRetry < 2*time.Second {
			add("%s.connect_retry: must be at least 2s", p)
		}
		if n.MultihopTTL > 0 && n.AS == c.LocalAS {
			add("%s.multihop_ttl: only for eBGP neighbors", p)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("bgp: %w", errors.Join(errs...))
	}
	return nil
}
