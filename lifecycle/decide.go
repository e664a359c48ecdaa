package lifecycle

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"abuseguard"
)

// Notes on cases that are held (open, nothing enforced).
const (
	noteProtected = "protected address"
	noteIgnore    = "policy: ignore"
	noteWarmUp    = "warm-up"
	noteBreaker   = "circuit breaker"
	noteEscalated = "escalated repeat offence"
)

const actorSystem = "system"

// netip0 clears an address field.
var netip0 netip.Addr

// detection opens or joins a case for d, inside tx.
func (l *Lifecycle) detection(ctx context.Context, tx abuseguard.CaseTx, d *abuseguard.Detection, now time.Time) (string, error) {
	if loc, ok := l.inv.Locate(d.Address); ok {
		// The inventory is authoritative: an external detector cannot
		// put a case on another customer's account.
		d.ServerID, d.CustomerID, d.HostGroup = loc.ServerID, loc.CustomerID, loc.HostGroup
	}
	ch := l.newChange(ctx, tx, now, actorSystem)
	caseID, wasFinal, err := tx.DetectionOf(ctx, d.ID)
	switch abuseguard.ErrorCode(err) {
	case "":
		c, err := tx.Case(ctx, caseID)
		if err != nil {
			return "", err
		}
		if c.Address == d.Address && c.Reason == d.Kind {
			return c.ID, l.report(ch, c, d, wasFinal)
		}
		// The same id for another address or kind: a different detection.
	case abuseguard.ENOTFOUND:
	default:
		return "", err
	}

	c, err := tx.ActiveCase(ctx, d.Address, d.Kind)
	if abuseguard.ErrorCode(err) == abuseguard.ENOTFOUND {
		c = nil
	} else if err != nil {
		return "", err
	}
	if c != nil && c.State == abuseguard.CaseOpen && now.Sub(c.LastDetectionAt) > l.cfg.JoinWindow {
		l.close(ch, c, "no detection within the join window")
		if err := l.save(ch, c); err != nil {
			return "", err
		}
		ch, c = l.newChange(ctx, tx, now, actorSystem), nil
	}
	if c != nil && c.State == abuseguard.CaseUnblocked && !now.Before(c.ProbationUntil) {
		l.close(ch, c, "probation ended")
		if err := l.save(ch, c); err != nil {
			return "", err
		}
		ch, c = l.newChange(ctx, tx, now, actorSystem), nil
	}
	if c == nil {
		return l.open(ch, d)
	}
	return c.ID, l.join(ch, c, d)
}

// open opens a new case for d and applies policy.
func (l *Lifecycle) open(ch *change, d *abuseguard.Detection) (string, error) {
	c := &abuseguard.Case{
		ID: l.newID(), Reason: d.Kind, Address: d.Address, ServerID: d.ServerID, CustomerID: d.CustomerID,
		HostGroup: d.HostGroup, State: abuseguard.CaseOpen, Protected: l.inv.Protected(d.Address),
		OpenedAt: ch.now, LastDetectionAt: ch.now, DetectionCount: 1,
	}
	ch.isNew = true
	l.keep(ch, c, d)
	ch.audit(c, "case.opened", fmt.Sprintf("%s %s: %s %g (threshold %g)", d.Kind, d.Subkind, d.Unit, d.Value, d.Threshold))
	l.m.opened.WithLabelValues(string(c.Reason)).Inc()
	if err := l.decide(ch, c, l.action(c, d)); err != nil {
		return "", err
	}
	// Saved before c.ID is read: save draws another id if this one is taken.
	err := l.save(ch, c)
	return c.ID, err
}

// join adds d to its open case and acts on what it changes.
func (l *Lifecycle) join(ch *change, c *abuseguard.Case, d *abuseguard.Detection) error {
	c.DetectionCount++
	c.LastDetectionAt = ch.now
	if c.DetectionCount <= l.cfg.MaxDetections {
		l.keep(ch, c, d)
	}
	var err error
	if c.State == abuseguard.CaseUnblocked {
		err = l.escalate(ch, c)
	} else {
		err = l.react(ch, c, d)
	}
	if err != nil {
		return err
	}
	return l.save(ch, c)
}

// react acts on what a detection report tells of a case not yet enforced:
// a held case is decided again (the hold may have ended, or the report is
// more severe), a warned case is blocked when its deadline has passed or
// the report is past the block-at-once factor. A detection's first report
// comes at the threshold crossing, its value at the threshold; progress
// and final reports carry the figure the condition reached, so severity is
// judged on every report, not only on a detection's first.
func (l *Lifecycle) react(ch *change, c *abuseguard.Case, d *abuseguard.Detection) error {
	switch c.State {
	case abuseguard.CaseOpen:
		// Held: decide again, the hold may have ended (warm-up over,
		// dry-run switched off) or the detection may be more severe.
		if a := l.action(c, d); a == abuseguard.ActionBlock || c.Action != abuseguard.ActionBlock {
			c.Action = a
		}
		return l.decide(ch, c, c.Action)
	case abuseguard.CaseWarned:
		if !ch.now.Before(c.Deadline) {
			ch.audit(c, "case.deadline_passed", "condition persists")
			return l.block(ch, c, false)
		} else if l.action(c, d) == abuseguard.ActionBlock {
			ch.audit(c, "case.severity", fmt.Sprintf("%s %g is past the block-at-once factor", d.Unit, d.Value))
			return l.block(ch, c, false)
		}
	}
	return nil
}

// report updates a detection already stored (its final report, or a
// repeat) and the case's figures.
func (l *Lifecycle) report(ch *change, c *abuseguard.Case, d *abuseguard.Detection, wasFinal bool) error {
	if wasFinal && !d.Final {
		return nil // a late first report: the final one has the whole picture
	}
	if !wasFinal && d.Final && c.Ongoing > 0 {
		c.Ongoing--
	}
	if ch.now.After(c.LastDetectionAt) {
		c.LastDetectionAt = ch.now
	}
	ch.detected = append(ch.detected, l.bounded(ch, c, d))
	if err := l.react(ch, c, d); err != nil {
		return err
	}
	return l.save(ch, c)
}

// keep stores d with c (bounded) and counts it as ongoing until its final
// report.
func (l *Lifecycle) keep(ch *change, c *abuseguard.Case, d *abuseguard.Detection) {
	if !d.Final {
		c.Ongoing++
	}
	ch.detected = append(ch.detected, l.bounded(ch, c, d))
}

// bounded returns d with only the evidence that fits the case's bounds.
func (l *Lifecycle) bounded(ch *change, c *abuseguard.Case, d *abuseguard.Detection) *abuseguard.Detection {
	if len(d.Evidence) == 0 {
		return d
	}
	files, size := 0, int64(0)
	if !ch.isNew {
		var err error
		if files, size, err = ch.tx.EvidenceUsage(ch.ctx, c.ID, d.ID); err != nil {
			// Storing no evidence beats failing the detection.
			l.log.Error("evidence usage", "case", c.ID, "error", err)
			files, size = l.cfg.MaxEvidenceFiles, l.cfg.MaxEvidenceBytes
		}
	}
	// Detections saved in this same change are not in the store yet.
	for _, o := range ch.detected {
		for _, e := range o.Evidence {
			files, size = files+1, size+int64(len(e.Data))
		}
	}
	kept := d.Evidence[:0:0]
	for _, e := range d.Evidence {
		if files+1 > l.cfg.MaxEvidenceFiles || size+int64(len(e.Data)) > l.cfg.MaxEvidenceBytes {
			l.m.evidenceDropped.Inc()
			continue
		}
		files, size = files+1, size+int64(len(e.Data))
		kept = append(kept, e)
	}
	dd := *d
	dd.Evidence = kept
	return &dd
}

// action is what policy says for d in c's host group: the rule's action,
// or block when d is severe enough.
func (l *Lifecycle) action(c *abuseguard.Case, d *abuseguard.Detection) abuseguard.Action {
	r := l.cfg.Policy.Rule(c.HostGroup, c.Reason)
	if r.Action != abuseguard.ActionIgnore && r.BlockAbove > 0 && d.Threshold > 0 && d.Value >= r.BlockAbove*d.Threshold {
		return abuseguard.ActionBlock
	}
	return r.Action
}

// decide applies action to an open case, unless a safety rule holds it.
func (l *Lifecycle) decide(ch *change, c *abuseguard.Case, action abuseguard.Action) error {
	c.Action = action
	switch {
	case c.Protected:
		l.hold(ch, c, noteProtected)
	case action == abuseguard.ActionIgnore:
		l.hold(ch, c, noteIgnore)
	case l.cfg.DryRun:
		c.DryRun = true
		l.hold(ch, c, "dry-run: would "+string(action))
	case ch.now.Before(l.started.Add(l.cfg.WarmUp)):
		l.hold(ch, c, noteWarmUp)
	case action == abuseguard.ActionWarn:
		c.DryRun = false // decided for real now
		l.warn(ch, c)
	default:
		c.DryRun = false
		return l.block(ch, c, false)
	}
	return nil
}

func (l *Lifecycle) hold(ch *change, c *abuseguard.Case, note string) {
	if c.Note != note {
		c.Note = note
		ch.audit(c, "case.held", note)
	}
}

func (l *Lifecycle) warn(ch *change, c *abuseguard.Case) {
	r := l.cfg.Policy.Rule(c.HostGroup, c.Reason)
	l.transition(c, abuseguard.CaseWarned)
	c.Note, c.WarnedAt, c.Deadline = "", ch.now, ch.now.Add(r.Deadline)
	ch.audit(c, "case.warned", "deadline "+c.Deadline.Format(time.RFC3339))
	ch.event(c, abuseguard.EventWarned, map[string]string{"deadline": c.Deadline.Format(time.RFC3339)})
}

// block enforces c's block, or makes it wait for an operator when the
// circuit breaker is open. byOperator skips the breaker: an operator's
// decision is the approval.
func (l *Lifecycle) block(ch *change, c *abuseguard.Case, byOperator bool) error {
	if !byOperator && l.cfg.Breaker.MaxBlocks > 0 {
		n, err := ch.tx.CountAudit(ch.ctx, "block.applied", actorSystem, ch.now.Add(-l.cfg.Breaker.Window))
		if err != nil {
			return err
		}
		if n >= l.cfg.Breaker.MaxBlocks {
			return l.pend(ch, c, n)
		}
	}
	if c.Escalation > 0 {
		c.Note = noteEscalated
	} else {
		c.Note = ""
	}
	l.transition(c, abuseguard.CaseBlocked)
	c.BlockedAt = ch.now
	ch.block = true
	ch.audit(c, "block.applied", string(scopeOf(c.Reason)))
	l.m.blocks.WithLabelValues(string(c.Reason)).Inc()
	data := map[string]string{}
	if c.Escalation > 0 {
		data["escalation"] = strconv.Itoa(c.Escalation)
	}
	if !c.BlockUntil.IsZero() {
		data["until"] = c.BlockUntil.Format(time.RFC3339)
	}
	if c.Reason == abuseguard.ReasonIncomingFlood {
		ch.event(c, abuseguard.EventFloodBlocked, data)
	} else {
		ch.event(c, abuseguard.EventBlocked, data)
	}
	return nil
}

// pend puts c in pending_approval past the breaker's cap, and trips the
// breaker (alerting operators once) if it was not yet.
func (l *Lifecycle) pend(ch *change, c *abuseguard.Case, n int) error {
	tripped, err := ch.tx.Meta(ch.ctx, metaBreaker)
	if err != nil {
		return err
	}
	if tripped == "" {
		if err := ch.tx.SetMeta(ch.ctx, metaBreaker, ch.now.Format(time.RFC3339Nano)); err != nil {
			return err
		}
		detail := fmt.Sprintf("%d automatic blocks within %s", n, l.cfg.Breaker.Window)
		ch.audits = append(ch.audits, abuseguard.AuditEntry{Time: ch.now, Actor: actorSystem, Action: "breaker.tripped", Detail: detail})
		ch.event(nil, abuseguard.EventBreakerTripped, map[string]string{
			"blocks": strconv.Itoa(n), "window": l.cfg.Breaker.Window.String(), "first_case": c.ID})
		l.m.breakerTrips.Inc()
		l.log.Warn("circuit breaker tripped: automatic blocks wait for approval", "blocks", n, "window", l.cfg.Breaker.Window)
	}
	l.transition(c, abuseguard.CasePendingApproval)
	c.Note = noteBreaker
	ch.audit(c, "block.pending_approval", noteBreaker)
	ch.event(c, abuseguard.EventPendingApproval, map[string]string{"why": noteBreaker})
	return nil
}

const metaBreaker = "breaker.tripped_at"

// breakerReset closes the breaker once the blocks in its window are below
// the cap again.
func (l *Lifecycle) breakerReset(ctx context.Context, now time.Time) error {
	if l.cfg.Breaker.MaxBlocks == 0 {
		return nil
	}
	var tripped string
	if err := l.store.View(ctx, func(tx abuseguard.CaseTx) (err error) {
		tripped, err = tx.Meta(ctx, metaBreaker)
		return err
	}); err != nil || tripped == "" {
		return err
	}
	return l.logged(ctx, func(tx abuseguard.CaseTx) error {
		n, err := tx.CountAudit(ctx, "block.applied", actorSystem, now.Add(-l.cfg.Breaker.Window))
		if err != nil || n >= l.cfg.Breaker.MaxBlocks {
			return err
		}
		if err := tx.SetMeta(ctx, metaBreaker, ""); err != nil {
			return err
		}
		l.log.Info("circuit breaker reset", "blocks", n, "window", l.cfg.Breaker.Window)
		return tx.AddAudit(ctx, abuseguard.AuditEntry{Time: now, Actor: actorSystem, Action: "breaker.reset",
			Detail: fmt.Sprintf("%d automatic blocks within %s", n, l.cfg.Breaker.Window)})
	})
}

// escalate reopens an unblocked case on a repeat offence within probation.
func (l *Lifecycle) escalate(ch *change, c *abuseguard.Case) error {
	c.Escalation++
	c.ProbationUntil, c.UnblockedAt, c.BlockUntil, c.AccessIP = time.Time{}, time.Time{}, time.Time{}, netip0
	ch.audit(c, "case.escalated", fmt.Sprintf("repeat offence within probation, escalation %d", c.Escalation))
	l.m.escalations.Inc()
	switch {
	case c.Protected || l.inv.Protected(c.Address):
		c.Protected = true
		l.transition(c, abuseguard.CaseOpen)
		l.hold(ch, c, noteProtected)
	case l.cfg.DryRun:
		c.DryRun = true
		l.transition(c, abuseguard.CaseOpen)
		l.hold(ch, c, "dry-run: would block")
	default:
		c.Action = abuseguard.ActionBlock
		return l.block(ch, c, false)
	}
	return nil
}

// unblock withdraws c's block and starts probation; flood cases close.
func (l *Lifecycle) unblock(ch *change, c *abuseguard.Case, comment string) {
	ch.unblock = true
	data := map[string]string{}
	if comment != "" {
		data["comment"] = comment
	}
	ch.audit(c, "block.withdrawn", comment)
	l.m.unblocks.WithLabelValues(string(c.Reason)).Inc()
	if c.Reason == abuseguard.ReasonIncomingFlood {
		ch.event(c, abuseguard.EventFloodLifted, data)
		l.close(ch, c, "flood block lifted")
		return
	}
	r := l.cfg.Policy.Rule(c.HostGroup, c.Reason)
	l.transition(c, abuseguard.CaseUnblocked)
	c.UnblockedAt, c.BlockUntil, c.AccessIP, c.Note = ch.now, time.Time{}, netip0, ""
	c.ProbationUntil = ch.now.Add(r.Probation * time.Duration(c.Escalation+1))
	data["probation_until"] = c.ProbationUntil.Format(time.RFC3339)
	ch.audit(c, "case.unblocked", "probation until "+data["probation_until"])
	ch.event(c, abuseguard.EventUnblocked, data)
}

// close closes c, withdrawing any block.
func (l *Lifecycle) close(ch *change, c *abuseguard.Case, why string) {
	if c.Block != nil || c.State.Blocked() {
		ch.unblock = true
	}
	l.transition(c, abuseguard.CaseClosed)
	c.ClosedAt = ch.now
	ch.audit(c, "case.closed", why)
}

func (l *Lifecycle) transition(c *abuseguard.Case, to abuseguard.CaseState) {
	if c.State != to {
		l.m.transitions.WithLabelValues(string(c.State), string(to)).Inc()
		c.State = to
	}
}
