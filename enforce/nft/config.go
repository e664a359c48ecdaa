package nft

import (
	"errors"
	"fmt"
	"slices"
)

// Configuration is the nftables enforcer's section of the configuration
// file.
type Configuration struct {
	// Enabled turns the enforcer on. Default false.
	Enabled bool `yaml:"enabled"`
	// Table is the name of the enforcer's own table in the inet family.
	// The enforcer creates, replaces and reads this table only; every
	// other table is left alone. Default "abuseguard".
	Table string `yaml:"table"`
	// Hooks are the netfilter hooks to filter at: "forward" (default) for
	// a router or hypervisor that forwards the customers' traffic; add
	// "input" and "output" to also filter traffic of the host itself.
	Hooks []string `yaml:"hooks"`
	// Priority of the enforcer's chains. Default -10, before the usual
	// filter chains at 0. An accept in our chains (the access IP) does not
	// override a drop in other tables: each table decides on its own.
	Priority int32 `yaml:"priority"`
	// NetNS is the path of a network namespace to enforce in, e.g.
	// /run/netns/edge, when the forwarding happens in a namespace other
	// than abuseguard's. Default empty: abuseguard's own namespace.
	NetNS string `yaml:"netns"`
}

var hooks = []string{"forward", "input", "output"}

// DefaultConfiguration returns the defaults documented on each field.
func DefaultConfiguration() Configuration {
	return Configuration{
		Table:    "abuseguard",
		Hooks:    []string{"forward"},
		Priority: -10,
	}
}

// Validate reports every problem in c. A disabled configuration is not
// checked further.
func (c *Configuration) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if c.Table == "" || len(c.Table) > 255 {
		errs = append(errs, errors.New("table: must be 1 to 255 characters"))
	}
	if len(c.Hooks) == 0 {
		errs = append(errs, errors.New("hooks: at least one of forward, input, output"))
	}
	for i, h := range c.Hooks {
		if !slices.Contains(hooks, h) {
			errs = append(errs, fmt.Errorf("hooks[%d]: %q is not forward, input or output", i, h))
		} else if slices.Index(c.Hooks, h) != i {
			errs = append(errs, fmt.Errorf("hooks[%d]: %q is listed twice", i, h))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("nftables: %w", errors.Join(errs...))
	}
	return nil
}
