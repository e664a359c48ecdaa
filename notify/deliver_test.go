package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/notify/smtp/smtptest"

	"github.com/google/go-cmp/cmp"
)

func TestBackoff(t *testing.T) {
	n := &Notifier{cfg: DefaultConfiguration()} // 30s doubling to 1h
	tests := []struct {
		attempts int
		jitter   float64
		want     time.Duration
	}{
		{1, 0, 15 * time.Second},
		{1, 0.999999, 30 * time.Second},
		{2, 0, 30 * time.Second},
		{3, 0.5, 90 * time.Second}, // 2m: between 1m and 2m
		{8, 0, 30 * time.Minute},   // 30s·2^7 = 64m, capped at 1h
		{40, 0.999999, time.Hour},
		{1000, 0, 30 * time.Minute}, // no overflow
	}
	for _, tt := range tests {
		n.jitter = func() float64 { return tt.jitter }
		if got := n.backoff(tt.attempts).Round(time.Second); got != tt.want {
			t.Errorf("backoff(%d) with jitter %v = %v, want %v", tt.attempts, tt.jitter, got, tt.want)
		}
	}
}

// TestSMTPDownThenUp: events happen while the mail server is down; every
// delivery fails and is scheduled with backoff; once the server is back
// and the backoff has passed, each message arrives exactly once.
func TestSMTPDownThenUp(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{TLS: smtptest.StartTLS, Username: "ag", Password: "s3cret"})
	s := newStore(t)
	clk := &clock{t: t0}
	n := newNotifier(t, testConfig(srv), s, clk, nil)
	addCase(t, s, caseSpec{id: "AG-7C54AE", customer: "C200", server: "S2", addr: "198.51.100.20",
		reason: abuseguard.ReasonNetscan, state: abuseguard.CaseBlocked, evidence: true})

	srv.Stop()
	const events = 6
	for i := range events {
		addEvent(t, s, abuseguard.Event{ID: "ev-" + string(rune('a'+i)), Type: EventTypes[i], CaseID: "AG-7C54AE",
			CustomerID: "C200", Time: t0})
	}
	if got := runOnce(t, n); got != events {
		t.Fatalf("RunOnce() with the server down handled %d, want %d", got, events)
	}
	ds, _ := s.Deliveries(context.Background())
	for _, d := range ds {
		// jitter 0.5: 3/4 of RetryInitial.
		if d.Attempts != 1 || !d.DeliveredAt.IsZero() || !d.NextAttempt.Equal(t0.Add(22500*time.Millisecond)) ||
			!strings.Contains(d.LastError, "connect") {
			t.Fatalf("delivery %s after a failure: attempts %d, delivered %v, next %v, error %q; want 1, not delivered, next %v, a connection error",
				d.Event.ID, d.Attempts, d.DeliveredAt, d.NextAttempt, d.LastError, t0.Add(22500*time.Millisecond))
		}
	}
	if got := counter(n, "mail", "retry"); got != events {
		t.Fatalf("retry counter %v, want %d", got, events)
	}

	srv.Start()
	if got := runOnce(t, n); got != 0 {
		t.Fatalf("RunOnce() before the backoff passed handled %d, want 0", got)
	}
	clk.Advance(time.Minute)
	if got := runOnce(t, n); got != events {
		t.Fatalf("RunOnce() after the backoff handled %d, want %d", got, events)
	}
	clk.Advance(time.Hour)
	runOnce(t, n)
	seen := map[string]int{}
	for _, m := range srv.Messages() {
		p, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		seen[p.Header.Get("Message-Id")]++
	}
	want := map[string]int{}
	for i := range events {
		want["<ev-"+string(rune('a'+i))+"@example.net>"] = 1
	}
	if diff := cmp.Diff(seen, want); diff != "" {
		t.Fatalf("messages by Message-ID (-got, +want):\n%s", diff)
	}
	ds, _ = s.Deliveries(context.Background())
	for _, d := range ds {
		if d.DeliveredAt.IsZero() || d.Attempts != 2 {
			t.Fatalf("delivery %s: delivered %v after %d attempts, want delivered after 2", d.Event.ID, d.DeliveredAt, d.Attempts)
		}
	}
}

// TestGiveUp: a permanent refusal gives up at once and alerts the
// operators; temporary failures give up after MaxAttempts.
func TestGiveUp(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{TLS: smtptest.StartTLS, Username: "ag", Password: "s3cret",
		RejectRcpt: []string{"ann@customer.example"}})
	s := newStore(t)
	clk := &clock{t: t0}
	cfg := testConfig(srv)
	cfg.Delivery.MaxAttempts = 3
	n := newNotifier(t, cfg, s, clk, nil)
	addCase(t, s, caseSpec{id: "AG-000A00", customer: "C200", server: "S2", addr: "198.51.100.20",
		reason: abuseguard.ReasonNetscan, state: abuseguard.CaseBlocked})
	addCase(t, s, caseSpec{id: "AG-000B00", customer: "C100", server: "S1", addr: "203.0.113.7",
		reason: abuseguard.ReasonNetscan, state: abuseguard.CaseBlocked})

	addEvent(t, s, abuseguard.Event{ID: "ev-refused", Type: abuseguard.EventBlocked, CaseID: "AG-000A00", CustomerID: "C200", Time: t0})
	runOnce(t, n)
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "noc@example.net" {
		t.Fatalf("after a refused recipient: %d messages %v, want the operator alert only", len(msgs), msgs)
	}
	p, _ := smtptest.Parse(msgs[0].Data)
	if want := "[AG-000A00] Customer not notified: blocked mail given up"; p.Subject != want ||
		!strings.Contains(p.Text, "550") || !strings.Contains(p.Text, "ann@customer.example") {
		t.Fatalf("alert subject %q, want %q, naming the address and the 550:\n%s", p.Subject, want, p.Text)
	}
	if got := counter(n, "mail", "given_up"); got != 1 {
		t.Fatalf("given_up counter %v, want 1", got)
	}

	srv.Stop()
	addEvent(t, s, abuseguard.Event{ID: "ev-down", Type: abuseguard.EventBlocked, CaseID: "AG-000B00", CustomerID: "C100", Time: clk.Now()})
	for range cfg.Delivery.MaxAttempts {
		runOnce(t, n)
		clk.Advance(time.Hour)
	}
	ds, _ := s.Deliveries(context.Background())
	got := map[string]string{}
	for _, d := range ds {
		state := "pending"
		if !d.DeliveredAt.IsZero() {
			state = "delivered"
		} else if d.NextAttempt.IsZero() {
			state = "given up after " + string(rune('0'+d.Attempts))
		}
		got[d.Event.ID] = state
	}
	want := map[string]string{"ev-refused": "given up after 1", "ev-down": "given up after 3"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("deliveries (-got, +want):\n%s", diff)
	}
	if got := runOnce(t, n); got != 0 {
		t.Fatalf("RunOnce() after giving up handled %d, want 0", got)
	}
}

// TestMaildirDefault: with the embedded defaults (no SMTP host), mails
// land in the data directory's maildir.
func TestMaildirDefault(t *testing.T) {
	s := newStore(t)
	dataDir := t.TempDir()
	cfg := DefaultConfiguration()
	n, err := New(discard(), cfg, Dependencies{Store: s, Inventory: testInventory(), DataDir: dataDir, Clock: (&clock{t: t0}).Now})
	if err != nil {
		t.Fatal(err)
	}
	addCase(t, s, caseSpec{id: "AG-7C54AE", customer: "C200", server: "S2", addr: "198.51.100.20",
		reason: abuseguard.ReasonNetscan, state: abuseguard.CaseBlocked, evidence: true})
	addEvent(t, s, abuseguard.Event{ID: "ev-1", Type: abuseguard.EventBlocked, CaseID: "AG-7C54AE", CustomerID: "C200", Time: t0})
	runOnce(t, n)
	files := mustGlob(t, dataDir+"/maildir/new/*")
	if len(files) != 1 {
		t.Fatalf("maildir new/ holds %v, want one mail", files)
	}
	p, err := smtptest.Parse(mustRead(t, files[0]))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[AG-7C54AE] Netscan detected from 198.51.100.20: server blocked"; p.Subject != want || len(p.Attachments) != 2 {
		t.Fatalf("maildir mail: subject %q with %d attachments, want %q with 2", p.Subject, len(p.Attachments), want)
	}
}

// TestLateReminderSkipped: a reminder that could only be sent after its
// deadline is not sent.
func TestLateReminderSkipped(t *testing.T) {
	s := newStore(t)
	clk := &clock{t: t0.Add(25 * time.Hour)}
	rec := &recordingMailer{}
	n := newNotifier(t, testConfig(nil), s, clk, rec)
	addCase(t, s, caseSpec{id: "AG-7C54AE", customer: "C200", server: "S2", addr: "198.51.100.20",
		reason: abuseguard.ReasonNetscan, state: abuseguard.CaseBlocked})
	for i, dl := range []time.Time{t0.Add(24 * time.Hour), t0.Add(48 * time.Hour)} {
		addEvent(t, s, abuseguard.Event{ID: "ev-" + string(rune('1'+i)), Type: abuseguard.EventReminder, CaseID: "AG-7C54AE",
			CustomerID: "C200", Time: t0, Data: map[string]string{"deadline": dl.Format(time.RFC3339)}})
	}
	runOnce(t, n)
	if diff := cmp.Diff(rec.ids(), []string{"ev-2@example.net"}); diff != "" {
		t.Fatalf("mails sent (-got, +want):\n%s", diff)
	}
	if got := counter(n, "mail", "skipped"); got != 1 {
		t.Fatalf("skipped counter %v, want 1", got)
	}
}
