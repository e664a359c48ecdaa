package abuseguard

import (
	"context"
	"net/netip"
	"time"
)

// CaseStore is the store of record as the lifecycle uses it: cases, their
// detections and evidence, blocks, the audit trail and the outbox, changed
// only inside transactions so that every state change is atomic.
//
// Implementations: store (SQLite, the embedded default); a PostgreSQL one
// must pass the same conformance suite (store/storetest).
type CaseStore interface {
	BlockService
	OutboxService
	TokenService

	// View runs fn in a read-only transaction. fn's error is returned as is.
	View(ctx context.Context, fn func(tx CaseTx) error) error
	// Update runs fn in a read-write transaction: everything fn wrote
	// commits together, or nothing does when fn returns an error (returned
	// as is) or the commit fails (EINTERNAL).
	Update(ctx context.Context, fn func(tx CaseTx) error) error
	// UpdateBatch runs every fn in one transaction, each atomic: an fn that
	// returns an error leaves nothing behind and errs[i] holds its error,
	// the others commit together. This is group commit: one fsync for many
	// state changes. An implementation may run an fn more than once (to
	// undo a failed one without a savepoint for each), so fns must have no
	// effect outside tx that a second run would repeat harmfully. err is a
	// failure of the whole transaction, which then committed nothing.
	UpdateBatch(ctx context.Context, fns []func(tx CaseTx) error) (errs []error, err error)
}

// CaseTx is one transaction on a CaseStore. It is valid only inside the
// function it was passed to and not safe for concurrent use. Reads see the
// transaction's own writes.
type CaseTx interface {
	// Case returns a case's own fields and its active block, without
	// detections, statement, statuses or messages. Errors: ENOTFOUND.
	Case(ctx context.Context, id string) (*Case, error)
	// CaseDetail returns a case with everything FindCaseByID shows:
	// detections (evidence names and types, not the data), statement,
	// block, enforcement statuses and messages. Errors: ENOTFOUND.
	CaseDetail(ctx context.Context, id string) (*Case, error)
	// ActiveCase returns the most recently opened case for addr and reason
	// that is not closed. Errors: ENOTFOUND.
	ActiveCase(ctx context.Context, addr netip.Addr, reason Reason) (*Case, error)
	// BlockedCase returns the case whose block is in the desired set for
	// addr, or with a block waiting for approval. Errors: ENOTFOUND.
	BlockedCase(ctx context.Context, addr netip.Addr) (*Case, error)
	// FindCases returns a page of cases, newest first, and the total count
	// matching filter. Errors: EINVALID.
	FindCases(ctx context.Context, filter CaseFilter) ([]*Case, int, error)
	// DueCases returns the ids of up to limit cases whose NextCheck is at
	// or before now, earliest first.
	DueCases(ctx context.Context, now time.Time, limit int) ([]string, error)

	// CreateCase inserts a new case with Version 1 (set on c). Errors:
	// ECONFLICT (the id exists), EINVALID.
	CreateCase(ctx context.Context, c *Case) error
	// UpdateCase writes c's own fields if the stored Version equals
	// c.Version, and increments c.Version. Errors: ENOTFOUND, ECONFLICT
	// (changed since read).
	UpdateCase(ctx context.Context, c *Case) error

	// DetectionOf returns the case a detection was stored with and whether
	// the stored report was the final one. Errors: ENOTFOUND.
	DetectionOf(ctx context.Context, detectionID string) (caseID string, final bool, err error)
	// PutDetection stores d with the case, or replaces the report with the
	// same ID (the final report replaces the first one, evidence
	// included). Errors: ENOTFOUND (no such case).
	PutDetection(ctx context.Context, caseID string, d *Detection) error
	// EvidenceUsage returns how many evidence files and bytes a case holds,
	// not counting those of detection exceptID (the one about to be
	// replaced).
	EvidenceUsage(ctx context.Context, caseID, exceptID string) (files int, bytes int64, err error)
	// Evidence returns the n-th evidence file of a case (0-based, in the
	// order CaseDetail lists them). Errors: ENOTFOUND.
	Evidence(ctx context.Context, caseID string, n int) (*Evidence, error)

	// Statuses returns the enforcers' reports on a case's block.
	Statuses(ctx context.Context, caseID string) ([]BlockStatus, error)
	// PutBlock adds or replaces the case's block in the desired set.
	PutBlock(ctx context.Context, b Block) error
	// DeleteBlock removes the case's block and its statuses; no error when
	// there is none.
	DeleteBlock(ctx context.Context, caseID string) error

	// PutStatement records a statement; the latest one is the case's.
	PutStatement(ctx context.Context, caseID string, st Statement) error
	// AddMessage appends to a case's thread and sets m.ID.
	AddMessage(ctx context.Context, m *Message) error
	// AddAudit appends to the audit trail.
	AddAudit(ctx context.Context, e AuditEntry) error
	// FindAudit returns a page of audit entries, newest first, and the
	// total count matching filter.
	FindAudit(ctx context.Context, filter AuditFilter) ([]AuditEntry, int, error)
	// CountAudit counts entries with action by actor at or after since
	// (the circuit breaker counts automatic blocks this way).
	CountAudit(ctx context.Context, action, actor string, since time.Time) (int, error)
	// AddEvent appends an event to the outbox with one delivery per
	// configured channel, due at e.Time. Errors: ECONFLICT (the id exists).
	AddEvent(ctx context.Context, e Event) error

	// Meta and SetMeta keep small named values (the circuit breaker's
	// state) that must survive a restart. Meta returns "" when unset.
	Meta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
}

// BlockWatcher is implemented by stores that tell when the desired set of
// blocks changes, so that enforcers reconcile within a second of a change
// rather than by polling.
type BlockWatcher interface {
	// BlocksChanged returns a channel closed at the next committed change
	// of the desired set (or of a block's access IP) after the call.
	BlocksChanged() <-chan struct{}
}

// OutboxWatcher is implemented by stores that tell when events were added
// to the outbox, so that the notifier delivers without polling.
type OutboxWatcher interface {
	// EventsAdded returns a channel closed at the next committed
	// transaction that added an event after the call.
	EventsAdded() <-chan struct{}
}
