package bird

import (
	"fmt"
	"strings"
)

// configTemplate is the edge router's configuration, the one
// docs/enforcement.md shows operators. {{…}} are filled in by Render.
const configTemplate = `log "{{log}}" all;
router id {{router_id}};

protocol device { scan time 1; }
protocol direct { ipv4; ipv6; }

flow4 table flowtab4;
flow6 table flowtab6;

# The blackhole next hops abuseguard announces. "prohibit" answers with
# ICMP administratively prohibited: a traceroute ends here with !X;
# "blackhole" drops silently, "unreachable" answers !H.
protocol static blackhole_nh4 { ipv4; route {{nh4}}/32 {{nh_route}}; }
protocol static blackhole_nh6 { ipv6; route {{nh6}}/128 {{nh_route}}; }

# Without a kernel protocol BIRD installs nothing in the routing table.
protocol kernel kernel4 { ipv4 { export where source = RTS_BGP; }; }
protocol kernel kernel6 { ipv6 { export where source = RTS_BGP; }; }

protocol bgp abuseguard {
	local {{local}} as {{local_as}};
	neighbor {{speaker}} as {{speaker_as}};
{{password}}	# Only host routes carrying BLACKHOLE are accepted from abuseguard;
	# "gateway recursive" resolves the next hop through the static route
	# above, so the received route itself becomes a {{nh_route}} route.
	ipv4 { import where net.len = 32 && (65535,666) ~ bgp_community; export none; gateway recursive; };
	ipv6 { import where net.len = 128 && (65535,666) ~ bgp_community; export none; gateway recursive;{{self6}} };
	flow4 { table flowtab4; import all; export none; };
	flow6 { table flowtab6; import all; export none;{{self6}} };
}
`

// Render returns the BIRD configuration for c, logging to logFile. c must
// have its defaults filled in (Start does).
func (c Config) Render(logFile string) string {
	password, self6 := "", ""
	if c.Password != "" {
		password = fmt.Sprintf("\tpassword %q;\n", c.Password)
	}
	if c.Local.Is4() {
		// Over an IPv4 session BIRD needs an IPv6 next hop for its own
		// (empty) IPv6 exports.
		self6 = fmt.Sprintf(" next hop address %s;", c.SelfNextHop6)
	}
	return strings.NewReplacer(
		"{{log}}", logFile,
		"{{router_id}}", c.RouterID.String(),
		"{{nh4}}", c.NextHop4.String(),
		"{{nh6}}", c.NextHop6.String(),
		"{{nh_route}}", c.NextHopRoute,
		"{{local}}", c.Local.String(),
		"{{local_as}}", fmt.Sprint(c.LocalAS),
		"{{speaker}}", c.Speaker.String(),
		"{{speaker_as}}", fmt.Sprint(c.SpeakerAS),
		"{{password}}", password,
		"{{self6}}", self6,
	).Replace(configTemplate)
}
