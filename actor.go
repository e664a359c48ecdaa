package abuseguard

import "context"

// Role is what a caller may do.
type Role string

// Roles.
const (
	// RoleOperator is the abuse desk / NOC: everything.
	RoleOperator Role = "operator"
	// RoleCustomer is a customer: only its own servers and cases.
	RoleCustomer Role = "customer"
	// RoleSystem is abuseguard itself (detections, timers).
	RoleSystem Role = "system"
)

// Actor is who is calling: from an API token, a tokenised link, or the
// system itself.
type Actor struct {
	Role Role
	// CustomerID is set for RoleCustomer.
	CustomerID string
	// Name identifies the person or token for the audit trail.
	Name string
	// CaseID, when set, limits the actor to one case: a tokenised link in a
	// mail acts on its case only.
	CaseID string
}

// String returns the actor as the audit trail records it, e.g.
// "operator:alice", "customer:C100", "system".
func (a Actor) String() string {
	switch a.Role {
	case RoleSystem, "":
		return "system"
	case RoleCustomer:
		if a.Name != "" && a.Name != a.CustomerID {
			return "customer:" + a.CustomerID + ":" + a.Name
		}
		return "customer:" + a.CustomerID
	}
	return string(a.Role) + ":" + a.Name
}

type actorKey struct{}

// NewContextWithActor returns a context carrying a.
func NewContextWithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the actor in ctx; the zero Actor (no role) when
// there is none, which may do nothing that needs a role.
func ActorFromContext(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}
