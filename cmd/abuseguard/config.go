package main

import (
	"errors"
	"fmt"
	"os"

	"abuseguard/inventory"
	"abuseguard/lifecycle"
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

	// Store is the store of record (store.Configuration).
	Store store.Configuration `yaml:"store"`
	// Lifecycle is policy and safety (lifecycle.Configuration).
	Lifecycle lifecycle.Configuration `yaml:"lifecycle"`
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
		Store:     store.DefaultConfiguration(),
		Lifecycle: lifecycle.DefaultConfiguration(),
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
	errs = append(errs, c.Store.Validate(), c.Lifecycle.Validate(), c.Web.Validate(), c.API.Validate())
	groups := c.hostGroupNames()
	for name := range c.Lifecycle.Policy.HostGroups {
		if !groups[name] {
			errs = append(errs, fmt.Errorf("lifecycle.policy.host_groups.%s: no host group of that name in host_groups", name))
		}
	}
	return errors.Join(errs...)
}

// dump renders the effective configuration as YAML.
func (c *Configuration) dump() ([]byte, error) {
	return yaml.Marshal(c)
}
