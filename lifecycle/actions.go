package lifecycle

import (
	"context"
	"net/netip"
	"time"

	"abuseguard"
)

// The CaseService methods that change a case: each runs in one
// transaction with its audit entries and outbox events.

func conflict(format string, args ...any) error {
	return abuseguard.Errorf(abuseguard.ECONFLICT, format, args...)
}

// Block implements abuseguard.CaseService.
func (l *Lifecycle) Block(ctx context.Context, req abuseguard.ManualBlock) (*abuseguard.Case, error) {
	a := abuseguard.ActorFromContext(ctx)
	if err := requireOperator(a); err != nil {
		return nil, err
	}
	if !req.Address.IsValid() {
		return nil, invalid("The address to block is missing.")
	}
	req.Address = req.Address.Unmap()
	if req.Reason == "" {
		req.Reason = abuseguard.ReasonManual
	}
	switch req.Reason {
	case abuseguard.ReasonManual, abuseguard.ReasonAbuse, abuseguard.ReasonNetscan, abuseguard.ReasonPacketLimit,
		abuseguard.ReasonMisconfiguration, abuseguard.ReasonIncomingFlood:
	default:
		return nil, invalid("Unknown reason %q.", req.Reason)
	}
	if err := checkText("comment", req.Comment, maxTextLen, false); err != nil {
		return nil, err
	}
	if err := checkDuration(req.Duration); err != nil {
		return nil, err
	}
	if l.inv.Protected(req.Address) {
		return nil, invalid("%s is in a protected prefix and is never blocked.", req.Address)
	}
	var out *abuseguard.Case
	err := l.logged(ctx, func(tx abuseguard.CaseTx) error {
		now := l.now()
		loc, ok := l.inv.Locate(req.Address)
		if !ok {
			// Not in the inventory, but a detection attributed it (an
			// unassigned source found by its MAC, an external detector).
			cs, _, err := tx.FindCases(ctx, abuseguard.CaseFilter{Address: req.Address, Limit: 1})
			if err != nil {
				return err
			}
			if len(cs) == 0 || cs[0].CustomerID == "" {
				return invalid("%s is not a customer address.", req.Address)
			}
			loc = Location{ServerID: cs[0].ServerID, CustomerID: cs[0].CustomerID, HostGroup: cs[0].HostGroup}
		}
		if c, err := tx.BlockedCase(ctx, req.Address); err == nil {
			return conflict("%s is already blocked or waiting for approval in case %s.", req.Address, c.ID)
		} else if abuseguard.ErrorCode(err) != abuseguard.ENOTFOUND {
			return err
		}
		ch := l.newChange(ctx, tx, now, a.String())
		c, err := tx.ActiveCase(ctx, req.Address, req.Reason)
		switch abuseguard.ErrorCode(err) {
		case "":
			if c.State == abuseguard.CaseUnblocked {
				c.Escalation++
				c.ProbationUntil, c.UnblockedAt = time.Time{}, time.Time{}
			}
		case abuseguard.ENOTFOUND:
			c = &abuseguard.Case{ID: l.newID(), Reason: req.Reason, Address: req.Address, ServerID: loc.ServerID,
				CustomerID: loc.CustomerID, HostGroup: loc.HostGroup, State: abuseguard.CaseOpen,
				OpenedAt: now, LastDetectionAt: now}
			ch.isNew = true
			ch.audit(c, "case.opened", "manual block")
			l.m.opened.WithLabelValues(string(c.Reason)).Inc()
		default:
			return err
		}
		c.Action, c.DryRun = abuseguard.ActionBlock, false
		if req.Duration > 0 {
			c.BlockUntil = now.Add(req.Duration)
		}
		if req.Comment != "" {
			ch.audit(c, "case.comment", req.Comment)
		}
		if err := l.block(ch, c, true); err != nil {
			return err
		}
		if err := l.save(ch, c); err != nil {
			return err
		}
		out = c
		return nil
	})
	return out, err
}

// Unblock implements abuseguard.CaseService.
func (l *Lifecycle) Unblock(ctx context.Context, id, comment string) (*abuseguard.Case, error) {
	if err := requireOperator(abuseguard.ActorFromContext(ctx)); err != nil {
		return nil, err
	}
	if err := checkText("comment", comment, maxTextLen, false); err != nil {
		return nil, err
	}
	return l.update(ctx, id, func(ch *change, c *abuseguard.Case) error {
		if !c.State.Blocked() && c.State != abuseguard.CasePendingApproval {
			return conflict("Case %s is %s, not blocked.", c.ID, c.State)
		}
		l.unblock(ch, c, comment)
		return nil
	})
}

// Approve implements abuseguard.CaseService.
func (l *Lifecycle) Approve(ctx context.Context, id, comment string) (*abuseguard.Case, error) {
	if err := requireOperator(abuseguard.ActorFromContext(ctx)); err != nil {
		return nil, err
	}
	if err := checkText("comment", comment, maxTextLen, false); err != nil {
		return nil, err
	}
	return l.update(ctx, id, func(ch *change, c *abuseguard.Case) error {
		if c.State != abuseguard.CasePendingApproval {
			return conflict("Case %s is %s: nothing waits for approval.", c.ID, c.State)
		}
		ch.audit(c, "block.approved", comment)
		return l.block(ch, c, true)
	})
}

// accessIPReasons may have an access IP (M9): with a blackhole route
// (incoming floods) there is no exception, and for the other reasons a
// remote console is the way in (M10).
func accessIPAllowed(r abuseguard.Reason) bool {
	return r == abuseguard.ReasonNetscan || r == abuseguard.ReasonPacketLimit || r == abuseguard.ReasonAbuse
}

// SetAccessIP implements abuseguard.CaseService.
func (l *Lifecycle) SetAccessIP(ctx context.Context, id string, addr netip.Addr) (*abuseguard.Case, error) {
	if err := requireActor(abuseguard.ActorFromContext(ctx)); err != nil {
		return nil, err
	}
	return l.update(ctx, id, func(ch *change, c *abuseguard.Case) error {
		if !accessIPAllowed(c.Reason) {
			return conflict("Cases for %s allow no access IP; request a remote console instead.", c.Reason)
		}
		if !c.State.Blocked() {
			return conflict("Case %s is %s: an access IP applies only while the server is blocked.", c.ID, c.State)
		}
		if err := l.checkAccessIP(addr); err != nil {
			return err
		}
		c.AccessIP = addr.Unmap()
		ch.block = true
		ch.audit(c, "access_ip.set", c.AccessIP.String())
		ch.event(c, abuseguard.EventAccessIPSet, map[string]string{"access_ip": c.AccessIP.String()})
		return nil
	})
}

// ClearAccessIP implements abuseguard.CaseService.
func (l *Lifecycle) ClearAccessIP(ctx context.Context, id string) (*abuseguard.Case, error) {
	if err := requireActor(abuseguard.ActorFromContext(ctx)); err != nil {
		return nil, err
	}
	return l.update(ctx, id, func(ch *change, c *abuseguard.Case) error {
		if !c.State.Blocked() || !c.AccessIP.IsValid() {
			return conflict("Case %s has no access IP to remove.", c.ID)
		}
		ch.audit(c, "access_ip.cleared", c.AccessIP.String())
		c.AccessIP = netip0
		ch.block = true
		return nil
	})
}

// SubmitStatement implements abuseguard.CaseService.
func (l *Lifecycle) SubmitStatement(ctx context.Context, id string, st abuseguard.Statement) (*abuseguard.Case, error) {
	a := abuseguard.ActorFromContext(ctx)
	if err := requireActor(a); err != nil {
		return nil, err
	}
	return l.update(ctx, id, func(ch *change, c *abuseguard.Case) error {
		if c.Reason == abuseguard.ReasonIncomingFlood {
			return conflict("Case %s is a protective block against an attack: no statement is needed.", c.ID)
		}
		if c.State != abuseguard.CaseBlocked && c.State != abuseguard.CaseRejected {
			return conflict("Case %s is %s: a statement is taken while the server is blocked.", c.ID, c.State)
		}
		if err := l.checkStatement(st); err != nil {
			return err
		}
		st.SubmittedAt, st.SubmittedBy = ch.now, a.String()
		if err := ch.tx.PutStatement(ch.ctx, c.ID, st); err != nil {
			return err
		}
		l.transition(c, abuseguard.CaseStatementSubmitted)
		ch.audit(c, "statement.submitted", "")
		ch.event(c, abuseguard.EventStatementReceived, nil)
		return nil
	})
}

// Review implements abuseguard.CaseService.
func (l *Lifecycle) Review(ctx context.Context, id string, r abuseguard.Review) (*abuseguard.Case, error) {
	if err := requireOperator(abuseguard.ActorFromContext(ctx)); err != nil {
		return nil, err
	}
	if !r.Accept {
		if err := checkText("rejection reason", r.Reason, maxTextLen, true); err != nil {
			return nil, err
		}
	} else if err := checkText("comment", r.Reason, maxTextLen, false); err != nil {
		return nil, err
	}
	return l.update(ctx, id, func(ch *change, c *abuseguard.Case) error {
		if c.State != abuseguard.CaseStatementSubmitted {
			return conflict("Case %s is %s: no statement waits for review.", c.ID, c.State)
		}
		if !r.Accept {
			l.transition(c, abuseguard.CaseRejected)
			if c.Escalation > 0 {
				c.Note = noteEscalated // an acceptance of the rejected statement no longer counts
			}
			ch.audit(c, "statement.rejected", r.Reason)
			ch.event(c, abuseguard.EventStatementRejected, map[string]string{"reason": r.Reason})
			return nil
		}
		if c.Escalation == 0 {
			ch.audit(c, "statement.accepted", r.Reason)
			l.unblock(ch, c, r.Reason)
			return nil
		}
		// A repeat offender's statement takes two operators: one accepts
		// it, another approves the unblock (four eyes).
		first, err := l.acceptedBy(ch, c)
		if err != nil {
			return err
		}
		switch first {
		case "":
			c.Note = "escalated: statement accepted by " + ch.actor + ", another operator approves the unblock"
			ch.audit(c, "statement.accepted", joinDetail("a second operator approves the unblock", r.Reason))
			return nil
		case ch.actor:
			return conflict("Case %s is escalated: %s accepted the statement already; another operator approves the unblock.",
				c.ID, first)
		}
		ch.audit(c, "unblock.approved", joinDetail("statement accepted by "+first, r.Reason))
		l.unblock(ch, c, r.Reason)
		return nil
	})
}

// acceptedBy returns who accepted c's pending statement, "" if nobody did
// yet: the actor of the latest statement.accepted after its submission in
// the audit trail.
func (l *Lifecycle) acceptedBy(ch *change, c *abuseguard.Case) (string, error) {
	const page = 200
	for offset := 0; ; offset += page {
		es, _, err := ch.tx.FindAudit(ch.ctx, abuseguard.AuditFilter{CaseID: c.ID, Offset: offset, Limit: page})
		if err != nil {
			return "", err
		}
		for _, e := range es {
			switch e.Action {
			case "statement.submitted":
				return "", nil
			case "statement.accepted":
				return e.Actor, nil
			}
		}
		if len(es) < page {
			return "", nil
		}
	}
}

func joinDetail(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}

// AddMessage implements abuseguard.CaseService.
func (l *Lifecycle) AddMessage(ctx context.Context, id string, m abuseguard.Message) (*abuseguard.Message, error) {
	a := abuseguard.ActorFromContext(ctx)
	if err := requireActor(a); err != nil {
		return nil, err
	}
	switch m.Kind {
	case "":
		m.Kind = "message"
	case "message", "console_request":
	case "note":
		if a.Role == abuseguard.RoleCustomer {
			return nil, invalid("Kind must be message or console_request.")
		}
	default:
		return nil, invalid("Kind must be message, console_request or note.")
	}
	if err := checkText("message", m.Body, maxMessageLen, true); err != nil {
		return nil, err
	}
	var out abuseguard.Message
	_, err := l.update(ctx, id, func(ch *change, c *abuseguard.Case) error {
		out = abuseguard.Message{CaseID: c.ID, Author: a.String(), Role: a.Role, Kind: m.Kind, Body: m.Body, CreatedAt: ch.now}
		if err := ch.tx.AddMessage(ch.ctx, &out); err != nil {
			return err
		}
		ch.audit(c, "message.added", m.Kind)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
