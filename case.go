package abuseguard

import (
	"context"
	"net/netip"
	"time"
)

// CaseState is where a case stands on the road from detection to closing.
//
//	open ─► warned ─► blocked ─► statement_submitted ─► unblocked ─► closed
//	  │        │         ▲  ▲            │                 (probation)
//	  │        └─────────┘  └── rejected ◄┘
//	  └─► pending_approval ─► blocked
//
// Incoming-flood cases go open ─► blocked ─► closed when the attack has
// subsided: the customer did nothing wrong and owes no statement.
type CaseState string

// Case states.
const (
	// CaseOpen: detected, nothing enforced: policy "ignore", a protected
	// address, dry-run, or warm-up. An operator sees it.
	CaseOpen CaseState = "open"
	// CaseWarned: the customer was told and has until Deadline; the block
	// follows if the condition persists past it.
	CaseWarned CaseState = "warned"
	// CasePendingApproval: a block was decided but waits for an operator
	// (circuit breaker tripped, or an escalated repeat offence).
	CasePendingApproval CaseState = "pending_approval"
	// CaseBlocked: the block is in the desired set.
	CaseBlocked CaseState = "blocked"
	// CaseStatementSubmitted: blocked, the customer's statement awaits review.
	CaseStatementSubmitted CaseState = "statement_submitted"
	// CaseRejected: blocked, the statement was not accepted; the customer
	// may submit a new one.
	CaseRejected CaseState = "rejected"
	// CaseUnblocked: the block was withdrawn; probation runs until
	// ProbationUntil, and a repeat offence reopens the case escalated.
	CaseUnblocked CaseState = "unblocked"
	// CaseClosed: done.
	CaseClosed CaseState = "closed"
)

// Blocked reports whether a case in state s has its block in the desired set.
func (s CaseState) Blocked() bool {
	return s == CaseBlocked || s == CaseStatementSubmitted || s == CaseRejected
}

// Action is what policy decides for a detection.
type Action string

// Policy actions.
const (
	ActionIgnore Action = "ignore" // record the case, enforce nothing
	ActionWarn   Action = "warn"   // notify with a deadline, block if it persists
	ActionBlock  Action = "block"  // block at once
)

// Case is one incident against one customer address: its detections and
// evidence, notifications, statement, messages and block.
type Case struct {
	// ID looks like "AG-7C54AE".
	ID         string     `json:"id"`
	Reason     Reason     `json:"reason"`
	Address    netip.Addr `json:"address"`
	ServerID   string     `json:"server_id,omitempty"`
	CustomerID string     `json:"customer_id,omitempty"`
	HostGroup  string     `json:"host_group,omitempty"`
	State      CaseState  `json:"state"`
	// Action is what policy decided when the case opened.
	Action Action `json:"action"`
	// Protected is set when the address is in a protected prefix: such a
	// case is recorded for an operator and never blocked.
	Protected bool `json:"protected,omitempty"`
	// DryRun is set when the block was decided while dry-run was on.
	DryRun bool `json:"dry_run,omitempty"`
	// Note says, for an operator, why nothing is enforced or what the case
	// waits for: "protected address", "warm-up", "dry-run", "policy:
	// ignore", "circuit breaker", "escalated repeat offence".
	Note string `json:"note,omitempty"`
	// Escalation counts repeat offences within probation; above zero an
	// operator must approve the unblock.
	Escalation int `json:"escalation"`
	// AccessIP is the customer's access address while blocked (M9).
	AccessIP netip.Addr `json:"access_ip,omitzero"`

	OpenedAt        time.Time `json:"opened_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	LastDetectionAt time.Time `json:"last_detection_at"`
	WarnedAt        time.Time `json:"warned_at,omitzero"`
	Deadline        time.Time `json:"deadline,omitzero"` // warned: block after this
	RemindedAt      time.Time `json:"reminded_at,omitzero"`
	BlockedAt       time.Time `json:"blocked_at,omitzero"`
	BlockUntil      time.Time `json:"block_until,omitzero"` // a block that lifts itself (floods, timed manual blocks)
	UnblockedAt     time.Time `json:"unblocked_at,omitzero"`
	ProbationUntil  time.Time `json:"probation_until,omitzero"`
	ClosedAt        time.Time `json:"closed_at,omitzero"`

	// DetectionCount counts all detections joined into the case; only the
	// first ones keep their evidence (bounded).
	DetectionCount int `json:"detection_count"`
	// Ongoing counts stored detections whose final report has not come
	// yet: an incoming-flood block does not lift while one is ongoing.
	Ongoing int `json:"ongoing_detections"`
	// NextCheck is when the lifecycle must look at the case again
	// (reminder, deadline, block lifting, probation ending, a warm-up
	// decision); zero when nothing is due. The store indexes it so timers
	// survive a restart.
	NextCheck time.Time `json:"next_check,omitzero"`
	// Version increases with every change; CaseTx.UpdateCase checks it.
	Version int64 `json:"version"`

	// Detections, Statement, Block and Statuses are filled by FindCaseByID
	// only.
	Detections []Detection   `json:"detections,omitempty"`
	Statement  *Statement    `json:"statement,omitempty"`
	Block      *Block        `json:"block,omitempty"`
	Statuses   []BlockStatus `json:"block_statuses,omitempty"`
	Messages   []Message     `json:"messages,omitempty"`
}

// Statement is the customer's written statement (M11).
type Statement struct {
	Cause       string    `json:"cause"`      // what caused the misbehaviour
	Fix         string    `json:"fix"`        // what was done to fix it
	Prevention  string    `json:"prevention"` // what prevents it lastingly
	Commitment  bool      `json:"commitment"` // the customer commits to keep it fixed
	SubmittedAt time.Time `json:"submitted_at"`
	SubmittedBy string    `json:"submitted_by"`
}

// Review is the abuse desk's decision on a statement (M12).
type Review struct {
	Accept bool `json:"accept"`
	// Reason is required when rejecting; it is sent to the customer.
	Reason string `json:"reason,omitempty"`
}

// Message is one message in a case's thread between customer and abuse
// desk (M13): also console requests (M10) and operator notes.
type Message struct {
	ID        int64     `json:"id"`
	CaseID    string    `json:"case_id"`
	Author    string    `json:"author"`
	Role      Role      `json:"role"`
	Kind      string    `json:"kind"` // "message", "console_request", "note" (operators only)
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// AuditEntry records one change: who did what, when, and why.
type AuditEntry struct {
	ID      int64      `json:"id"`
	Time    time.Time  `json:"time"`
	Actor   string     `json:"actor"`  // "system", "operator:alice", "customer:C100"
	Action  string     `json:"action"` // "case.opened", "block.applied", "case.unblocked", ...
	CaseID  string     `json:"case_id,omitempty"`
	Address netip.Addr `json:"address,omitzero"`
	Detail  string     `json:"detail,omitempty"`
}

// CaseFilter selects cases. Zero fields do not filter.
type CaseFilter struct {
	States     []CaseState
	Reason     Reason
	Address    netip.Addr
	ServerID   string
	CustomerID string
	Since      time.Time // opened at or after
	Offset     int
	Limit      int // 0: the implementation's default page size
}

// AuditFilter selects audit entries, newest first. Zero fields do not filter.
type AuditFilter struct {
	CaseID string
	Action string // e.g. "block.applied"
	Since  time.Time
	Offset int
	Limit  int
}

// Status answers "is my server blocked?" (M8) for one address.
type Status struct {
	Address  netip.Addr    `json:"address"`
	Blocked  bool          `json:"blocked"`
	CaseID   string        `json:"case_id,omitempty"`
	Reason   Reason        `json:"reason,omitempty"`
	State    CaseState     `json:"state,omitempty"`
	Since    time.Time     `json:"since,omitzero"`
	AccessIP netip.Addr    `json:"access_ip,omitzero"`
	Statuses []BlockStatus `json:"enforcement,omitempty"`
}

// ManualBlock is an operator's block request.
type ManualBlock struct {
	Address netip.Addr `json:"address"`
	Reason  Reason     `json:"reason"` // default ReasonManual
	Comment string     `json:"comment"`
	// Duration makes the block lift itself; zero means until unblocked.
	Duration time.Duration `json:"duration,omitempty"`
}

// CaseService is what the API, the portal and the CLI do with cases. The
// caller is the Actor in ctx: a customer sees only its own servers' cases
// and gets ENOTFOUND for anything else, never a hint that it exists.
type CaseService interface {
	// FindCaseByID returns the case with detections, statement, block,
	// enforcement statuses and messages. Errors: ENOTFOUND.
	FindCaseByID(ctx context.Context, id string) (*Case, error)
	// FindCases returns a page of cases and the total matching count.
	// Errors: EINVALID (bad filter).
	FindCases(ctx context.Context, filter CaseFilter) ([]*Case, int, error)
	// Evidence returns the n-th evidence file of a case (0-based, in the
	// order FindCaseByID lists them). Errors: ENOTFOUND.
	Evidence(ctx context.Context, caseID string, n int) (*Evidence, error)
	// Status tells whether an address is blocked. Errors: EINVALID,
	// ENOTFOUND (a customer asking about an address not theirs).
	Status(ctx context.Context, addr netip.Addr) (*Status, error)

	// Block blocks an address by an operator's decision. Errors:
	// EUNAUTHORIZED (not an operator), EINVALID (not a customer address,
	// protected address, bad duration), ECONFLICT (already blocked).
	Block(ctx context.Context, req ManualBlock) (*Case, error)
	// Unblock withdraws a case's block (or lifts a pending approval) and
	// starts probation. Errors: EUNAUTHORIZED, ENOTFOUND, ECONFLICT (not
	// blocked).
	Unblock(ctx context.Context, id, comment string) (*Case, error)
	// Approve enforces a block waiting in pending_approval. Errors:
	// EUNAUTHORIZED, ENOTFOUND, ECONFLICT.
	Approve(ctx context.Context, id, comment string) (*Case, error)
	// SetAccessIP sets the one address that may reach the blocked server.
	// Errors: ENOTFOUND, ECONFLICT (not blocked, or the reason allows no
	// access IP), EINVALID (not a public host address, or provider space).
	SetAccessIP(ctx context.Context, id string, addr netip.Addr) (*Case, error)
	// ClearAccessIP removes it. Errors: ENOTFOUND, ECONFLICT.
	ClearAccessIP(ctx context.Context, id string) (*Case, error)
	// SubmitStatement records the customer's statement. Errors:
	// ENOTFOUND, ECONFLICT (not blocked), EINVALID (a field missing or too long).
	SubmitStatement(ctx context.Context, id string, st Statement) (*Case, error)
	// Review accepts (unblock, probation) or rejects (stays blocked) the
	// statement. An escalated case takes two operators (four eyes): the
	// first acceptance is recorded and the case stays blocked; a second,
	// different operator's acceptance approves the unblock. Errors:
	// EUNAUTHORIZED, ENOTFOUND, ECONFLICT (no statement pending, or
	// escalated and the operator who accepted it tries to approve the
	// unblock too), EINVALID (rejection without reason).
	Review(ctx context.Context, id string, r Review) (*Case, error)
	// AddMessage appends to the case's thread. Errors: ENOTFOUND, EINVALID.
	AddMessage(ctx context.Context, id string, m Message) (*Message, error)
}

// AuditService reads the audit trail. Errors: EUNAUTHORIZED (not an
// operator), EINVALID (bad filter).
type AuditService interface {
	FindAudit(ctx context.Context, filter AuditFilter) ([]AuditEntry, int, error)
}
