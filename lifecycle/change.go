package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"abuseguard"
)

// change is one state change of one case in the making: the case is
// changed in memory, then save writes it with its block, audit entries and
// outbox events in the caller's transaction.
type change struct {
	ctx   context.Context
	tx    abuseguard.CaseTx
	now   time.Time
	actor string // for the audit trail: "system", "operator:alice", ...

	isNew    bool
	block    bool // put the case's block (new or changed)
	unblock  bool // withdraw it
	audits   []abuseguard.AuditEntry
	events   []abuseguard.Event
	detected []*abuseguard.Detection // to store with the case
}

func (l *Lifecycle) newChange(ctx context.Context, tx abuseguard.CaseTx, now time.Time, actor string) *change {
	return &change{ctx: ctx, tx: tx, now: now, actor: actor}
}

func (ch *change) audit(c *abuseguard.Case, action, detail string) {
	ch.audits = append(ch.audits, abuseguard.AuditEntry{Time: ch.now, Actor: ch.actor, Action: action,
		CaseID: c.ID, Address: c.Address, Detail: detail})
}

func (ch *change) event(c *abuseguard.Case, t abuseguard.EventType, data map[string]string) {
	e := abuseguard.Event{ID: newEventID(), Type: t, Time: ch.now, Data: data}
	if c != nil {
		e.CaseID, e.CustomerID = c.ID, c.CustomerID
	}
	ch.events = append(ch.events, e)
}

// save writes the case and everything the change collected.
func (l *Lifecycle) save(ch *change, c *abuseguard.Case) error {
	ctx, tx := ch.ctx, ch.tx
	c.UpdatedAt = ch.now
	l.schedule(c, ch.now)
	if ch.isNew {
		if err := l.create(ch, c); err != nil {
			return err
		}
	} else if err := tx.UpdateCase(ctx, c); err != nil {
		return err
	}
	for _, d := range ch.detected {
		if err := tx.PutDetection(ctx, c.ID, d); err != nil {
			return err
		}
	}
	switch {
	case ch.unblock:
		if err := tx.DeleteBlock(ctx, c.ID); err != nil {
			return err
		}
		c.Block = nil
	case ch.block:
		b := abuseguard.Block{CaseID: c.ID, Address: c.Address, Scope: scopeOf(c.Reason), Reason: c.Reason,
			Since: c.BlockedAt, Until: c.BlockUntil, Revision: c.Version}
		if b.Scope == abuseguard.ScopeBoth {
			b.AccessIP = c.AccessIP
		}
		if c.Reason == abuseguard.ReasonIncomingFlood {
			b.Until = time.Time{} // moves with every detection; the case shows it
		}
		if err := tx.PutBlock(ctx, b); err != nil {
			return err
		}
		c.Block = &b
	}
	for _, a := range ch.audits {
		if err := tx.AddAudit(ctx, a); err != nil {
			return err
		}
	}
	for _, e := range ch.events {
		if err := tx.AddEvent(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func scopeOf(r abuseguard.Reason) abuseguard.BlockScope {
	if r == abuseguard.ReasonIncomingFlood {
		return abuseguard.ScopeInbound
	}
	return abuseguard.ScopeBoth
}

// newCaseID returns a random case id: "AG-" and 6 uppercase hex digits.
func newCaseID() string {
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("AG-%06X", int(b[0])<<16|int(b[1])<<8|int(b[2]))
}

// create inserts the new case c, drawing another id while the one it has is
// taken. The store refuses a taken id (ECONFLICT) in the insert itself:
// reading first would cost a query per new case (7 % of opening one,
// BenchmarkIngest, November 2026) to guard against a collision that comes
// once in 16.7 million draws per case already stored. The change's audit
// entries and events carry the case id, so they follow the new one.
func (l *Lifecycle) create(ch *change, c *abuseguard.Case) error {
	for range 16 {
		err := ch.tx.CreateCase(ch.ctx, c)
		if abuseguard.ErrorCode(err) != abuseguard.ECONFLICT {
			return err
		}
		old := c.ID
		c.ID = l.newID()
		ch.renameCase(old, c.ID)
	}
	return abuseguard.Errorf(abuseguard.EINTERNAL, "no free case id after 16 tries")
}

// renameCase moves what the change collected from case id old to id.
func (ch *change) renameCase(old, id string) {
	for i := range ch.audits {
		if ch.audits[i].CaseID == old {
			ch.audits[i].CaseID = id
		}
	}
	for i := range ch.events {
		e := &ch.events[i]
		if e.CaseID == old {
			e.CaseID = id
		}
		for k, v := range e.Data {
			if v == old {
				e.Data[k] = id
			}
		}
	}
}

// newEventID returns a random event id: the notifier derives Message-IDs
// from it, so it must be unique across restarts and nodes. It starts with
// the time in milliseconds (like a UUIDv7), then 80 random bits: ids made
// one after another sort together, so the outbox's two indexes on them
// take a new event at their end instead of on a random page, a page write
// fewer per event in each at commit.
func newEventID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	rand.Read(b[6:])
	return "ev-" + hex.EncodeToString(b[:])
}
