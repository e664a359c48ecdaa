package notify

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/notify/smtp/smtptest"

	"github.com/google/go-cmp/cmp"
)

// TestMailOverSMTP delivers events through a real SMTP server with
// STARTTLS and AUTH PLAIN and checks what arrives: recipients, language,
// subject, threading, and attachments byte-equal to the stored evidence.
func TestMailOverSMTP(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{TLS: smtptest.StartTLS, Username: "ag", Password: "s3cret"})
	s := newStore(t)
	clk := &clock{t: t0}
	n := newNotifier(t, testConfig(srv), s, clk, nil)

	addCase(t, s, caseSpec{id: "AG-7C54AE", customer: "C100", server: "S1", addr: "203.0.113.7",
		reason: abuseguard.ReasonNetscan, state: abuseguard.CaseBlocked, evidence: true})
	addCase(t, s, caseSpec{id: "AG-000B0B", customer: "C200", server: "S2", addr: "198.51.100.20",
		reason: abuseguard.ReasonMisconfiguration, state: abuseguard.CaseWarned})
	events := []abuseguard.Event{
		{ID: "ev-1", Type: abuseguard.EventWarned, CaseID: "AG-7C54AE", CustomerID: "C100", Time: t0,
			Data: map[string]string{"deadline": t0.Add(24 * time.Hour).Format(time.RFC3339)}},
		{ID: "ev-2", Type: abuseguard.EventBlocked, CaseID: "AG-7C54AE", CustomerID: "C100", Time: t0},
		{ID: "ev-3", Type: abuseguard.EventWarned, CaseID: "AG-000B0B", CustomerID: "C200", Time: t0},
		{ID: "ev-4", Type: abuseguard.EventBreakerTripped, Time: t0,
			Data: map[string]string{"blocks": "20", "window": "10m0s", "first_case": "AG-7C54AE"}},
	}
	for _, e := range events {
		addEvent(t, s, e)
	}
	if got := runOnce(t, n); got != len(events) {
		t.Fatalf("RunOnce() handled %d, want %d", got, len(events))
	}
	msgs := srv.Messages()
	if len(msgs) != len(events) {
		t.Fatalf("%d messages arrived, want %d", len(msgs), len(events))
	}
	type summary struct {
		To                              []string
		Subject, MessageID, Refs, Reply string
		German                          bool
		Attachments                     []string
	}
	got := map[string]summary{}
	for _, m := range msgs {
		if !m.TLS || m.Auth != "ag" {
			t.Fatalf("message sent without TLS or AUTH: TLS %v, auth %q", m.TLS, m.Auth)
		}
		p, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range p.Attachments {
			names = append(names, a.Filename+" "+a.ContentType)
		}
		got[p.Header.Get("X-Abuseguard-Event-Id")] = summary{To: m.To, Subject: p.Subject,
			MessageID: p.Header.Get("Message-Id"), Refs: p.Header.Get("References"), Reply: p.Header.Get("Reply-To"),
			German: strings.Contains(p.Text, "Guten Tag"), Attachments: names}
	}
	want := map[string]summary{
		"ev-1": {To: []string{"joerg@kunde.example"}, German: true,
			Subject:   "[AG-7C54AE] Netscan festgestellt von 203.0.113.7: Handlungsbedarf bis 24.10.2024, 06:47 Uhr CEST (UTC+02:00)",
			MessageID: "<ev-1@example.net>", Refs: "<case.AG-7C54AE@example.net>", Reply: "<abuse+AG-7C54AE@example.net>",
			Attachments: []string{"AG-7C54AE-netscan.txt text/plain", "AG-7C54AE-traffic.pcap application/vnd.tcpdump.pcap"}},
		"ev-2": {To: []string{"joerg@kunde.example"}, German: true,
			Subject:   "[AG-7C54AE] Netscan festgestellt von 203.0.113.7: Server gesperrt",
			MessageID: "<ev-2@example.net>", Refs: "<case.AG-7C54AE@example.net>", Reply: "<abuse+AG-7C54AE@example.net>",
			Attachments: []string{"AG-7C54AE-netscan.txt text/plain", "AG-7C54AE-traffic.pcap application/vnd.tcpdump.pcap"}},
		"ev-3": {To: []string{"ann@customer.example"},
			Subject:   "[AG-000B0B] Faulty network configuration on 198.51.100.20: action needed by 2024-10-24 06:47 CEST (UTC+02:00)",
			MessageID: "<ev-3@example.net>", Refs: "<case.AG-000B0B@example.net>", Reply: "<abuse+AG-000B0B@example.net>"},
		"ev-4": {To: []string{"noc@example.net"},
			Subject:   "[abuseguard] Circuit breaker tripped: 20 automatic blocks within 10 min",
			MessageID: "<ev-4@example.net>"},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("messages (-got, +want):\n%s", diff)
	}

	// The attachments are the stored evidence, byte for byte.
	var stored []*abuseguard.Evidence
	s.View(context.Background(), func(tx abuseguard.CaseTx) error {
		for i := range 2 {
			e, err := tx.Evidence(context.Background(), "AG-7C54AE", i)
			if err != nil {
				t.Fatal(err)
			}
			stored = append(stored, e)
		}
		return nil
	})
	for _, m := range msgs {
		p, _ := smtptest.Parse(m.Data)
		for i, a := range p.Attachments {
			if !bytes.Equal(a.Data, stored[i].Data) {
				t.Fatalf("attachment %s differs from the stored evidence %s", a.Filename, stored[i].Name)
			}
		}
	}

	// Everything is marked delivered; nothing is sent again.
	ds, _ := s.Deliveries(context.Background())
	for _, d := range ds {
		if d.DeliveredAt.IsZero() || d.Attempts != 1 {
			t.Fatalf("delivery %s/%s: delivered %v after %d attempts, want delivered after 1", d.Event.ID, d.Channel, d.DeliveredAt, d.Attempts)
		}
	}
	clk.Advance(time.Hour)
	if got := runOnce(t, n); got != 0 || len(srv.Messages()) != len(events) {
		t.Fatalf("second RunOnce() handled %d, server has %d messages: want 0 and %d", got, len(srv.Messages()), len(events))
	}
	if got := counter(n, "mail", "delivered"); got != 4 {
		t.Fatalf("delivered counter %v, want 4", got)
	}
}

// TestMailFallbackAndCopies: a customer without address gets its mail to
// the operators with a note; copy_operators adds them as Bcc.
func TestMailFallbackAndCopies(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{TLS: smtptest.StartTLS, Username: "ag", Password: "s3cret"})
	s := newStore(t)
	clk := &clock{t: t0}
	cfg := testConfig(srv)
	cfg.Mail.CopyOperators = true
	n := newNotifier(t, cfg, s, clk, nil)
	addCase(t, s, caseSpec{id: "AG-00000A", customer: "C300", server: "S9", addr: "192.0.2.99",
		reason: abuseguard.ReasonAbuse, state: abuseguard.CaseWarned})
	addCase(t, s, caseSpec{id: "AG-00000B", customer: "C200", server: "S2", addr: "198.51.100.20",
		reason: abuseguard.ReasonAbuse, state: abuseguard.CaseWarned})
	addEvent(t, s, abuseguard.Event{ID: "ev-a", Type: abuseguard.EventWarned, CaseID: "AG-00000A", CustomerID: "C300", Time: t0})
	addEvent(t, s, abuseguard.Event{ID: "ev-b", Type: abuseguard.EventWarned, CaseID: "AG-00000B", CustomerID: "C200", Time: t0})
	runOnce(t, n)
	got := map[string][]string{}
	for _, m := range srv.Messages() {
		p, _ := smtptest.Parse(m.Data)
		got[p.Header.Get("X-Abuseguard-Event-Id")] = m.To
		if p.Header.Get("X-Abuseguard-Event-Id") == "ev-a" && !strings.Contains(p.Text, "no customer e-mail address is known for customer C300") {
			t.Fatalf("fallback mail lacks the note to the abuse desk:\n%s", p.Text)
		}
		if p.Header.Get("Bcc") != "" {
			t.Fatalf("Bcc header visible in the message: %q", p.Header.Get("Bcc"))
		}
	}
	want := map[string][]string{"ev-a": {"noc@example.net"}, "ev-b": {"ann@customer.example", "noc@example.net"}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("recipients (-got, +want):\n%s", diff)
	}
}

// TestStartWakesOnEvents: the running loop delivers an event as soon as it
// is committed, without waiting for the poll interval.
func TestStartWakesOnEvents(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{TLS: smtptest.StartTLS, Username: "ag", Password: "s3cret"})
	s := newStore(t)
	clk := &clock{t: t0}
	cfg := testConfig(srv)
	cfg.Delivery.PollInterval = time.Hour // only the store's wake-up can deliver in time
	n := newNotifier(t, cfg, s, clk, nil)
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	addCase(t, s, caseSpec{id: "AG-7C54AE", customer: "C100", server: "S1", addr: "203.0.113.7",
		reason: abuseguard.ReasonNetscan, state: abuseguard.CaseBlocked})
	for i, typ := range []abuseguard.EventType{abuseguard.EventBlocked, abuseguard.EventUnblocked} {
		addEvent(t, s, abuseguard.Event{ID: "ev-" + string(typ), Type: typ, CaseID: "AG-7C54AE", CustomerID: "C100", Time: t0})
		if got := srv.WaitFor(i+1, 20*time.Second); len(got) != i+1 {
			t.Fatalf("%d messages within 20s of committing event %d, want %d", len(got), i+1, i+1)
		}
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestInjectionEndToEnd puts hostile strings where data reaches a mail:
// the customer's name and address from the inventory, the abuse desk's
// rejection reason (with an SMTP smuggling attempt), and checks at a real
// SMTP server that each mail went to its one recipient, added no header,
// and carried the reason as text.
func TestInjectionEndToEnd(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{TLS: smtptest.StartTLS, Username: "ag", Password: "s3cret"})
	s := newStore(t)
	clk := &clock{t: t0}
	inv := testInventory()
	inv.customers["C666"] = abuseguard.Customer{ID: "C666", Name: "Mallory\r\nBcc: victim@evil.example", Email: "m@customer.example", Language: "en"}
	inv.customers["C667"] = abuseguard.Customer{ID: "C667", Name: "Eve", Email: "e@customer.example\r\nBcc: victim@evil.example"}
	n, err := New(discard(), testConfig(srv), Dependencies{Store: s, Inventory: inv, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	addCase(t, s, caseSpec{id: "AG-000666", customer: "C666", addr: "198.51.100.66", reason: abuseguard.ReasonAbuse, state: abuseguard.CaseRejected})
	addCase(t, s, caseSpec{id: "AG-000667", customer: "C667", addr: "198.51.100.67", reason: abuseguard.ReasonAbuse, state: abuseguard.CaseBlocked})
	reason := "Not enough.\r\n.\r\nMAIL FROM:<x@evil.example>\r\nRCPT TO:<victim@evil.example>\r\nDATA\r\nSubject: forged\n.\n"
	addEvent(t, s, abuseguard.Event{ID: "ev-666", Type: abuseguard.EventStatementRejected, CaseID: "AG-000666", CustomerID: "C666",
		Time: t0, Data: map[string]string{"reason": reason}})
	addEvent(t, s, abuseguard.Event{ID: "ev-667", Type: abuseguard.EventBlocked, CaseID: "AG-000667", CustomerID: "C667", Time: t0})
	runOnce(t, n)

	got := map[string][]string{}
	for _, m := range srv.Messages() {
		p, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Bcc") != "" || p.Header.Get("Subject") == "forged" {
			t.Fatalf("injected header in:\n%s", m.Data)
		}
		got[p.Header.Get("X-Abuseguard-Event")+" "+p.Header.Get("X-Abuseguard-Event-Id")] = m.To
		if strings.Contains(p.Text, "Not enough.") && !strings.Contains(p.Text, "RCPT TO:<victim@evil.example>") {
			t.Fatalf("the reason was not carried as text:\n%s", p.Text)
		}
	}
	want := map[string][]string{
		"statement_rejected ev-666": {"m@customer.example"},
		// The malformed address is refused, not sent: the operators hear of it.
		"delivery_failed ev-667": {"noc@example.net"},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("messages (-got, +want):\n%s", diff)
	}
}
