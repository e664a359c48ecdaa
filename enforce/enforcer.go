// Package enforce makes the edge match the desired set of blocks.
//
// The store of record holds the desired blocks (abuseguard.BlockService);
// each Enforcer (the BGP speaker in enforce/bgp, nftables in enforce/nft)
// owns one backend. The Reconciler hands every enforcer the complete desired
// set at start, after every change (the store's change notification, or
// Trigger), periodically, and when the backend reports that it came back; the enforcer compares it with what the
// backend actually holds and adds and removes the difference. Nothing is
// fire-and-forget: a lost withdrawal is found again on the next pass, and a
// pass that changes nothing is cheap.
package enforce

import (
	"context"

	"abuseguard"
)

// Enforcer converges one backend to a desired set of blocks.
//
// The interface is declarative on purpose: Apply receives the whole desired
// set, never "add this" or "remove that". The enforcer diffs it against the
// backend's actual state (the speaker's RIB, the kernel's sets), so a pass is
// idempotent, a missed event cannot leave a route behind, and drift made by
// someone else is repaired by the same code path that applies changes.
// A granular add/remove interface would need the reconciler to remember what
// it sent, which is exactly the state that goes stale after a crash.
type Enforcer interface {
	// Name identifies the enforcer in statuses, logs and metrics
	// ("bgp", "nftables").
	Name() string

	// Apply makes the backend hold exactly what desired asks for and
	// returns one status per desired block (UpdatedAt is set by the
	// caller). An error means the backend could not be brought to the
	// desired state; Result still carries the statuses as far as known.
	// Apply is called from one goroutine at a time.
	Apply(ctx context.Context, desired []abuseguard.Block) (Result, error)

	// Changed signals, without blocking the sender, that the backend
	// changed by itself (a BGP session came up or went down) so statuses
	// must be recomputed and the backend re-checked. Nil if it never does.
	Changed() <-chan struct{}
}

// Result is what one Apply did.
type Result struct {
	// Statuses holds one status per desired block.
	Statuses []abuseguard.BlockStatus
	// Added and Removed count backend entries (routes, set elements)
	// announced and withdrawn by this pass.
	Added, Removed int
	// Drift counts entries that differed from what this enforcer had
	// last applied: removed or added behind its back, or lost by a backend
	// restart. They are repaired in the same pass.
	Drift int
}
