package inventory

import (
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"slices"
	"strings"

	"abuseguard"
	"abuseguard/flow"

	"github.com/gaissmai/bart"
)

// How one lookup answers every question.
//
// There is a table per attribute: servers (prefix → server index), host
// groups (prefix → group), and the sets customer space, provider space,
// protected and reserved. Let P be the union of their prefixes. The
// combined table holds every p in P with the Class computed from the
// attribute tables' longest matches for p itself.
//
// Claim: for any address a, if p is the longest prefix in P containing a,
// each attribute table's longest match for a is its longest match for p,
// so the Class stored at p is the Class of a. Proof: the prefixes
// containing a form a chain, each inside the next shorter one. An
// attribute table's prefixes are a subset of P, so its longest match q for
// a is no longer than p; being on the same chain, q contains p. Conversely
// every prefix containing p contains a. So the prefixes of the attribute
// table that contain a are exactly those that contain p, and their longest
// is the same. If no prefix of P contains a, no attribute table matches a:
// the Class is noClass. The flags are set memberships (a match exists) and
// Group and Server are longest matches, so all are functions of p. ∎
//
// bart's LookupPrefix(p) returns the longest stored prefix containing p.
// TestClassifyMatchesAttributeTables checks the claim on random addresses.

// New validates the configuration and the host groups, loads cfg.File and
// builds the inventory. It reports every problem found (up to 50), each
// naming the entry and, for the file, line and column.
func New(cfg Configuration, groups []HostGroup) (*Inventory, error) {
	var p problems
	b := builder{p: &p}

	customers := make([]customerEntry, len(cfg.Customers))
	for i, c := range cfg.Customers {
		customers[i] = customerEntry{c, origin{list: "customers", index: i}}
	}
	servers := make([]serverEntry, len(cfg.Servers))
	for i, s := range cfg.Servers {
		servers[i] = serverEntry{s, origin{list: "servers", index: i}}
	}
	if cfg.File != "" {
		fc, fs, err := loadFile(cfg.File, &p)
		if err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
		customers = append(customers, fc...)
		if len(servers) == 0 {
			servers = fs // no copy of 100 000 entries
		} else {
			servers = append(servers, fs...)
		}
	}

	reserved := cfg.ReservedPrefixes
	if reserved == nil {
		reserved = DefaultReservedPrefixes()
	}
	b.provider = b.prefixSet("provider_prefixes", cfg.ProviderPrefixes)
	b.protected = b.prefixSet("protected_prefixes", cfg.ProtectedPrefixes)
	b.reserved = b.prefixSet("reserved_prefixes", reserved)
	// Customer space is the server prefixes and these; combine looks
	// at both.
	b.customerSpace = b.prefixSet("customer_prefixes", cfg.CustomerPrefixes)
	inv := &Inventory{}
	b.addGroups(inv, groups)
	b.addCustomers(inv, customers)
	b.addServers(inv, servers)
	b.providerIsCustomer = len(cfg.ProviderPrefixes) == 0
	if !b.providerIsCustomer {
		b.checkInsideProvider(cfg.CustomerPrefixes, servers)
	}
	if err := p.err(); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	inv.classes = b.combine()
	return inv, nil
}

// customerEntry and serverEntry are entries with where they came from.
type customerEntry struct {
	abuseguard.Customer
	origin
}

type serverEntry struct {
	abuseguard.Server
	origin
}

// builder holds the attribute tables while New builds the combined one.
type builder struct {
	p *problems

	provider, protected, reserved, customerSpace *bart.Lite
	// providerIsCustomer is set when the configuration has no provider
	// prefixes: the provider's space is the customer space.
	providerIsCustomer bool
	servers            bart.Table[int32]
	groups             bart.Table[uint16]
	// serverGroup is the group a server names, -1 for none.
	serverGroup []int32
	// all is the union of every table's prefixes, with repeats (a
	// repeat is inserted twice with the same Class; a slice is 2.5 times
	// faster to build than a set for 200 000 prefixes).
	all []netip.Prefix
}

// checkPrefix reports a prefix that is invalid, IPv4-mapped or has host
// bits set, with the form to use instead, and reports whether it is fine.
func checkPrefix(p *problems, where string, pfx netip.Prefix) bool {
	switch {
	case !pfx.IsValid():
		p.add("%s: invalid prefix", where)
	case pfx.Addr().Is4In6():
		if pfx.Bits() >= 96 {
			p.add("%s: prefix %s is IPv4-mapped IPv6, use %s", where, pfx,
				netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96).Masked())
		} else {
			p.add("%s: prefix %s is IPv4-mapped IPv6", where, pfx)
		}
	case pfx != pfx.Masked():
		p.add("%s: prefix %s has host bits set, use %s (or %s for the single address)", where, pfx,
			pfx.Masked(), netip.PrefixFrom(pfx.Addr(), pfx.Addr().BitLen()))
	default:
		return true
	}
	return false
}

func (b *builder) remember(pfx netip.Prefix) { b.all = append(b.all, pfx) }

// prefixSet checks and collects one of the configuration's prefix lists.
func (b *builder) prefixSet(key string, list []netip.Prefix) *bart.Lite {
	set := new(bart.Lite)
	for i, pfx := range list {
		if checkPrefix(b.p, fmt.Sprintf("%s[%d]", key, i), pfx) {
			set.Insert(pfx)
			b.remember(pfx)
		} else if pfx.IsValid() && !pfx.Addr().Is4In6() {
			// Reported already; the masked form keeps a provider
			// prefix with host bits from making all customer space
			// "outside provider_prefixes" as well.
			set.Insert(pfx.Masked())
		}
	}
	return set
}

// addGroups names the host groups and collects their prefixes. A prefix may
// be in one group only; nested prefixes of different groups are fine, the
// longest wins.
func (b *builder) addGroups(inv *Inventory, groups []HostGroup) {
	if len(groups) == 0 {
		groups = []HostGroup{{Name: DefaultGroupName}}
	}
	if len(groups) > 1<<16 {
		b.p.add("host groups: %d groups, at most %d", len(groups), 1<<16)
		return
	}
	inv.groupNames = make([]string, len(groups))
	inv.groupByID = make(map[string]uint16, len(groups))
	for i, g := range groups {
		name := g.Name
		if i == 0 && name == "" {
			name = DefaultGroupName
		}
		switch _, dup := inv.groupByID[name]; {
		case name == "":
			b.p.add("host group %d: no name", i)
		case dup:
			b.p.add("host group %q: defined twice", name)
		}
		inv.groupNames[i] = name
		inv.groupByID[name] = uint16(i)
		for j, pfx := range g.Prefixes {
			where := fmt.Sprintf("host group %q prefixes[%d]", name, j)
			if !checkPrefix(b.p, where, pfx) {
				continue
			}
			if other, ok := b.groups.Get(pfx); ok && int(other) != i {
				b.p.add("%s: %s is in host group %q already", where, pfx, groups[other].Name)
				continue
			}
			b.groups.Insert(pfx, uint16(i))
			b.remember(pfx)
		}
	}
}

// addCustomers checks the customers and indexes them.
func (b *builder) addCustomers(inv *Inventory, customers []customerEntry) {
	inv.customers = make([]abuseguard.Customer, 0, len(customers))
	inv.customerByID = make(map[string]int, len(customers))
	for i := range customers {
		c := &customers[i]
		if c.ID == "" {
			b.p.add("%s: customer without id", c.at(fieldID))
			continue
		}
		if j, dup := inv.customerByID[c.ID]; dup {
			b.p.add("%s: customer %q: defined twice, first at %s", c.at(fieldID), c.ID, customers[j].at(fieldID))
			continue
		}
		if err := checkEmail(c.Email); err != nil {
			b.p.add("%s: customer %q: %v", c.at(fieldEmail), c.ID, err)
		}
		if c.Language != abuseguard.LanguageGerman && c.Language != abuseguard.LanguageEnglish {
			b.p.add("%s: customer %q: language %q, want de or en", c.at(fieldLanguage), c.ID, c.Language)
		}
		// customers is compacted in place as entries are skipped, so
		// that customers[j] stays the entry of inv.customers[j] for the
		// "first at" above.
		inv.customerByID[c.ID] = len(inv.customers)
		customers[len(inv.customers)] = *c
		inv.customers = append(inv.customers, c.Customer)
	}
	inv.serversOf = make([][]int32, len(inv.customers))
}

// checkEmail accepts a bare address ("noc@example.com") as net/mail parses
// it, not a name with an address.
func checkEmail(email string) error {
	if email == "" {
		return fmt.Errorf("no e-mail address")
	}
	a, err := mail.ParseAddress(email)
	if err != nil {
		return fmt.Errorf("e-mail %q: %v", email, strings.TrimPrefix(err.Error(), "mail: "))
	}
	if a.Name != "" || a.Address != email {
		return fmt.Errorf("e-mail %q: give the address alone (%s)", email, a.Address)
	}
	return nil
}

// addServers checks the servers, their prefixes and MACs, and indexes them.
func (b *builder) addServers(inv *Inventory, servers []serverEntry) {
	inv.servers = make([]abuseguard.Server, 0, len(servers))
	inv.serverByID = make(map[string]int32, len(servers))
	inv.byMAC = make(map[uint64]int32)
	b.serverGroup = make([]int32, 0, len(servers))
	n := 0
	for i := range servers {
		n += len(servers[i].Prefixes)
	}
	b.all = slices.Grow(b.all, n)
	first := make([]int, 0, len(servers)) // entry index per server index
	for i := range servers {
		s := &servers[i]
		if s.ID == "" {
			b.p.add("%s: server without id", s.at(fieldID))
			continue
		}
		if j, dup := inv.serverByID[s.ID]; dup {
			b.p.add("%s: server %q: defined twice, first at %s", s.at(fieldID), s.ID, servers[first[j]].at(fieldID))
			continue
		}
		if len(inv.servers) >= 1<<31-1 {
			b.p.add("%s: too many servers", s.at(fieldID))
			return
		}
		idx := int32(len(inv.servers))
		inv.serverByID[s.ID] = idx
		inv.servers = append(inv.servers, s.Server)
		first = append(first, i)

		if ci, ok := inv.customerByID[s.CustomerID]; ok {
			inv.serversOf[ci] = append(inv.serversOf[ci], idx)
		} else {
			b.p.add("%s: server %q: unknown customer %q", s.at(fieldCustomer), s.ID, s.CustomerID)
		}
		group := int32(-1)
		if s.HostGroup != "" {
			if g, ok := inv.groupByID[s.HostGroup]; ok {
				group = int32(g)
			} else {
				b.p.add("%s: server %q: unknown host group %q", s.at(fieldHostGroup), s.ID, s.HostGroup)
			}
		}
		b.serverGroup = append(b.serverGroup, group)

		if len(s.Prefixes) == 0 {
			b.p.add("%s: server %q: no addresses", s.at(fieldPrefixes), s.ID)
		}
		for _, pfx := range s.Prefixes {
			// Format where only for a prefix that needs it: for
			// 100 000 servers that took a fifth of the load.
			fine := pfx.IsValid() && pfx == pfx.Masked() && !pfx.Addr().Is4In6()
			if !fine && !checkPrefix(b.p, fmt.Sprintf("%s: server %q", s.at(fieldPrefixes), s.ID), pfx) {
				continue
			}
			if other, otherPfx, ok := b.serverOverlapping(pfx); ok && other != idx {
				b.p.add("%s: server %q: %s overlaps %s of server %q: two servers claim the same addresses",
					s.at(fieldPrefixes), s.ID, pfx, otherPfx, inv.servers[other].ID)
				continue
			}
			b.servers.Insert(pfx, idx)
			b.remember(pfx)
		}
		for _, m := range s.MACs {
			mac, err := parseMAC(m)
			if err != nil {
				b.p.add("%s: server %q: %v", s.at(fieldMACs), s.ID, err)
				continue
			}
			if other, dup := inv.byMAC[mac]; dup && other != idx {
				b.p.add("%s: server %q: MAC %s is server %q's already", s.at(fieldMACs), s.ID, m, inv.servers[other].ID)
				continue
			}
			inv.byMAC[mac] = idx
		}
	}
}

// serverOverlapping returns a server prefix sharing addresses with pfx:
// one containing it, or else one inside it.
func (b *builder) serverOverlapping(pfx netip.Prefix) (int32, netip.Prefix, bool) {
	if !b.servers.OverlapsPrefix(pfx) {
		return 0, netip.Prefix{}, false
	}
	if q, idx, ok := b.servers.LookupPrefixLPM(pfx); ok {
		return idx, q, true
	}
	for q, idx := range b.servers.Subnets(pfx) {
		return idx, q, true
	}
	return 0, netip.Prefix{}, false
}

// parseMAC parses a 48-bit Ethernet address and packs it as
// flow.Record.SrcMAC does: the first octet in bits 47–40.
func parseMAC(s string) (uint64, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return 0, fmt.Errorf("MAC %q is not a 48-bit Ethernet address like 52:54:00:12:34:56", s)
	}
	var v uint64
	for _, o := range hw {
		v = v<<8 | uint64(o)
	}
	return v, nil
}

// checkInsideProvider reports customer space outside the provider's space.
func (b *builder) checkInsideProvider(customerPrefixes []netip.Prefix, servers []serverEntry) {
	for i, pfx := range customerPrefixes {
		if pfx.IsValid() && pfx == pfx.Masked() && !b.provider.LookupPrefix(pfx) {
			b.p.add("customer_prefixes[%d]: %s is outside provider_prefixes", i, pfx)
		}
	}
	for i := range servers {
		s := &servers[i]
		for _, pfx := range s.Prefixes {
			if pfx.IsValid() && pfx == pfx.Masked() && !b.provider.LookupPrefix(pfx) {
				b.p.add("%s: server %q: %s is outside provider_prefixes", s.at(fieldPrefixes), s.ID, pfx)
			}
		}
	}
}

// combine builds the combined table (see the comment at the top).
func (b *builder) combine() *bart.Fast[flow.Class] {
	t := new(bart.Fast[flow.Class])
	for _, pfx := range b.all {
		c := flow.Class{Server: -1}
		if idx, ok := b.servers.LookupPrefix(pfx); ok {
			c.Server = idx
		}
		customer := c.Server >= 0 || b.customerSpace.LookupPrefix(pfx)
		provider := customer
		if !b.providerIsCustomer {
			provider = b.provider.LookupPrefix(pfx)
		}
		if customer {
			c.Flags |= flow.ClassCustomer
		}
		if provider {
			c.Flags |= flow.ClassProvider
		}
		if b.protected.LookupPrefix(pfx) {
			c.Flags |= flow.ClassProtected
		}
		if !customer && !provider && b.reserved.LookupPrefix(pfx) {
			c.Flags |= flow.ClassReserved
		}
		if c.Server >= 0 && b.serverGroup[c.Server] >= 0 {
			c.Group = uint16(b.serverGroup[c.Server])
		} else if g, ok := b.groups.LookupPrefix(pfx); ok {
			c.Group = g
		}
		t.Insert(pfx, c)
	}
	return t
}
