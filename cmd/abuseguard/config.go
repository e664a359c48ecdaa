package main

import (
	"errors"
	"fmt"
	"os"

	"abuseguard/collector"
	"abuseguard/detect"
	"abuseguard/enforce"
	"abuseguard/enforce/bgp"
	"abuseguard/enforce/nft"
	"abuseguard/inventory"
	"abuseguard/lifecycle"
	"abuseguard/notify"
	"abuseguard/store"
	"abuseguard/web"
	"abuseguard/web/api"

	"go.yaml.in/yaml/v3"
)

// Configuration is the whole configuration file. Each component owns the
// struct of its section, with its defaults and validation; this file only
// composes them. Every field is documented where it is defined.
type Configuration struct {
	// DataDir holds the embedded store, the maildir and other state.
	DataDir string `yaml:"data_dir"`

	// Inventory is the provider's address space, customers and servers
	// (inventory.Configuration; docs/inventory.md).
	Inventory inventory.Configuration `yaml:"inventory"`
	// HostGroups are sets of prefixes sharing thresholds and policy. The
	// group "default" holds every address no other group claims.
	HostGroups []hostGroupConfiguration `yaml:"host_groups"`

	// Collector receives flow exports (sFlow, NetFlow, IPFIX) and mirrored
	// packets (AF_PACKET) for serve (collector.Configuration; docs/collector.md).
	Collector collector.Configuration `yaml:"collector"`
	// Detect is the detection engine: thresholds per host group, state
	// bounds (detect.Configuration; docs/detection.md).
	Detect detect.Configuration `yaml:"detect"`
	// Evidence bounds and localises the logs the customer gets.
	Evidence evidenceConfiguration `yaml:"evidence"`

	// Store is the store of record (store.Configuration).
	Store store.Configuration `yaml:"store"`
	// Lifecycle is policy and safety (lifecycle.Configuration).
	Lifecycle lifecycle.Configuration `yaml:"lifecycle"`
	// Enforce is the reconciler that converges the enforcers to the store's
	// blocks (enforce.Configuration; docs/enforcement.md).
	Enforce enforce.Configuration `yaml:"enforce"`
	// BGP is the embedded BGP speaker: blackhole routes and FlowSpec
	// (bgp.Configuration). Off by default.
	BGP bgp.Configuration `yaml:"bgp"`
	// NFTables is the Linux enforcer (nft.Configuration). Off by default.
	NFTables nft.Configuration `yaml:"nftables"`
	// Notify delivers the outbox: mail and webhooks (notify.Configuration;
	// docs/notifications.md).
	Notify notify.Configuration `yaml:"notify"`
	// Web is the HTTP server (web.Configuration).
	Web web.Configuration `yaml:"web"`
	// API bounds the JSON API's requests (api.Configuration).
	API api.Configuration `yaml:"api"`
}

// defaultConfiguration returns the embedded defaults: a configuration that
// runs as-is with no external services.
func defaultConfiguration() Configuration {
	return Configuration{
		DataDir:   "./abuseguard-data",
		Inventory: inventory.DefaultConfiguration(),
		Collector: collector.DefaultConfiguration(),
		Detect:    detect.DefaultConfiguration(),
		Store:     store.DefaultConfiguration(),
		Lifecycle: lifecycle.DefaultConfiguration(),
		Enforce:   enforce.DefaultConfiguration(),
		BGP:       bgp.DefaultConfiguration(),
		NFTables:  nft.DefaultConfiguration(),
		Notify:    notify.DefaultConfiguration(),
		Web:       web.DefaultConfiguration(),
		API:       api.DefaultConfiguration(),
	}
}

// loadConfiguration reads path (or nothing, when path is "") over the
// defaults, rejects unknown keys, resolves inheritance and validates. The
// inventory is checked by building it (buildInventory), which config check
// does too.
func loadConfiguration(path string) (Configuration, error) {
	cfg := defaultConfiguration()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read configuration: %w", err)
		}
		if err := decodeStrict(data, &cfg); err != nil {
			return cfg, fmt.Errorf("configuration %s: %w", path, err)
		}
	}
	if err := cfg.validate(); err != nil {
		if path == "" {
			path = "(defaults)"
		}
		return cfg, fmt.Errorf("configuration %s: %w", path, err)
	}
	return cfg, nil
}

// validate checks each section and reports every problem, not only the first.
func (c *Configuration) validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	errs = append(errs, c.Collector.Validate(), c.Detect.Validate(), c.Evidence.validate(), c.Store.Validate(), c.Lifecycle.Validate(), c.Notify.Validate(),
		c.Notify.CheckChannels(c.Store.Channels), c.Web.Validate(), c.API.Validate())
	errs = append(errs, c.Enforce.Validate())
	if c.BGP.Enabled {
		errs = append(errs, c.BGP.Validate())
		if c.BGP.NeedsNFTables() && !c.NFTables.Enabled {
			errs = append(errs, errors.New("bgp.both: rtbh-nftables stops outgoing traffic with nftables, but nftables.enabled is false"))
		}
	}
	if c.NFTables.Enabled {
		errs = append(errs, c.NFTables.Validate())
	}
	for i, g := range c.HostGroups {
		if g.Name == inventory.DefaultGroupName {
			errs = append(errs, fmt.Errorf("host_groups[%d]: %q is the group of every address no other group claims; it needs no entry (set its thresholds in detect.defaults and lifecycle.policy.default)", i, g.Name))
		}
	}
	groups := c.hostGroupNames()
	for name := range c.Detect.HostGroups {
		if !groups[name] {
			errs = append(errs, fmt.Errorf("detect.host_groups.%s: no host group of that name in host_groups", name))
		}
	}
	for name := range c.Lifecycle.Policy.HostGroups {
		if !groups[name] {
			errs = append(errs, fmt.Errorf("lifecycle.policy.host_groups.%s: no host group of that name in host_groups", name))
		}
	}
	return errors.Join(errs...)
}

// dump renders the effective configuration as YAML, with secrets (SMTP
// password, link key, webhook secrets) redacted.
func (c *Configuration) dump() ([]byte, error) {
	out := *c
	out.Notify = c.Notify.Redacted()
	return yaml.Marshal(&out)
}
