package abuseguard

import (
	"context"
	"net/netip"
	"time"
)

// BlockScope says which traffic a block stops.
type BlockScope string

// Block scopes, as DESIGN.md "Blocking, precisely" defines them.
const (
	// ScopeInbound drops traffic towards the address: the protective
	// blackhole (RTBH, RFC 7999) for a server under attack (M4).
	ScopeInbound BlockScope = "inbound"
	// ScopeBoth drops traffic to and from the address, except to and from
	// the access IP: abuse from the server (M1, M2, M5, M14, manual).
	ScopeBoth BlockScope = "both"
)

// Block is the desired enforced state for one customer address: what the
// enforcers must make true at the edge. The store holds the desired set;
// enforcers converge to it (reconcile, never fire-and-forget).
type Block struct {
	// CaseID is the case the block belongs to; one active block per case.
	CaseID string `json:"case_id"`
	// Address is the blocked host address (announced as /32 or /128).
	Address netip.Addr `json:"address"`
	Scope   BlockScope `json:"scope"`
	Reason  Reason     `json:"reason"`
	// AccessIP is the one address that may still reach the server (M9);
	// only for ScopeBoth, zero when none is set.
	AccessIP netip.Addr `json:"access_ip,omitzero"`
	Since    time.Time  `json:"since"`
	// Until is when the block lifts by itself; zero means until an
	// unblock. Enforcers do not act on it: the lifecycle removes the block.
	Until time.Time `json:"until,omitzero"`
	// Revision changes whenever anything enforced about the block changes
	// (access IP set or cleared), so enforcers can compare cheaply.
	Revision int64 `json:"revision"`
}

// EnforceState is how far an enforcer got with a block.
type EnforceState string

// Enforcement states.
const (
	EnforcePending EnforceState = "pending" // not yet applied (backend down, peer not established)
	EnforceApplied EnforceState = "applied" // in effect at the backend
	EnforceFailed  EnforceState = "failed"  // the backend refused it; Detail says why
)

// BlockStatus is one enforcer's report on one block.
type BlockStatus struct {
	CaseID   string       `json:"case_id"`
	Enforcer string       `json:"enforcer"` // e.g. "bgp", "nftables"
	State    EnforceState `json:"state"`
	// Revision is the Block.Revision the state refers to.
	Revision int64 `json:"revision"`
	// Detail names the method ("flowspec", "rtbh", "nftables set") or the
	// reason of a failure.
	Detail    string    `json:"detail,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// BlockService is what enforcers need from the store of record.
type BlockService interface {
	// ActiveBlocks returns the complete desired set of blocks.
	// Errors: EINTERNAL.
	ActiveBlocks(ctx context.Context) ([]Block, error)

	// SetBlockStatuses records enforcer reports. Reports for blocks that
	// no longer exist are ignored. Errors: EINVALID (unknown state or empty
	// enforcer), EINTERNAL.
	SetBlockStatuses(ctx context.Context, statuses []BlockStatus) error
}
