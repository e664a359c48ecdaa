package abuseguard

import (
	"context"
	"time"
)

// Token is an API bearer token as the store keeps it: only a hash of the
// secret is stored, the secret itself is shown once when the token is made.
type Token struct {
	ID         string    `json:"id"`
	Role       Role      `json:"role"`
	CustomerID string    `json:"customer_id,omitempty"` // set for RoleCustomer
	Name       string    `json:"name,omitempty"`        // for the audit trail
	CreatedAt  time.Time `json:"created_at"`
}

// TokenService makes and checks API tokens.
type TokenService interface {
	// CreateToken stores a new token for t's role, customer and name, and
	// returns it with its ID and CreatedAt set, and the secret, which is
	// not kept. Errors: EINVALID (unknown role, customer token without
	// customer, operator token with one).
	CreateToken(ctx context.Context, t Token) (*Token, string, error)
	// Authenticate returns the actor a secret stands for. Errors:
	// EUNAUTHORIZED (unknown or revoked).
	Authenticate(ctx context.Context, secret string) (Actor, error)
	// RevokeToken makes a token unusable. Errors: ENOTFOUND.
	RevokeToken(ctx context.Context, id string) error
}
