package abuseguard

import (
	"context"
	"time"
)

// EventType names a case event that tells someone something (M7).
type EventType string

// Event types. Each has a mail template in German and English and a webhook
// payload.
const (
	EventWarned            EventType = "warned"             // customer: condition seen, block at the deadline if it persists
	EventReminder          EventType = "reminder"           // customer: the deadline is near
	EventBlocked           EventType = "blocked"            // customer: blocked for abuse from the server
	EventAccessIPSet       EventType = "access_ip_set"      // customer: the access IP is in effect
	EventStatementReceived EventType = "statement_received" // customer: statement received, under review
	EventStatementRejected EventType = "statement_rejected" // customer: not accepted, with the reason
	EventUnblocked         EventType = "unblocked"          // customer: unblocked, probation until ...
	EventFloodBlocked      EventType = "flood_blocked"      // customer: protective blackhole against an attack
	EventFloodLifted       EventType = "flood_lifted"       // customer: the attack ended, blackhole withdrawn
	EventBreakerTripped    EventType = "breaker_tripped"    // operators: automatic blocks capped, approval needed
	EventPendingApproval   EventType = "pending_approval"   // operators: a block waits for approval
)

// Event is one entry of the outbox: written in the same transaction as the
// state change it reports, delivered afterwards by the notifier, so that a
// crash or a mail server outage loses nothing.
type Event struct {
	// ID is unique and stable: the notifier derives the mail Message-ID
	// and the webhook delivery id from it, so a resend after a crash is
	// recognisably the same message.
	ID         string    `json:"id"`
	Type       EventType `json:"type"`
	CaseID     string    `json:"case_id,omitempty"`
	CustomerID string    `json:"customer_id,omitempty"`
	Time       time.Time `json:"time"`
	// Data holds the event's particulars that the case does not: the
	// rejection reason, the deadline at the time, the operator comment.
	Data map[string]string `json:"data,omitempty"`
}

// Delivery is one event to be delivered on one channel.
type Delivery struct {
	Event Event `json:"event"`
	// Channel is "mail" or "webhook:<name>".
	Channel     string    `json:"channel"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
}

// OutboxService is what the notifier needs from the store of record.
type OutboxService interface {
	// ClaimDeliveries leases up to limit deliveries due at now for lease:
	// until the lease runs out nobody else gets them, and if the claimer
	// crashes they come back. Errors: EINTERNAL.
	ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Delivery, error)
	// MarkDelivered records a successful delivery. Errors: ENOTFOUND, EINTERNAL.
	MarkDelivered(ctx context.Context, eventID, channel string, at time.Time) error
	// MarkFailed records a failed attempt and when to try again; a zero
	// next gives up. Errors: ENOTFOUND, EINTERNAL.
	MarkFailed(ctx context.Context, eventID, channel, reason string, next time.Time) error
}
