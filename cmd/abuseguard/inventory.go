package main

import (
	"fmt"

	"abuseguard"
	"net/netip"
	"path/filepath"

	"abuseguard/inventory"
	"abuseguard/lifecycle"
	"abuseguard/notify"
)

// hostGroupConfiguration is one host group's membership. What differs per
// group (thresholds, policy) lives in the detect and lifecycle sections,
// keyed by the group's name, so each component owns its own settings.
type hostGroupConfiguration struct {
	// Name identifies the group; servers name it in host_group, and the
	// detect and lifecycle sections override per name.
	Name string `yaml:"name"`
	// Prefixes put every address inside them in the group, unless the
	// address's server names another group.
	Prefixes []netip.Prefix `yaml:"prefixes"`
}

// buildInventory makes the inventory from the configuration. A relative
// inventory.file is resolved against the directory of the configuration
// file, so a configuration and its export can move together.
func buildInventory(cfg Configuration, configFile string) (*inventory.Inventory, error) {
	icfg := cfg.Inventory
	if icfg.File != "" && !filepath.IsAbs(icfg.File) && configFile != "" {
		icfg.File = filepath.Join(filepath.Dir(configFile), icfg.File)
	}
	// Group 0 is the default group: every address no other group claims.
	groups := make([]inventory.HostGroup, 0, len(cfg.HostGroups)+1)
	groups = append(groups, inventory.HostGroup{Name: inventory.DefaultGroupName})
	for _, g := range cfg.HostGroups {
		groups = append(groups, inventory.HostGroup{Name: g.Name, Prefixes: g.Prefixes})
	}
	inv, err := inventory.New(icfg, groups)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return inv, nil
}

// hostGroupNames returns the names of the configured host groups, the
// default group included, for checking the per-group overrides.
func (c *Configuration) hostGroupNames() map[string]bool {
	names := map[string]bool{inventory.DefaultGroupName: true}
	for _, g := range c.HostGroups {
		names[g.Name] = true
	}
	return names
}

// lifecycleInventory adapts the inventory to what the lifecycle asks.
type lifecycleInventory struct{ inv *inventory.Inventory }

var _ lifecycle.Inventory = lifecycleInventory{}

// Locate implements lifecycle.Inventory.
func (l lifecycleInventory) Locate(addr netip.Addr) (lifecycle.Location, bool) {
	c := l.inv.Classify(addr)
	if !c.Customer() {
		return lifecycle.Location{}, false
	}
	serverID, customerID := l.inv.Server(c.Server)
	return lifecycle.Location{ServerID: serverID, CustomerID: customerID, HostGroup: l.inv.GroupName(c.Group)}, true
}

// Protected implements lifecycle.Inventory.
func (l lifecycleInventory) Protected(addr netip.Addr) bool { return l.inv.Classify(addr).Protected() }

// ProviderSpace implements lifecycle.Inventory.
func (l lifecycleInventory) ProviderSpace(addr netip.Addr) bool {
	return l.inv.Classify(addr).Provider()
}

// notifyInventory adapts the inventory to what the notifier asks.
type notifyInventory struct{ inv *inventory.Inventory }

var _ notify.Inventory = notifyInventory{}

// Customer implements notify.Inventory.
func (n notifyInventory) Customer(id string) (abuseguard.Customer, bool) { return n.inv.Customer(id) }

// Server implements notify.Inventory.
func (n notifyInventory) Server(id string) (abuseguard.Server, bool) {
	s, ok := n.inv.ServerByID(id)
	if !ok {
		return abuseguard.Server{}, false
	}
	return *s, true
}
