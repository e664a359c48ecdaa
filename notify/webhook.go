package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"abuseguard"
)

// Webhook request headers.
const (
	// HeaderSignature carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
	// "<t>.<body>" under the webhook's secret>". Receivers recompute it,
	// compare in constant time, and refuse timestamps older than a few
	// minutes (replays). The scheme is Stripe's, so existing receiver code
	// fits; VerifySignature implements the receiver's side.
	HeaderSignature = "Abuseguard-Signature"
	// HeaderEvent is the event type; HeaderDelivery the event id, the same
	// on every retry: receivers deduplicate on it.
	HeaderEvent    = "Abuseguard-Event"
	HeaderDelivery = "Abuseguard-Delivery"
)

type webhook struct {
	cfg    WebhookConfiguration
	secret []byte
}

// Payload is the JSON body of a webhook request.
type Payload struct {
	// ID is the event id, stable across retries.
	ID   string               `json:"id"`
	Type abuseguard.EventType `json:"type"`
	Time time.Time            `json:"time"`
	// Case is the case as it is at delivery (own fields and block), nil
	// for events without a case.
	Case     *abuseguard.Case     `json:"case,omitempty"`
	Customer *abuseguard.Customer `json:"customer,omitempty"`
	Server   *abuseguard.Server   `json:"server,omitempty"`
	// Data is what the event recorded (deadline, rejection reason, ...).
	Data map[string]string `json:"data,omitempty"`
	// Links are the tokenised links the customer's mail carries.
	Links map[string]string `json:"links,omitempty"`
	// Attempt counts deliveries of this event to this webhook, from 1.
	Attempt int `json:"attempt"`
}

// sendWebhook posts one delivery to its webhook. Events the webhook is
// not subscribed to are skipped (marked delivered, counted "skipped").
func (n *Notifier) sendWebhook(ctx context.Context, d abuseguard.Delivery) error {
	name := strings.TrimPrefix(d.Channel, webhookPrefix)
	w := n.webhooks[name]
	if w == nil {
		return permanent("webhook %q is not configured", name)
	}
	if len(w.cfg.Events) > 0 && !slices.Contains(w.cfg.Events, d.Event.Type) {
		return errSkipped
	}
	info, err := n.load(ctx, d.Event, false, 0)
	if err != nil {
		return err
	}
	p := Payload{ID: d.Event.ID, Type: d.Event.Type, Time: d.Event.Time, Data: d.Event.Data, Attempt: d.Attempts}
	if c := info.c; c != nil {
		// The case's own fields: detections and messages are the API's.
		cc := *c
		cc.Detections, cc.Messages, cc.Statuses, cc.Statement = nil, nil, nil, nil
		p.Case = &cc
		if n.links != nil {
			p.Links = map[string]string{
				"status":    n.links.URL(c.ID, PurposeStatus, d.Event.Time),
				"statement": n.links.URL(c.ID, PurposeStatement, d.Event.Time),
			}
		}
		if info.server.ID != "" {
			p.Server = &info.server
		}
	}
	if info.customer.ID != "" {
		p.Customer = &info.customer
	}
	body, err := json.Marshal(p)
	if err != nil {
		return permanent("encode webhook payload: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return permanent("webhook %s: %w", name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "abuseguard")
	req.Header.Set(HeaderEvent, string(d.Event.Type))
	req.Header.Set(HeaderDelivery, d.Event.ID)
	req.Header.Set(HeaderSignature, Sign(w.secret, n.now(), body))
	client := n.http
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", name, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		// Every non-2xx retries, as with Stripe and GitHub: a receiver
		// that answers 4xx today may be fixed tomorrow, and the give-up
		// limit bounds it.
		return fmt.Errorf("webhook %s: %s", name, resp.Status)
	}
	return nil
}

// Sign returns the HeaderSignature value for body at time t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// VerifySignature checks a HeaderSignature value against body as a
// receiver must: the MAC in constant time, and the timestamp within
// tolerance of now (a captured request cannot be replayed later).
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("webhook signature: malformed header")
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		ok = hmac.Equal(s, want) || ok
	}
	if !ok {
		return errors.New("webhook signature: mismatch")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook signature: timestamp outside tolerance")
	}
	return nil
}
