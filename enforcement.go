package abuseguard

import (
	"context"
	"net/netip"
	"time"
)

// EnforcerStatus is one enforcer's state for the operator view: how its
// last pass went and what it did since the start. Per-block results are
// BlockStatus entries in the store.
type EnforcerStatus struct {
	Name string `json:"name"` // "bgp", "nftables"
	// LastPass and LastSuccess are when the latest pass and the latest
	// successful one ended; LastError is the latest pass's error.
	LastPass    time.Time `json:"last_pass,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Blocks is the size of the desired set at the last pass, split by
	// state in Applied, Pending and Failed.
	Blocks  int `json:"blocks"`
	Applied int `json:"applied"`
	Pending int `json:"pending"`
	Failed  int `json:"failed"`
	// Counters since the start.
	Passes  uint64 `json:"passes"`
	Added   uint64 `json:"added"`
	Removed uint64 `json:"removed"`
	Drift   uint64 `json:"drift"`
}

// Neighbor is one BGP neighbor of the embedded speaker.
type Neighbor struct {
	Address     netip.Addr `json:"address"`
	AS          uint32     `json:"as"`
	Description string     `json:"description,omitempty"`
	// State is the BGP session state: idle, connect, active, opensent,
	// openconfirm or established.
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	// Families are those negotiated while established: ipv4-unicast,
	// ipv6-unicast, ipv4-flowspec, ipv6-flowspec.
	Families []string `json:"families,omitempty"`
	// Advertised counts the routes sent to the router, while established.
	Advertised uint64 `json:"advertised"`
	// UpdatesSent and UpdatesReceived count UPDATE messages; Flaps counts
	// sessions lost since the speaker started.
	UpdatesSent     uint64 `json:"updates_sent"`
	UpdatesReceived uint64 `json:"updates_received"`
	Flaps           uint32 `json:"flaps"`
	// LastError says why the session last went down.
	LastError string `json:"last_error,omitempty"`
}

// Enforcement is the operator's view of enforcement.
type Enforcement struct {
	Enforcers []EnforcerStatus `json:"enforcers"`
	Neighbors []Neighbor       `json:"neighbors"`
}

// EnforcementService reports how enforcement stands. Callers check the role:
// it is the operator's view.
type EnforcementService interface {
	// Enforcement returns every enforcer's state and the BGP neighbors.
	// Errors: EINTERNAL.
	Enforcement(ctx context.Context) (*Enforcement, error)
}
