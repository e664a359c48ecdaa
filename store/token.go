package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"abuseguard"
)

// tokenPrefix marks abuseguard secrets so that secret scanners and people
// recognise a leaked one.
const tokenPrefix = "agt_"

// hashSecret is SHA-256: the secrets carry 256 random bits, so a slow
// password hash would add latency to every API call and no security.
func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CreateToken implements abuseguard.TokenService.
func (s *Store) CreateToken(ctx context.Context, t abuseguard.Token) (*abuseguard.Token, string, error) {
	switch {
	case t.Role == abuseguard.RoleOperator && t.CustomerID != "":
		return nil, "", abuseguard.Errorf(abuseguard.EINVALID, "An operator token belongs to no customer.")
	case t.Role == abuseguard.RoleCustomer && t.CustomerID == "":
		return nil, "", abuseguard.Errorf(abuseguard.EINVALID, "A customer token needs the customer's id.")
	case t.Role != abuseguard.RoleOperator && t.Role != abuseguard.RoleCustomer:
		return nil, "", abuseguard.Errorf(abuseguard.EINVALID, "Role must be operator or customer.")
	}
	var raw [32]byte
	var id [6]byte
	rand.Read(raw[:])
	rand.Read(id[:])
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	t.ID = "tok-" + hex.EncodeToString(id[:])
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	err := s.Update(ctx, func(atx abuseguard.CaseTx) error {
		_, err := atx.(*tx).exec(ctx, `INSERT INTO tokens (id, hash, role, customer_id, name, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, t.ID, hashSecret(secret), t.Role, t.CustomerID, t.Name, t.CreatedAt.UnixNano())
		if err != nil {
			return internal("create token", err)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return &t, secret, nil
}

// Authenticate implements abuseguard.TokenService.
func (s *Store) Authenticate(ctx context.Context, secret string) (abuseguard.Actor, error) {
	denied := abuseguard.Errorf(abuseguard.EUNAUTHORIZED, "The token is not valid.")
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 100 {
		return abuseguard.Actor{}, denied
	}
	var a abuseguard.Actor
	var id string
	err := s.readOne(ctx, func(r *session) error {
		st, err := r.stmt(ctx, `SELECT id, role, customer_id, name FROM tokens WHERE hash = ? AND revoked_at IS NULL`)
		if err != nil {
			return err
		}
		return st.QueryRowContext(context.WithoutCancel(ctx), hashSecret(secret)).Scan(&id, &a.Role, &a.CustomerID, &a.Name)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return abuseguard.Actor{}, denied
	} else if err != nil {
		return abuseguard.Actor{}, internal("authenticate", err)
	}
	if a.Name == "" {
		a.Name = id
	}
	return a, nil
}

// RevokeToken implements abuseguard.TokenService.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	return s.mark(ctx, "Token", `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, time.Now().UnixNano(), id)
}
