package lifecycle

import (
	"context"
	"time"

	"abuseguard"
)

// timer acts on a case whose NextCheck has come.
func (l *Lifecycle) timer(ctx context.Context, tx abuseguard.CaseTx, id string, now time.Time) error {
	c, err := tx.Case(ctx, id)
	if err != nil {
		return err
	}
	if c.NextCheck.IsZero() || c.NextCheck.After(now) {
		return nil // handled meanwhile
	}
	ch := l.newChange(ctx, tx, now, actorSystem)
	r := l.cfg.Policy.Rule(c.HostGroup, c.Reason)
	switch c.State {
	case abuseguard.CaseOpen:
		warmEnd := l.started.Add(l.cfg.WarmUp)
		switch {
		case c.Note == noteWarmUp && !now.Before(warmEnd) && now.Sub(c.LastDetectionAt) <= l.cfg.JoinWindow:
			ch.audit(c, "case.warm_up_over", "detections continued")
			if err := l.decide(ch, c, c.Action); err != nil {
				return err
			}
		case now.Sub(c.LastDetectionAt) >= l.cfg.JoinWindow:
			l.close(ch, c, "no detection within the join window")
		}
	case abuseguard.CaseWarned:
		if c.RemindedAt.IsZero() && r.Reminder > 0 && !now.Before(c.Deadline.Add(-r.Reminder)) && now.Before(c.Deadline) {
			c.RemindedAt = now
			ch.audit(c, "case.reminded", "deadline "+c.Deadline.Format(time.RFC3339))
			ch.event(c, abuseguard.EventReminder, map[string]string{"deadline": c.Deadline.Format(time.RFC3339)})
		}
		if !now.Before(c.Deadline) {
			l.expireOngoing(ch, c)
			if c.Ongoing > 0 || c.Deadline.Sub(c.LastDetectionAt) <= r.Persist {
				ch.audit(c, "case.deadline_passed", "condition persists")
				if err := l.block(ch, c, false); err != nil {
					return err
				}
			} else {
				l.close(ch, c, "condition ended before the deadline")
			}
		}
	case abuseguard.CaseBlocked, abuseguard.CaseStatementSubmitted, abuseguard.CaseRejected:
		if c.Reason == abuseguard.ReasonIncomingFlood {
			l.expireOngoing(ch, c)
			if c.Ongoing == 0 && !now.Before(c.LastDetectionAt.Add(l.cfg.FloodQuiet)) {
				ch.audit(c, "block.lifted", "attack below threshold for "+l.cfg.FloodQuiet.String())
				l.unblock(ch, c, "")
			}
		} else if !c.BlockUntil.IsZero() && c.Escalation == 0 && !now.Before(c.BlockUntil) {
			l.unblock(ch, c, "block duration over")
		}
	case abuseguard.CaseUnblocked:
		if !now.Before(c.ProbationUntil) {
			l.close(ch, c, "probation ended")
		}
	}
	if err := l.save(ch, c); err != nil {
		return err
	}
	return nil
}

// expireOngoing forgets detections whose final report is overdue.
func (l *Lifecycle) expireOngoing(ch *change, c *abuseguard.Case) {
	if c.Ongoing > 0 && ch.now.Sub(c.LastDetectionAt) >= l.cfg.DetectionTimeout {
		ch.audit(c, "detection.timeout", "final report overdue")
		c.Ongoing = 0
	}
}

// schedule sets c.NextCheck to the next time a timer must look at c, and
// for incoming floods the expected lifting time.
func (l *Lifecycle) schedule(c *abuseguard.Case, now time.Time) {
	var next time.Time
	r := l.cfg.Policy.Rule(c.HostGroup, c.Reason)
	switch c.State {
	case abuseguard.CaseOpen:
		next = c.LastDetectionAt.Add(l.cfg.JoinWindow)
		if w := l.started.Add(l.cfg.WarmUp); c.Note == noteWarmUp && w.Before(next) {
			next = w
		}
	case abuseguard.CaseWarned:
		next = c.Deadline
		if c.RemindedAt.IsZero() && r.Reminder > 0 {
			if rt := c.Deadline.Add(-r.Reminder); rt.Before(next) && rt.After(c.WarnedAt) {
				next = rt
			}
		}
	case abuseguard.CaseBlocked, abuseguard.CaseStatementSubmitted, abuseguard.CaseRejected:
		if c.Reason == abuseguard.ReasonIncomingFlood {
			if c.Ongoing > 0 {
				next, c.BlockUntil = c.LastDetectionAt.Add(l.cfg.DetectionTimeout), time.Time{}
			} else {
				next = c.LastDetectionAt.Add(l.cfg.FloodQuiet)
				c.BlockUntil = next
			}
		} else if !c.BlockUntil.IsZero() && c.Escalation == 0 {
			next = c.BlockUntil
		}
	case abuseguard.CaseUnblocked:
		next = c.ProbationUntil
	}
	if !next.IsZero() && !next.After(now) {
		// Due already (a reminder whose time passed while the deadline is
		// later): look again at the next tick, never in a loop.
		next = now.Add(l.cfg.TimerInterval)
	}
	c.NextCheck = next
}
