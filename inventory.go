package abuseguard

import "net/netip"

// Language is a customer's language for mails and pages.
type Language string

// Languages abuseguard writes.
const (
	LanguageGerman  Language = "de"
	LanguageEnglish Language = "en"
)

// Customer is a customer of the hosting provider: the owner of servers and
// the one who is told when one is blocked.
type Customer struct {
	ID       string   `json:"id" yaml:"id"`
	Name     string   `json:"name" yaml:"name"`
	Email    string   `json:"email" yaml:"email"`
	Language Language `json:"language" yaml:"language"`
}

// Server is one customer server and the addresses assigned to it.
type Server struct {
	ID         string `json:"id" yaml:"id"`
	CustomerID string `json:"customer_id" yaml:"customer"`
	Name       string `json:"name,omitempty" yaml:"name,omitempty"`
	// Prefixes are the addresses and prefixes assigned to the server, IPv4
	// and IPv6; a single address is a /32 or /128.
	Prefixes []netip.Prefix `json:"prefixes" yaml:"prefixes"`
	// MACs are the server's Ethernet addresses, where the provider knows
	// them: traffic from unassigned source addresses is attributed to the
	// server by its source MAC (M5).
	MACs []string `json:"macs,omitempty" yaml:"macs,omitempty"`
	// HostGroup places the server in a host group by name, overriding the
	// group its prefixes fall in.
	HostGroup string `json:"host_group,omitempty" yaml:"host_group,omitempty"`
}
