package inventory

import "net/netip"

// reservedPrefixes are the defaults of Configuration.ReservedPrefixes: the
// address blocks that are not reachable on the internet, so that traffic to
// them from a customer server leaking onto the uplink is a misconfiguration
// (M5). Taken from the IANA IPv4 and IPv6 Special-Purpose Address
// Registries (RFC 6890, as of 2024), keeping the blocks the registries
// mark "Globally Reachable: False" and leaving out the ones marked True or
// N/A, so that nothing here would flag traffic that may legitimately cross
// the internet. The same blocks make up Team Cymru's bogon list for IPv4,
// minus multicast (see below).
//
// Multicast (224.0.0.0/4, ff00::/8) is left out on purpose: a server's
// link-local chatter (mDNS, SSDP, and above all IPv6 neighbour discovery,
// which sends to one solicited-node group ff02::1:ffXX:XXXX per neighbour)
// would count as many distinct "reserved destinations" without any leak,
// whenever the collector watches a server-facing port. Add the two blocks
// to reserved_prefixes where that cannot happen.
var reservedPrefixes = []struct {
	prefix string
	why    string
}{
	// IPv4.
	{"0.0.0.0/8", `"this network" (RFC 791): never a destination`},
	{"10.0.0.0/8", "private use (RFC 1918)"},
	{"100.64.0.0/10", "shared address space for carrier-grade NAT (RFC 6598)"},
	{"127.0.0.0/8", "loopback (RFC 1122)"},
	{"169.254.0.0/16", "link local (RFC 3927), cloud metadata services"},
	{"172.16.0.0/12", "private use (RFC 1918)"},
	// 192.0.0.0/24, IETF protocol assignments (RFC 6890), except
	// 192.0.0.9/32 (PCP anycast, RFC 7723) and 192.0.0.10/32 (TURN
	// anycast, RFC 8155), which are globally reachable.
	{"192.0.0.0/29", "IPv4 service continuity prefix (RFC 7335)"},
	{"192.0.0.8/32", "IPv4 dummy address (RFC 7600)"},
	{"192.0.0.11/32", "IETF protocol assignments, unassigned (RFC 6890)"},
	{"192.0.0.12/30", "IETF protocol assignments, unassigned (RFC 6890)"},
	{"192.0.0.16/28", "IETF protocol assignments, unassigned (RFC 6890)"},
	{"192.0.0.32/27", "IETF protocol assignments, unassigned (RFC 6890)"},
	{"192.0.0.64/26", "IETF protocol assignments, unassigned (RFC 6890)"},
	{"192.0.0.128/25", "IETF protocol assignments, NAT64/DNS64 discovery 192.0.0.170/31 (RFC 8880)"},
	{"192.0.2.0/24", "documentation, TEST-NET-1 (RFC 5737)"},
	{"192.168.0.0/16", "private use (RFC 1918)"},
	{"198.18.0.0/15", "benchmarking (RFC 2544)"},
	{"198.51.100.0/24", "documentation, TEST-NET-2 (RFC 5737)"},
	{"203.0.113.0/24", "documentation, TEST-NET-3 (RFC 5737)"},
	{"240.0.0.0/4", "reserved (RFC 1112), including limited broadcast 255.255.255.255 (RFC 919)"},
	// Left out: 192.31.196.0/24 (AS112-v4) and 192.52.193.0/24 (AMT) are
	// globally reachable; 192.88.99.0/24 (deprecated 6to4 relay anycast,
	// RFC 7526) may still be routed.

	// IPv6.
	{"::/128", "unspecified address (RFC 4291)"},
	{"::1/128", "loopback (RFC 4291)"},
	{"64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)"},
	{"100::/64", "discard-only (RFC 6666)"},
	{"2001:2::/48", "benchmarking (RFC 5180)"},
	{"2001:db8::/32", "documentation (RFC 3849)"},
	{"3fff::/20", "documentation (RFC 9637)"},
	{"5f00::/16", "segment routing SIDs (RFC 9602)"},
	{"fc00::/7", "unique local (RFC 4193)"},
	{"fe80::/10", "link local (RFC 4291)"},
	// Left out: ::ffff:0:0/96 (IPv4-mapped): addresses are unmapped
	// before they are classified, so its IPv4 addresses are judged as
	// IPv4. 64:ff9b::/96 (NAT64 well-known prefix, RFC 6052), 2001::/32
	// (Teredo), 2001:1::1/128, 2001:1::2/128, 2001:3::/32, 2001:4:112::/48,
	// 2001:20::/28 (PCP and TURN anycast, AMT, AS112, ORCHIDv2), 2002::/16
	// (6to4): globally reachable or not decided by the registry.
}

// DefaultReservedPrefixes returns the default reserved prefixes (see the
// list above for what each is and what is left out), a new slice each time.
func DefaultReservedPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, len(reservedPrefixes))
	for i, r := range reservedPrefixes {
		out[i] = netip.MustParsePrefix(r.prefix)
	}
	return out
}
