package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"abuseguard"
)

// AddEvent implements abuseguard.CaseTx.
func (t *tx) AddEvent(ctx context.Context, e abuseguard.Event) error {
	if e.ID == "" || e.Type == "" || e.Time.IsZero() {
		return abuseguard.Errorf(abuseguard.EINVALID, "An event needs an id, a type and a time.")
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return internal("encode event", err)
	}
	res, err := t.exec(ctx, `INSERT INTO events (id, type, case_id, customer_id, time, data) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, e.ID, string(e.Type), e.CaseID, e.CustomerID, e.Time.UnixNano(), string(data))
	if err != nil {
		return internal("add event", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return abuseguard.Errorf(abuseguard.ECONFLICT, "Event %s exists.", e.ID)
	}
	for _, ch := range t.s.channels {
		t.def.deliveries = append(t.def.deliveries, delivery{e.ID, ch, e.Time.UnixNano()})
	}
	t.events = true
	return nil
}

const deliveryQuery = `SELECT e.id, e.type, e.case_id, e.customer_id, e.time, e.data,
	d.channel, d.attempts, d.next_attempt, d.last_error, d.delivered_at
	FROM deliveries d JOIN events e ON e.id = d.event_id`

func scanDelivery(r scanner) (abuseguard.Delivery, error) {
	var (
		d               abuseguard.Delivery
		at              int64
		data            string
		next, delivered sql.NullInt64
	)
	err := r.Scan(&d.Event.ID, &d.Event.Type, &d.Event.CaseID, &d.Event.CustomerID, &at, &data,
		&d.Channel, &d.Attempts, &next, &d.LastError, &delivered)
	if err != nil {
		return d, err
	}
	d.Event.Time, d.NextAttempt, d.DeliveredAt = time.Unix(0, at).UTC(), tval(next), tval(delivered)
	if err := json.Unmarshal([]byte(data), &d.Event.Data); err != nil {
		return d, err
	}
	return d, nil
}

// ClaimDeliveries implements abuseguard.OutboxService. Attempts in the
// result counts this attempt: a claim is an attempt even if the claimer
// crashes before reporting.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]abuseguard.Delivery, error) {
	var ds []abuseguard.Delivery
	err := s.Update(ctx, func(atx abuseguard.CaseTx) error {
		t := atx.(*tx)
		rows, err := t.query(ctx, deliveryQuery+` WHERE d.next_attempt IS NOT NULL AND d.next_attempt <= ?
			AND (d.lease_until IS NULL OR d.lease_until <= ?) ORDER BY d.next_attempt, e.seq LIMIT ?`,
			now.UnixNano(), now.UnixNano(), limit)
		if err != nil {
			return internal("claim deliveries", err)
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return internal("scan delivery", err)
			}
			d.Attempts++
			ds = append(ds, d)
		}
		if err := rows.Err(); err != nil {
			return internal("claim deliveries", err)
		}
		rows.Close()
		for _, d := range ds {
			if _, err := t.exec(ctx, `UPDATE deliveries SET lease_until = ?, attempts = attempts + 1
				WHERE event_id = ? AND channel = ?`, now.Add(lease).UnixNano(), d.Event.ID, d.Channel); err != nil {
				return internal("lease delivery", err)
			}
		}
		return nil
	})
	return ds, err
}

// MarkDelivered implements abuseguard.OutboxService.
func (s *Store) MarkDelivered(ctx context.Context, eventID, channel string, at time.Time) error {
	return s.mark(ctx, "Delivery", `UPDATE deliveries SET delivered_at = ?, next_attempt = NULL, lease_until = NULL,
		last_error = '' WHERE event_id = ? AND channel = ?`, at.UnixNano(), eventID, channel)
}

// MarkFailed implements abuseguard.OutboxService.
func (s *Store) MarkFailed(ctx context.Context, eventID, channel, reason string, next time.Time) error {
	return s.mark(ctx, "Delivery", `UPDATE deliveries SET last_error = ?, next_attempt = ?, lease_until = NULL
		WHERE event_id = ? AND channel = ?`, reason, tcol(next), eventID, channel)
}

func (s *Store) mark(ctx context.Context, what, query string, args ...any) error {
	return s.Update(ctx, func(atx abuseguard.CaseTx) error {
		res, err := atx.(*tx).exec(ctx, query, args...)
		if err != nil {
			return internal("mark delivery", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound(what)
		}
		return nil
	})
}

// Deliveries lists every delivery of every event, oldest event first: for
// tests and operator inspection, not for the notifier's loop.
func (s *Store) Deliveries(ctx context.Context) ([]abuseguard.Delivery, error) {
	var ds []abuseguard.Delivery
	err := s.View(ctx, func(atx abuseguard.CaseTx) error {
		rows, err := atx.(*tx).query(ctx, deliveryQuery+` ORDER BY e.seq, d.channel`)
		if err != nil {
			return internal("list deliveries", err)
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return internal("scan delivery", err)
			}
			ds = append(ds, d)
		}
		return rows.Err()
	})
	return ds, err
}
