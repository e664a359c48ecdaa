package bird

import (
	"bufio"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Route is one route as `birdc show route ... all` prints it.
type Route struct {
	// Net is the network: "10.71.2.2/32", or a FlowSpec rule as BIRD
	// writes it, "flow4 { dst 10.71.2.4/32; src 10.71.1.3/32; }".
	Net string
	// Kind is the route's destination type for unicast routes whose next
	// hop resolved to a special route ("prohibited", "blackhole",
	// "unreachable"), "unicast" for an ordinary one; empty for FlowSpec.
	Kind string
	// Protocol is the protocol that brought the route, e.g. Protocol.
	Protocol string
	// Attrs are the attribute lines: "BGP.next_hop" → "192.0.2.1",
	// "BGP.community" → "(65535,666) (65535,65281)".
	Attrs map[string]string
}

// Communities returns the route's standard communities, e.g.
// ["(65535,666)", "(65535,65281)"].
func (rt Route) Communities() []string { return groups(rt.Attrs["BGP.community"]) }

// ExtCommunities returns the route's extended communities, e.g.
// ["(generic, 0x80060000, 0x0)"] for FlowSpec traffic-rate 0.
func (rt Route) ExtCommunities() []string { return groups(rt.Attrs["BGP.ext_community"]) }

// groups splits "(a) (b, c)" into ["(a)", "(b, c)"].
func groups(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '(')
		j := strings.IndexByte(s, ')')
		if i < 0 || j < i {
			return out
		}
		out = append(out, s[i:j+1])
		s = s[j+1:]
	}
}

// ParseRoutes parses the output of `birdc show route ... all` (with or
// without "all": then Attrs stay empty). Routes BIRD prints for the same
// network after the first (indented, without the network) come out with
// the network filled in.
func ParseRoutes(out string) ([]Route, error) {
	var routes []Route
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "", strings.HasPrefix(line, "BIRD "), strings.HasPrefix(line, "Table "), line == "Network not found":
		case strings.HasPrefix(line, "\t"):
			if len(routes) == 0 {
				return nil, fmt.Errorf("attribute line before any route: %q", line)
			}
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok {
				return nil, fmt.Errorf("attribute line without a colon: %q", line)
			}
			routes[len(routes)-1].Attrs[k] = strings.TrimSpace(v)
		case strings.HasPrefix(line, " "):
			// Another route for the network of the previous line.
			if len(routes) == 0 {
				return nil, fmt.Errorf("continuation line before any route: %q", line)
			}
			rt, err := parseRouteRest(routes[len(routes)-1].Net, line)
			if err != nil {
				return nil, err
			}
			routes = append(routes, rt)
		default:
			var net string
			if strings.HasPrefix(line, "flow4 {") || strings.HasPrefix(line, "flow6 {") {
				end := strings.IndexByte(line, '}')
				if end < 0 {
					return nil, fmt.Errorf("unterminated FlowSpec rule: %q", line)
				}
				net = line[:end+1]
			} else {
				net = strings.Fields(line)[0]
				if _, err := netip.ParsePrefix(net); err != nil {
					return nil, fmt.Errorf("route line: %q: %w", line, err)
				}
			}
			rt, err := parseRouteRest(net, line[len(net):])
			if err != nil {
				return nil, err
			}
			routes = append(routes, rt)
		}
	}
	return routes, sc.Err()
}

// parseRouteRest parses what follows the network on a route line:
// `prohibited [abuseguard 02:16:57.927 from 169.254.192.85] * (100/?) [AS65001i]`.
func parseRouteRest(net, rest string) (Route, error) {
	rt := Route{Net: net, Attrs: map[string]string{}}
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, "[") {
		kind, after, _ := strings.Cut(rest, " ")
		rt.Kind, rest = kind, strings.TrimSpace(after)
	}
	if !strings.HasPrefix(rest, "[") {
		return rt, fmt.Errorf("route %s: no [protocol ...] in %q", net, rest)
	}
	rt.Protocol = strings.Fields(rest[1:])[0]
	return rt, nil
}

// Routes returns the routes of table (Master4, Master6, Flow4, Flow6)
// that came from abuseguard, with their attributes, in BIRD's order.
func (r *Router) Routes(t testing.TB, table string) []Route {
	t.Helper()
	routes, err := ParseRoutes(r.MustBirdc(t, "show", "route", "table", table, "protocol", Protocol, "all"))
	if err != nil {
		t.Fatalf("bird: show route table %s: %v", table, err)
	}
	return routes
}

// Nets returns the networks of Routes, sorted, one entry per route: a
// route announced twice would show twice.
func (r *Router) Nets(t testing.TB, table string) []string {
	t.Helper()
	var nets []string
	for _, rt := range r.Routes(t, table) {
		nets = append(nets, rt.Net)
	}
	slices.Sort(nets)
	return nets
}

// AllNets returns Nets of every table in Tables, by table; tables without
// routes are left out.
func (r *Router) AllNets(t testing.TB) map[string][]string {
	t.Helper()
	all := map[string][]string{}
	for _, table := range Tables {
		if nets := r.Nets(t, table); len(nets) > 0 {
			all[table] = nets
		}
	}
	return all
}

// Route returns abuseguard's route for a unicast prefix (master4 or
// master6 by its family), and whether there is one.
func (r *Router) Route(t testing.TB, p netip.Prefix) (Route, bool) {
	t.Helper()
	table := Master4
	if p.Addr().Is6() {
		table = Master6
	}
	out, err := r.Birdc("show", "route", p.String(), "table", table, "protocol", Protocol, "all")
	if err != nil && !strings.Contains(out, "Network not found") {
		t.Fatalf("bird: %v", err)
	}
	routes, err := ParseRoutes(out)
	if err != nil {
		t.Fatalf("bird: show route %s: %v", p, err)
	}
	if len(routes) == 0 {
		return Route{}, false
	}
	return routes[0], true
}

// HasRoute reports whether abuseguard's route for a unicast prefix is in
// BIRD. It looks up one network, which costs BIRD (single-threaded) next
// to nothing, unlike listing a table: for polling in benchmarks.
func (r *Router) HasRoute(p netip.Prefix) (bool, error) {
	table := Master4
	if p.Addr().Is6() {
		table = Master6
	}
	out, err := r.Birdc("show", "route", p.String(), "table", table, "protocol", Protocol)
	if strings.Contains(out, "Network not found") {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.Contains(out, p.String()), nil
}

// routeCountRe matches "3 of 5 routes for 5 networks in table master4".
var routeCountRe = regexp.MustCompile(`(\d+) of \d+ routes`)

// RouteCount returns how many routes from abuseguard table holds.
func (r *Router) RouteCount(table string) (int, error) {
	out, err := r.Birdc("show", "route", "count", "table", table, "protocol", Protocol)
	if err != nil {
		return 0, err
	}
	m := routeCountRe.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("bird: no route count in %q", out)
	}
	return strconv.Atoi(m[1])
}
