package inventory

import (
	"net/netip"
	"testing"

	"abuseguard"
	"abuseguard/flow"

	"github.com/google/go-cmp/cmp"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = pfx(s)
	}
	return out
}

// demo is an inventory like our demos': the provider numbers its customers
// from documentation ranges, which are reserved by default.
func demo() (Configuration, []HostGroup) {
	cfg := Configuration{
		ProviderPrefixes:  prefixes("203.0.113.0/24", "2001:db8::/32", "100.64.0.0/24"),
		CustomerPrefixes:  prefixes("203.0.113.0/25", "2001:db8:c::/48"),
		ProtectedPrefixes: prefixes("203.0.113.250/32", "203.0.113.53/32", "2001:db8::53/128"),
		Customers: []abuseguard.Customer{
			{ID: "c-1", Name: "Example GmbH", Email: "noc@example.com", Language: "de"},
			{ID: "c-2", Name: "Example Ltd", Email: "abuse@example.org", Language: "en"},
		},
		Servers: []abuseguard.Server{
			{ID: "web-1", CustomerID: "c-1", Prefixes: prefixes("203.0.113.7/32", "2001:db8:c:1::/64"), MACs: []string{"52:54:00:12:34:56"}},
			{ID: "dns-1", CustomerID: "c-1", Prefixes: prefixes("203.0.113.53/32"), HostGroup: "dns"},
			// A server outside the declared customer prefixes, in a /28.
			{ID: "big-1", CustomerID: "c-2", Prefixes: prefixes("203.0.113.128/28"), HostGroup: "bulk"},
			{ID: "cgn-1", CustomerID: "c-2", Prefixes: prefixes("100.64.0.1/32")},
		},
	}
	groups := []HostGroup{
		{Name: "default"},
		{Name: "dns", Prefixes: prefixes("203.0.113.48/28")},
		{Name: "bulk", Prefixes: prefixes("203.0.113.0/25", "2001:db8:c::/48")},
		// Nested inside bulk's /25: the longer prefix wins.
		{Name: "mail", Prefixes: prefixes("203.0.113.0/29")},
	}
	return cfg, groups
}

func TestClassify(t *testing.T) {
	const (
		cust = flow.ClassCustomer
		prov = flow.ClassProvider
		prot = flow.ClassProtected
		resv = flow.ClassReserved
	)
	cfg, groups := demo()
	inv, err := New(cfg, groups)
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	for _, tc := range []struct {
		addr string
		want flow.Class
	}{
		// web-1: its /32 inside customer space, group by the longest
		// group prefix (mail's /29 inside bulk's /25).
		{"203.0.113.7", flow.Class{Server: 0, Group: 3, Flags: cust | prov}},
		{"::ffff:203.0.113.7", flow.Class{Server: 0, Group: 3, Flags: cust | prov}},
		{"2001:db8:c:1::abcd", flow.Class{Server: 0, Group: 2, Flags: cust | prov}},
		// Customer space without a server.
		{"203.0.113.8", flow.Class{Server: -1, Group: 2, Flags: cust | prov}},
		{"2001:db8:c:2::1", flow.Class{Server: -1, Group: 2, Flags: cust | prov}},
		// dns-1: protected, its explicit group equals its prefix group.
		{"203.0.113.53", flow.Class{Server: 1, Group: 1, Flags: cust | prov | prot}},
		// dns group prefix without a server.
		{"203.0.113.54", flow.Class{Server: -1, Group: 1, Flags: cust | prov}},
		// big-1: the explicit group beats the default group of its prefix.
		{"203.0.113.128", flow.Class{Server: 2, Group: 2, Flags: cust | prov}},
		{"203.0.113.143", flow.Class{Server: 2, Group: 2, Flags: cust | prov}},
		// Provider space that is nobody's: not reserved although
		// 203.0.113.0/24 is a documentation range.
		{"203.0.113.144", flow.Class{Server: -1, Flags: prov}},
		{"203.0.113.250", flow.Class{Server: -1, Flags: prov | prot}},
		{"2001:db8::53", flow.Class{Server: -1, Flags: prov | prot}},
		{"2001:db8:ffff::1", flow.Class{Server: -1, Flags: prov}},
		// A server in shared address space (100.64.0.0/10, reserved):
		// its own address is not reserved, its neighbours are.
		{"100.64.0.1", flow.Class{Server: 3, Flags: cust | prov}},
		{"100.64.0.2", flow.Class{Server: -1, Flags: prov}},
		{"100.64.1.1", flow.Class{Server: -1, Flags: resv}},
		// Reserved outside the provider's space.
		{"10.1.2.3", flow.Class{Server: -1, Flags: resv}},
		{"198.51.100.1", flow.Class{Server: -1, Flags: resv}},
		{"192.0.0.8", flow.Class{Server: -1, Flags: resv}},
		{"255.255.255.255", flow.Class{Server: -1, Flags: resv}},
		{"fe80::1", flow.Class{Server: -1, Flags: resv}},
		{"fd00::2", flow.Class{Server: -1, Flags: resv}},
		{"::1", flow.Class{Server: -1, Flags: resv}},
		{"3fff::1", flow.Class{Server: -1, Flags: resv}},
		// Globally reachable special-purpose addresses and multicast.
		{"192.0.0.9", flow.Class{Server: -1}},
		{"192.0.0.10", flow.Class{Server: -1}},
		{"224.0.0.251", flow.Class{Server: -1}},
		{"ff02::1:ff00:1", flow.Class{Server: -1}},
		{"64:ff9b::1.2.3.4", flow.Class{Server: -1}},
		// The internet.
		{"8.8.8.8", flow.Class{Server: -1}},
		{"2a00:1450::1", flow.Class{Server: -1}},
		{"", flow.Class{Server: -1}}, // the zero Addr
	} {
		var a netip.Addr
		if tc.addr != "" {
			a = addr(tc.addr)
		}
		if got := inv.Classify(a); got != tc.want {
			t.Errorf("Classify(%s) = %+v, want %+v", tc.addr, got, tc.want)
		}
	}
}

// Without provider prefixes the provider's space is the customer space.
func TestClassifyWithoutProviderPrefixes(t *testing.T) {
	cfg, groups := demo()
	cfg.ProviderPrefixes = nil
	cfg.Servers = cfg.Servers[:3] // cgn-1 is only fine inside the provider's space
	inv, err := New(cfg, groups)
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	for _, tc := range []struct {
		addr string
		want flow.ClassFlag
	}{
		{"203.0.113.7", flow.ClassCustomer | flow.ClassProvider},
		{"203.0.113.140", flow.ClassCustomer | flow.ClassProvider},
		{"203.0.113.144", flow.ClassReserved}, // documentation, nobody's
		{"203.0.113.250", flow.ClassReserved | flow.ClassProtected},
	} {
		if got := inv.Classify(addr(tc.addr)).Flags; got != tc.want {
			t.Errorf("Classify(%s).Flags = %b, want %b", tc.addr, got, tc.want)
		}
	}
}

// An explicit empty reserved list means none; nil means the defaults.
func TestReservedPrefixesNilOrEmpty(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reserved []netip.Prefix
		want     flow.ClassFlag
	}{
		{"nil", nil, flow.ClassReserved},
		{"empty", []netip.Prefix{}, 0},
		{"own", prefixes("224.0.0.0/4"), 0},
	} {
		inv, err := New(Configuration{ReservedPrefixes: tc.reserved}, nil)
		if err != nil {
			t.Fatalf("%s: New(): %v", tc.name, err)
		}
		if got := inv.Classify(addr("10.0.0.1")).Flags; got != tc.want {
			t.Errorf("%s: Classify(10.0.0.1).Flags = %b, want %b", tc.name, got, tc.want)
		}
	}
}

func TestDefaultReservedPrefixesAreValid(t *testing.T) {
	var p problems
	for i, r := range DefaultReservedPrefixes() {
		checkPrefix(&p, reservedPrefixes[i].prefix, r)
	}
	if err := p.err(); err != nil {
		t.Fatal(err)
	}
	if got := DefaultConfiguration().ReservedPrefixes; len(got) != len(reservedPrefixes) {
		t.Fatalf("DefaultConfiguration() has %d reserved prefixes, want %d", len(got), len(reservedPrefixes))
	}
}

func TestLookups(t *testing.T) {
	cfg, groups := demo()
	inv, err := New(cfg, groups)
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	if id, cust := inv.Server(2); id != "big-1" || cust != "c-2" {
		t.Errorf("Server(2) = %q, %q, want big-1, c-2", id, cust)
	}
	for _, idx := range []int32{-1, 4, 1 << 30} {
		if id, cust := inv.Server(idx); id != "" || cust != "" {
			t.Errorf("Server(%d) = %q, %q, want empty", idx, id, cust)
		}
	}
	if got := inv.ServerByMAC(0x525400123456); got != 0 {
		t.Errorf("ServerByMAC(52:54:00:12:34:56) = %d, want 0", got)
	}
	if got := inv.ServerByMAC(0x525400123457); got != -1 {
		t.Errorf("ServerByMAC(unknown) = %d, want -1", got)
	}
	if got := inv.GroupName(3); got != "mail" {
		t.Errorf("GroupName(3) = %q, want mail", got)
	}
	if got := inv.GroupName(4); got != "" {
		t.Errorf("GroupName(4) = %q, want empty", got)
	}
	if g, ok := inv.Group("dns"); !ok || g != 1 {
		t.Errorf("Group(dns) = %d, %v, want 1, true", g, ok)
	}
	if s, ok := inv.ServerByID("dns-1"); !ok || s.ID != "dns-1" {
		t.Errorf("ServerByID(dns-1) = %v, %v", s, ok)
	}
	if _, ok := inv.ServerByID("nope"); ok {
		t.Errorf("ServerByID(nope) found a server")
	}
	if s, ok := inv.LookupServer(addr("2001:db8:c:1::1")); !ok || s.ID != "web-1" {
		t.Errorf("LookupServer(2001:db8:c:1::1) = %v, %v, want web-1", s, ok)
	}
	if s, ok := inv.LookupServer(addr("203.0.113.8")); ok {
		t.Errorf("LookupServer(203.0.113.8) = %v, want none", s)
	}
	if c, ok := inv.Customer("c-2"); !ok || c.Email != "abuse@example.org" {
		t.Errorf("Customer(c-2) = %v, %v", c, ok)
	}
	var ids []string
	for _, s := range inv.ServersOf("c-2") {
		ids = append(ids, s.ID)
	}
	if diff := cmp.Diff(ids, []string{"big-1", "cgn-1"}); diff != "" {
		t.Errorf("ServersOf(c-2) (-got, +want):\n%s", diff)
	}
	if got := inv.ServersOf("nope"); got != nil {
		t.Errorf("ServersOf(nope) = %v, want nil", got)
	}
	if got := len(inv.Servers()); got != 4 {
		t.Errorf("Servers() has %d, want 4", got)
	}
	if got := len(inv.Customers()); got != 2 {
		t.Errorf("Customers() has %d, want 2", got)
	}
	// Without groups there is the default group.
	inv, err = New(Configuration{}, nil)
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	if got := inv.GroupName(0); got != DefaultGroupName {
		t.Errorf("GroupName(0) without groups = %q, want %q", got, DefaultGroupName)
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	cfg, groups := demo()
	inv, err := New(cfg, groups)
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	a4, a6 := addr("203.0.113.7"), addr("2001:db8:c:1::1")
	if n := testing.AllocsPerRun(100, func() { inv.Classify(a4); inv.Classify(a6) }); n != 0 {
		t.Fatalf("Classify() allocates %v times per call", n)
	}
}
