// Package inventory knows the provider's address space: which addresses
// are customer space, which server an address is assigned to, which host
// group's thresholds apply, and which addresses are protected or reserved.
// Every flow record is classified here, so Classify is one longest-prefix
// lookup without allocation.
//
// # Semantics
//
// For an address a, Classify returns a flow.Class with:
//
//   - Customer: a is inside a server's prefixes or inside CustomerPrefixes.
//   - Provider: a is inside ProviderPrefixes. Customer space must lie inside
//     the provider's space; New reports customer space outside it as an
//     error. When ProviderPrefixes is empty, the provider's space is the
//     customer space.
//   - Protected: a is inside ProtectedPrefixes (routers, resolvers,
//     infrastructure): such addresses are never blocked.
//   - Reserved: a is inside ReservedPrefixes and not inside the provider's
//     or the customers' space. A provider that numbers its customers from a
//     documentation range (our demos do) does not see them as reserved.
//   - Server: the index of the server with the longest prefix containing a,
//     or -1. Two servers never share an address (New rejects it).
//   - Group: the server's HostGroup when it names one; else the host group
//     with the longest prefix containing a; else 0, the default group.
//
// # Sources
//
// Customers and servers come from the YAML configuration and, in addition,
// from Configuration.File, an export from the provider's database in CSV or
// JSON (told apart by the extension .csv or .json):
//
//	server_id,customer_id,customer_name,customer_email,language,addresses,macs,host_group,server_name
//	srv-1,c-1,Example GmbH,noc@example.com,de,203.0.113.7 2001:db8:1::/64,52:54:00:12:34:56,,web-1
//	srv-2,c-1,,,,203.0.113.8/32,,dns,
//
// The header names the columns, in any order; server_id, customer_id and
// addresses are required, the others optional. One row per server:
// addresses and macs are lists separated by spaces, an address without a
// length is a /32 or /128. A customer's name, e-mail and language need to
// be given once (the first row that has them defines the customer; later
// rows must agree or leave them empty); a customer defined in the YAML
// configuration is referenced by id alone. In JSON:
//
//	{"customers": [{"id": "c-1", "name": "Example GmbH", "email": "noc@example.com", "language": "de"}],
//	 "servers": [{"id": "srv-1", "customer_id": "c-1", "prefixes": ["203.0.113.7/32"],
//	              "macs": ["52:54:00:12:34:56"], "host_group": "web", "name": "web-1"}]}
//
// Errors name the file, line and column ("servers.csv:12:31: server
// "srv-9": ..."), or the entry and field of the YAML configuration
// ("servers[3].macs: server "srv-9": ...").
//
// # Validation
//
// New reports every problem it finds, not only the first (up to 50):
// duplicate ids, a server referencing an unknown customer or host group,
// two servers claiming the same address, a prefix with host bits set (with
// the masked form to use instead), an IPv4-mapped IPv6 prefix, customer
// space outside the provider's space, an e-mail address that does not
// parse, a language other than de or en, a MAC that is not a 48-bit
// Ethernet address, one MAC on two servers.
//
// An Inventory is immutable and safe for concurrent use. To reload, build a
// new one with New and swap the pointer (atomic.Pointer): readers that hold
// the old one finish with it.
package inventory

import (
	"net/netip"
	"slices"

	"abuseguard"
	"abuseguard/flow"

	"github.com/gaissmai/bart"
)

// Configuration is the inventory section of the configuration file.
type Configuration struct {
	// ProviderPrefixes are the provider's own address space, all of it.
	// Empty: the provider's space is the customer space.
	ProviderPrefixes []netip.Prefix `yaml:"provider_prefixes"`
	// CustomerPrefixes are customer space beyond the servers listed: all of
	// it is classified as customer space, so that detections are made for
	// its addresses even without a server in the inventory (quick looks,
	// `replay --prefix`).
	CustomerPrefixes []netip.Prefix `yaml:"customer_prefixes"`
	// ProtectedPrefixes are never blocked: routers, resolvers, the
	// provider's infrastructure.
	ProtectedPrefixes []netip.Prefix `yaml:"protected_prefixes"`
	// ReservedPrefixes are the private and special-purpose blocks whose
	// traffic must not leave onto the uplink. Nil (the key absent): the
	// defaults, DefaultReservedPrefixes. An empty list: none.
	ReservedPrefixes []netip.Prefix `yaml:"reserved_prefixes"`
	// Customers and Servers are the inventory in the configuration itself.
	Customers []abuseguard.Customer `yaml:"customers"`
	Servers   []abuseguard.Server   `yaml:"servers"`
	// File is a CSV or JSON export of customers and servers from the
	// provider's database, loaded in addition to the lists above (see the
	// package documentation for its columns). Empty: none.
	File string `yaml:"file"`
}

// DefaultConfiguration returns the defaults: no prefixes of the provider's
// own, no customers, the default reserved prefixes.
func DefaultConfiguration() Configuration {
	return Configuration{ReservedPrefixes: DefaultReservedPrefixes()}
}

// HostGroup is a set of prefixes sharing detection thresholds and policy.
// Groups are given to New in order; group 0 is the default group, for
// addresses in no other group's prefixes.
type HostGroup struct {
	Name     string         `yaml:"name"`
	Prefixes []netip.Prefix `yaml:"prefixes"`
}

// DefaultGroupName names group 0 when New is given no groups, or a first
// group without a name.
const DefaultGroupName = "default"

// Inventory maps addresses to what the provider knows of them. It is
// immutable and safe for concurrent use.
type Inventory struct {
	// classes holds, for every prefix of every kind, the Class of the
	// addresses whose longest match it is (see build.go). bart.Fast
	// trades memory for lookup speed: for 100 000 servers (200 000
	// prefixes) it takes 7.4 MB of heap against bart.Table's 6.2 MB.
	classes *bart.Fast[flow.Class]

	servers    []abuseguard.Server
	serverByID map[string]int32
	byMAC      map[uint64]int32

	customers    []abuseguard.Customer
	customerByID map[string]int
	// serversOf lists, per customer index, the indexes of their servers.
	serversOf [][]int32

	groupNames []string
	groupByID  map[string]uint16
}

// noClass is the Class of an address in no prefix of the inventory.
var noClass = flow.Class{Server: -1}

// Classify returns what the inventory knows of addr (see the package
// documentation). It does not allocate and is safe for concurrent use.
func (inv *Inventory) Classify(addr netip.Addr) flow.Class {
	// The table holds no IPv4-mapped prefixes (New rejects them), so a
	// mapped address would match nothing: Unmap costs a comparison.
	if c, ok := inv.classes.Lookup(addr.Unmap()); ok {
		return c
	}
	return noClass
}

// Server returns the ids of the server with index idx (flow.Class.Server)
// and of its customer, or empty strings for an index the inventory does
// not have (-1 included).
func (inv *Inventory) Server(idx int32) (serverID, customerID string) {
	if idx < 0 || int(idx) >= len(inv.servers) {
		return "", ""
	}
	s := &inv.servers[idx]
	return s.ID, s.CustomerID
}

// ServerByMAC returns the index of the server with the Ethernet address mac
// (packed into the low 48 bits, as flow.Record.SrcMAC), or -1.
func (inv *Inventory) ServerByMAC(mac uint64) int32 {
	if idx, ok := inv.byMAC[mac]; ok {
		return idx
	}
	return -1
}

// GroupName returns the name of host group g (flow.Class.Group), or "" for
// a group the inventory does not have.
func (inv *Inventory) GroupName(g uint16) string {
	if int(g) >= len(inv.groupNames) {
		return ""
	}
	return inv.groupNames[g]
}

// GroupNames returns the names of the host groups by index: element i is
// the name of group i, the default group first.
func (inv *Inventory) GroupNames() []string { return slices.Clone(inv.groupNames) }

// Group returns the index of the host group with the given name.
func (inv *Inventory) Group(name string) (uint16, bool) {
	g, ok := inv.groupByID[name]
	return g, ok
}

// ServerByID returns the server with the given id. The server is the
// inventory's own: the caller must not modify it.
func (inv *Inventory) ServerByID(id string) (*abuseguard.Server, bool) {
	idx, ok := inv.serverByID[id]
	if !ok {
		return nil, false
	}
	return &inv.servers[idx], true
}

// LookupServer returns the server addr is assigned to. The server is the
// inventory's own: the caller must not modify it.
func (inv *Inventory) LookupServer(addr netip.Addr) (*abuseguard.Server, bool) {
	idx := inv.Classify(addr).Server
	if idx < 0 {
		return nil, false
	}
	return &inv.servers[idx], true
}

// Customer returns the customer with the given id.
func (inv *Inventory) Customer(id string) (abuseguard.Customer, bool) {
	i, ok := inv.customerByID[id]
	if !ok {
		return abuseguard.Customer{}, false
	}
	return inv.customers[i], true
}

// ServersOf returns the servers of a customer, in inventory order; nil for
// an unknown customer or one without servers. The slice is new; the
// servers' Prefixes and MACs are shared and must not be modified.
func (inv *Inventory) ServersOf(customerID string) []abuseguard.Server {
	i, ok := inv.customerByID[customerID]
	if !ok || len(inv.serversOf[i]) == 0 {
		return nil
	}
	out := make([]abuseguard.Server, len(inv.serversOf[i]))
	for j, idx := range inv.serversOf[i] {
		out[j] = inv.servers[idx]
	}
	return out
}

// Servers returns all servers in inventory order (index i is
// flow.Class.Server i): those of the configuration, then those of the
// file. The slice is new; the servers' Prefixes and MACs are shared and must
// not be modified.
func (inv *Inventory) Servers() []abuseguard.Server {
	return slices.Clone(inv.servers)
}

// Customers returns all customers: those of the configuration, then those
// of the file, in order. The slice is new.
func (inv *Inventory) Customers() []abuseguard.Customer {
	return slices.Clone(inv.customers)
}
