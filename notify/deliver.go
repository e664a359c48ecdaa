package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"abuseguard"
	"abuseguard/notify/smtp"
)

// errSkipped is a delivery that needs no sending: a webhook not
// subscribed to the event type.
var errSkipped = errors.New("skipped")

func permanent(format string, args ...any) error {
	return &smtp.PermanentError{Err: fmt.Errorf(format, args...)}
}

// deliver sends one delivery and records the outcome in the outbox.
func (n *Notifier) deliver(ctx context.Context, d abuseguard.Delivery) {
	start := time.Now()
	var err error
	switch {
	case d.Channel == ChannelMail:
		err = n.sendMail(ctx, d)
	case strings.HasPrefix(d.Channel, webhookPrefix):
		err = n.sendWebhook(ctx, d)
	default:
		err = permanent("channel %q is not configured in notify", d.Channel)
	}
	n.m.duration.WithLabelValues(d.Channel).Observe(time.Since(start).Seconds())
	n.settle(ctx, d, err)
}

// settle marks the delivery delivered, to be retried, or given up.
func (n *Notifier) settle(ctx context.Context, d abuseguard.Delivery, err error) {
	now := n.now()
	log := n.log.With("event", d.Event.ID, "type", d.Event.Type, "case", d.Event.CaseID, "channel", d.Channel, "attempt", d.Attempts)
	var result string
	var mark error
	switch {
	case err == nil || errors.Is(err, errSkipped):
		result = "delivered"
		if err != nil {
			result = "skipped"
		}
		mark = n.store.MarkDelivered(ctx, d.Event.ID, d.Channel, now)
	case smtp.IsPermanent(err) || d.Attempts >= n.cfg.Delivery.MaxAttempts:
		result = "given_up"
		mark = n.store.MarkFailed(ctx, d.Event.ID, d.Channel, errText(err), time.Time{})
		log.Error("delivery given up", "error", err, "permanent", smtp.IsPermanent(err))
		n.alertGivenUp(ctx, d, err)
	default:
		result = "retry"
		next := now.Add(n.backoff(d.Attempts))
		mark = n.store.MarkFailed(ctx, d.Event.ID, d.Channel, errText(err), next)
		n.warnLimited("delivery failed, will retry", "event", d.Event.ID, "channel", d.Channel,
			"attempt", d.Attempts, "next", next, "error", err)
	}
	n.m.deliveries.WithLabelValues(d.Channel, result).Inc()
	if mark != nil {
		// The lease runs out and the delivery comes back: at worst a
		// resend with the same Message-ID.
		n.m.storeErrors.Inc()
		log.Error("delivery outcome not recorded", "result", result, "error", mark)
	}
}

// backoff returns the wait after the given number of attempts: RetryInitial
// doubling up to RetryMax, randomised to between half and all of it so that
// deliveries failed together do not retry together.
func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.cfg.Delivery.RetryInitial
	for i := 1; i < attempts && d < n.cfg.Delivery.RetryMax; i++ {
		d *= 2
	}
	d = min(d, n.cfg.Delivery.RetryMax)
	return d/2 + time.Duration(n.jitter()*float64(d/2))
}

// errText is the outbox's last_error: one line, bounded.
func errText(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}

// caseInfo is what a delivery needs to know beyond the event.
type caseInfo struct {
	c        *abuseguard.Case // nil for events without a case
	customer abuseguard.Customer
	known    bool // customer found with an address
	server   abuseguard.Server
	// attached is the evidence loaded for the mail, within the size
	// bound; omitted names the files that did not fit.
	attached []abuseguard.Evidence
	omitted  []string
}

// load reads the case (with detections when withEvidence, and the
// evidence data) and looks up the customer and server.
func (n *Notifier) load(ctx context.Context, e abuseguard.Event, withEvidence bool, maxBytes int64) (*caseInfo, error) {
	info := &caseInfo{}
	if e.CaseID != "" {
		err := n.store.View(ctx, func(tx abuseguard.CaseTx) error {
			c, err := tx.CaseDetail(ctx, e.CaseID)
			if err != nil {
				return err
			}
			info.c = c
			if !withEvidence {
				return nil
			}
			i := -1
			var size int64
			for _, det := range c.Detections {
				for _, ev := range det.Evidence {
					i++
					full, err := tx.Evidence(ctx, e.CaseID, i)
					if err != nil {
						return err
					}
					if size+int64(len(full.Data)) > maxBytes {
						// Too big for the mail: named, left to the portal.
						info.omitted = append(info.omitted, ev.Name)
						continue
					}
					info.attached = append(info.attached, *full)
					size += int64(len(full.Data))
				}
			}
			return nil
		})
		if abuseguard.ErrorCode(err) == abuseguard.ENOTFOUND {
			return nil, permanent("case %s of event %s: %w", e.CaseID, e.ID, err)
		} else if err != nil {
			return nil, fmt.Errorf("read case %s: %w", e.CaseID, err)
		}
	}
	customerID := e.CustomerID
	if info.c != nil {
		if customerID == "" {
			customerID = info.c.CustomerID
		}
		if s, ok := n.inv.Server(info.c.ServerID); ok && info.c.ServerID != "" {
			info.server = s
		} else {
			info.server.ID = info.c.ServerID
		}
	}
	if customerID != "" {
		info.customer, info.known = n.inv.Customer(customerID)
		info.known = info.known && info.customer.Email != ""
		if !info.known {
			info.customer.ID = customerID
		}
	}
	return info, nil
}

// mailAddress parses "Name <addr>" or a bare address.
func mailAddress(s string) (smtp.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return smtp.Address{}, err
	}
	return smtp.Address{Name: a.Name, Address: a.Address}, nil
}
