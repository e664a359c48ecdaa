package lifecycle

import (
	"context"
	"strings"

	"abuseguard"
)

// auditTx records the audit entries a transaction function writes, so that
// they are logged once the transaction has committed: an operator reading
// the log must not see "block applied" for a change that was rolled back.
type auditTx struct {
	abuseguard.CaseTx
	entries []abuseguard.AuditEntry
}

// AddAudit implements abuseguard.CaseTx.
func (t *auditTx) AddAudit(ctx context.Context, e abuseguard.AuditEntry) error {
	if err := t.CaseTx.AddAudit(ctx, e); err != nil {
		return err
	}
	t.entries = append(t.entries, e)
	return nil
}

// logged is store.Update with the committed change's audit entries logged.
func (l *Lifecycle) logged(ctx context.Context, fn func(tx abuseguard.CaseTx) error) error {
	var at *auditTx
	err := l.store.Update(ctx, func(tx abuseguard.CaseTx) error {
		at = &auditTx{CaseTx: tx}
		return fn(at)
	})
	if err == nil && at != nil {
		l.logAudit(at.entries)
	}
	return err
}

// loggedBatch is store.UpdateBatch with each committed change's audit
// entries logged. The store may run a change twice (after a change failed
// past its first write it reruns the batch with a savepoint each): each run
// gets a fresh auditTx, so only the committed run's entries are logged.
// The metrics a change counts are counted again then, as they are for a
// change rolled back: they count decisions, not commits.
func (l *Lifecycle) loggedBatch(ctx context.Context, fns []func(tx abuseguard.CaseTx) error) ([]error, error) {
	return l.loggedBatchTo(ctx, fns, l.logAudit)
}

// loggedBatchTo is loggedBatch handing the committed entries, in order, to
// logf in one call.
func (l *Lifecycle) loggedBatchTo(ctx context.Context, fns []func(tx abuseguard.CaseTx) error,
	logf func([]abuseguard.AuditEntry)) ([]error, error) {
	txs := make([]*auditTx, len(fns))
	wrapped := make([]func(abuseguard.CaseTx) error, len(fns))
	for i, fn := range fns {
		wrapped[i] = func(tx abuseguard.CaseTx) error {
			txs[i] = &auditTx{CaseTx: tx}
			return fn(txs[i])
		}
	}
	errs, err := l.store.UpdateBatch(ctx, wrapped)
	if err != nil {
		return errs, err
	}
	var committed []abuseguard.AuditEntry
	for i, t := range txs {
		if t != nil && (i >= len(errs) || errs[i] == nil) {
			committed = append(committed, t.entries...)
		}
	}
	if len(committed) > 0 {
		logf(committed)
	}
	return errs, nil
}

// logAudit logs committed audit entries: "case opened", "block applied",
// "case unblocked", with the case, address, actor and detail as attributes.
func (l *Lifecycle) logAudit(es []abuseguard.AuditEntry) {
	for _, e := range es {
		l.log.Info(strings.ReplaceAll(strings.ReplaceAll(e.Action, ".", " "), "_", " "),
			"case", e.CaseID, "address", e.Address, "actor", e.Actor, "detail", e.Detail)
	}
}
