package lifecycle

import (
	"context"
	"net/netip"
	"time"

	"abuseguard"
)

// Access rules: operators and the system see everything; a customer sees
// only cases on its own account (and, with a case-bound link, only that
// case), and for anything else gets exactly the answer a missing thing
// gets, so that probing reveals nothing.

func caseNotFound(id string) error {
	return abuseguard.Errorf(abuseguard.ENOTFOUND, "Case %s not found.", id)
}

func requireActor(a abuseguard.Actor) error {
	switch a.Role {
	case abuseguard.RoleOperator, abuseguard.RoleSystem:
		return nil
	case abuseguard.RoleCustomer:
		if a.CustomerID != "" {
			return nil
		}
	}
	return abuseguard.Errorf(abuseguard.EUNAUTHORIZED, "Authentication required.")
}

// requireOperator answers every customer the same, whatever the case id:
// no hint whether it exists.
func requireOperator(a abuseguard.Actor) error {
	if err := requireActor(a); err != nil {
		return err
	}
	if a.Role != abuseguard.RoleOperator && a.Role != abuseguard.RoleSystem {
		return abuseguard.Errorf(abuseguard.EUNAUTHORIZED, "Only the abuse desk may do this.")
	}
	return nil
}

func maySee(a abuseguard.Actor, c *abuseguard.Case) bool {
	switch a.Role {
	case abuseguard.RoleOperator, abuseguard.RoleSystem:
		return true
	case abuseguard.RoleCustomer:
		return a.CustomerID != "" && c.CustomerID == a.CustomerID && (a.CaseID == "" || a.CaseID == c.ID)
	}
	return false
}

// visibleCase loads a case the actor may see, with details or without.
func visibleCase(ctx context.Context, tx abuseguard.CaseTx, a abuseguard.Actor, id string, detail bool) (*abuseguard.Case, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	if !ValidCaseID(id) {
		return nil, caseNotFound(id)
	}
	var c *abuseguard.Case
	var err error
	if detail {
		c, err = tx.CaseDetail(ctx, id)
	} else {
		c, err = tx.Case(ctx, id)
	}
	if abuseguard.ErrorCode(err) == abuseguard.ENOTFOUND || (err == nil && !maySee(a, c)) {
		return nil, caseNotFound(id)
	} else if err != nil {
		return nil, err
	}
	return c, nil
}

// forCustomer removes what only operators see.
func forCustomer(a abuseguard.Actor, c *abuseguard.Case) *abuseguard.Case {
	if a.Role != abuseguard.RoleCustomer {
		return c
	}
	c.Note, c.HostGroup, c.NextCheck = "", "", time.Time{}
	msgs := c.Messages[:0:0]
	for _, m := range c.Messages {
		if m.Kind != "note" {
			msgs = append(msgs, m)
		}
	}
	c.Messages = msgs
	return c
}

// FindCaseByID implements abuseguard.CaseService.
func (l *Lifecycle) FindCaseByID(ctx context.Context, id string) (*abuseguard.Case, error) {
	a := abuseguard.ActorFromContext(ctx)
	var c *abuseguard.Case
	err := l.store.View(ctx, func(tx abuseguard.CaseTx) (err error) {
		c, err = visibleCase(ctx, tx, a, id, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return forCustomer(a, c), nil
}

// FindCases implements abuseguard.CaseService. A customer's filter is
// narrowed to its own account.
func (l *Lifecycle) FindCases(ctx context.Context, f abuseguard.CaseFilter) ([]*abuseguard.Case, int, error) {
	a := abuseguard.ActorFromContext(ctx)
	if err := requireActor(a); err != nil {
		return nil, 0, err
	}
	if f.Limit > 1000 || f.Limit < 0 || f.Offset < 0 {
		return nil, 0, invalid("Limit must be between 0 and 1000, offset not negative.")
	}
	if f.Address.IsValid() {
		f.Address = f.Address.Unmap()
	}
	if a.Role == abuseguard.RoleCustomer {
		if f.CustomerID != "" && f.CustomerID != a.CustomerID {
			return []*abuseguard.Case{}, 0, nil
		}
		f.CustomerID = a.CustomerID
	}
	var cs []*abuseguard.Case
	var total int
	err := l.store.View(ctx, func(tx abuseguard.CaseTx) (err error) {
		cs, total, err = tx.FindCases(ctx, f)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]*abuseguard.Case, 0, len(cs))
	for _, c := range cs {
		if a.CaseID != "" && c.ID != a.CaseID {
			total--
			continue
		}
		out = append(out, forCustomer(a, c))
	}
	return out, total, nil
}

// Evidence implements abuseguard.CaseService.
func (l *Lifecycle) Evidence(ctx context.Context, caseID string, n int) (*abuseguard.Evidence, error) {
	a := abuseguard.ActorFromContext(ctx)
	var e *abuseguard.Evidence
	err := l.store.View(ctx, func(tx abuseguard.CaseTx) error {
		if _, err := visibleCase(ctx, tx, a, caseID, false); err != nil {
			return err
		}
		var err error
		e, err = tx.Evidence(ctx, caseID, n)
		return err
	})
	return e, err
}

// Status implements abuseguard.CaseService.
func (l *Lifecycle) Status(ctx context.Context, addr netip.Addr) (*abuseguard.Status, error) {
	a := abuseguard.ActorFromContext(ctx)
	if err := requireActor(a); err != nil {
		return nil, err
	}
	if !addr.IsValid() {
		return nil, invalid("The address is missing.")
	}
	addr = addr.Unmap()
	notFound := abuseguard.Errorf(abuseguard.ENOTFOUND, "Address %s not found.", addr)
	st := &abuseguard.Status{Address: addr}
	err := l.store.View(ctx, func(tx abuseguard.CaseTx) error {
		c, err := tx.BlockedCase(ctx, addr)
		if abuseguard.ErrorCode(err) == abuseguard.ENOTFOUND {
			c = nil
		} else if err != nil {
			return err
		}
		if a.Role == abuseguard.RoleCustomer {
			loc, ok := l.inv.Locate(addr)
			mine := (ok && loc.CustomerID == a.CustomerID) || (!ok && c != nil && maySee(a, c))
			if !mine || (c != nil && !maySee(a, c)) {
				return notFound
			}
		}
		if c == nil {
			return nil
		}
		st.Blocked, st.CaseID, st.Reason, st.State = c.State.Blocked(), c.ID, c.Reason, c.State
		st.Since, st.AccessIP = c.BlockedAt, c.AccessIP
		if st.Blocked {
			if st.Statuses, err = tx.Statuses(ctx, c.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// update runs fn on a case the actor may see, in one transaction, and
// returns the case as saved.
func (l *Lifecycle) update(ctx context.Context, id string, fn func(ch *change, c *abuseguard.Case) error) (*abuseguard.Case, error) {
	a := abuseguard.ActorFromContext(ctx)
	var out *abuseguard.Case
	err := l.logged(ctx, func(tx abuseguard.CaseTx) error {
		c, err := visibleCase(ctx, tx, a, id, false)
		if err != nil {
			return err
		}
		ch := l.newChange(ctx, tx, l.now(), a.String())
		if err := fn(ch, c); err != nil {
			return err
		}
		if err := l.save(ch, c); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return forCustomer(a, out), nil
}

// FindAudit implements abuseguard.AuditService.
func (l *Lifecycle) FindAudit(ctx context.Context, f abuseguard.AuditFilter) ([]abuseguard.AuditEntry, int, error) {
	a := abuseguard.ActorFromContext(ctx)
	if err := requireOperator(a); err != nil {
		return nil, 0, err
	}
	if f.Limit > 1000 || f.Limit < 0 || f.Offset < 0 {
		return nil, 0, invalid("Limit must be between 0 and 1000, offset not negative.")
	}
	var es []abuseguard.AuditEntry
	var total int
	err := l.store.View(ctx, func(tx abuseguard.CaseTx) (err error) {
		es, total, err = tx.FindAudit(ctx, f)
		return err
	})
	return es, total, err
}
