package notify

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/notify/smtp"

	gocmp "github.com/google/go-cmp/cmp"
)

type hookRequest struct {
	Event, Delivery string
	Payload         Payload
	SigErr          error
}

// hookServer records signed POSTs and fails the first failures of them
// with 503.
func hookServer(t *testing.T, secret string, failures int, now func() time.Time) (*httptest.Server, func() []hookRequest) {
	var mu sync.Mutex
	var reqs []hookRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var hr hookRequest
		hr.Event, hr.Delivery = r.Header.Get(HeaderEvent), r.Header.Get(HeaderDelivery)
		hr.SigErr = VerifySignature([]byte(secret), r.Header.Get(HeaderSignature), body, now(), 5*time.Minute)
		if err := json.Unmarshal(body, &hr.Payload); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		reqs = append(reqs, hr)
		n := len(reqs)
		mu.Unlock()
		if n <= failures || hr.SigErr != nil {
			http.Error(w, "try later", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []hookRequest { mu.Lock(); defer mu.Unlock(); return append([]hookRequest(nil), reqs...) }
}

func TestWebhooks(t *testing.T) {
	clk := &clock{t: t0}
	const secret = "whsec-0123456789abcdef"
	all, allReqs := hookServer(t, secret, 2, clk.Now)
	blocksOnly, blockReqs := hookServer(t, secret, 0, clk.Now)
	cfg := testConfig(nil)
	cfg.Webhooks = []WebhookConfiguration{
		{Name: "tickets", URL: all.URL, Secret: secret},
		{Name: "chat", URL: blocksOnly.URL, Secret: secret, Events: []abuseguard.EventType{abuseguard.EventBlocked}},
	}
	s := newStore(t, cfg.Channels()...)
	n := newNotifier(t, cfg, s, clk, &discardMailer{})
	addCase(t, s, caseSpec{id: "AG-7C54AE", customer: "C200", server: "S2", addr: "198.51.100.20",
		reason: abuseguard.ReasonNetscan, state: abuseguard.CaseBlocked, evidence: true})
	addEvent(t, s, abuseguard.Event{ID: "ev-warn", Type: abuseguard.EventWarned, CaseID: "AG-7C54AE", CustomerID: "C200", Time: t0})
	addEvent(t, s, abuseguard.Event{ID: "ev-block", Type: abuseguard.EventBlocked, CaseID: "AG-7C54AE", CustomerID: "C200", Time: t0,
		Data: map[string]string{"escalation": "1"}})

	for range 4 { // two 503s for the first webhook (one per event), then through
		runOnce(t, n)
		clk.Advance(10 * time.Minute)
	}
	type summary struct {
		Event, Delivery string
		Attempt         int
		Case            string
		Customer        string
		Status          bool
		Signed          bool
	}
	sum := func(rs []hookRequest) []summary {
		var out []summary
		for _, r := range rs {
			s := summary{Event: r.Event, Delivery: r.Delivery, Attempt: r.Payload.Attempt, Signed: r.SigErr == nil,
				Status: r.Payload.Links["status"] != ""}
			if r.Payload.Case != nil {
				s.Case = r.Payload.Case.ID + " " + r.Payload.Case.Address.String()
			}
			if r.Payload.Customer != nil {
				s.Customer = r.Payload.Customer.Email
			}
			out = append(out, s)
		}
		// Two workers deliver in parallel: order by attempt, then event.
		slices.SortFunc(out, func(a, b summary) int {
			return cmp.Or(a.Attempt-b.Attempt, strings.Compare(b.Event, a.Event))
		})
		return out
	}
	c := "AG-7C54AE 198.51.100.20"
	want := []summary{
		{"warned", "ev-warn", 1, c, "ann@customer.example", true, true},
		{"blocked", "ev-block", 1, c, "ann@customer.example", true, true},
		{"warned", "ev-warn", 2, c, "ann@customer.example", true, true},
		{"blocked", "ev-block", 2, c, "ann@customer.example", true, true},
	}
	if diff := gocmp.Diff(sum(allReqs()), want); diff != "" {
		t.Fatalf("webhook tickets (-got, +want):\n%s", diff)
	}
	if diff := gocmp.Diff(sum(blockReqs()), want[1:2]); diff != "" {
		t.Fatalf("webhook chat, blocked only (-got, +want):\n%s", diff)
	}
	if got := counter(n, "webhook:chat", "skipped"); got != 1 {
		t.Fatalf("skipped counter %v, want 1", got)
	}
	ds, _ := s.Deliveries(context.Background())
	for _, d := range ds {
		if d.DeliveredAt.IsZero() {
			t.Fatalf("delivery %s/%s not delivered: %q", d.Event.ID, d.Channel, d.LastError)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	secret, body := []byte("whsec-0123456789abcdef"), []byte(`{"id":"ev-1"}`)
	h := Sign(secret, t0, body)
	tests := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		ok     bool
	}{
		{"valid", h, body, t0.Add(time.Minute), true},
		{"two signatures, one valid (secret rotation)", "t=" + h[2:12] + ",v1=00ff," + h[13:], body, t0, true},
		{"body changed", h, []byte(`{"id":"ev-2"}`), t0, false},
		{"replayed later", h, body, t0.Add(time.Hour), false},
		{"timestamp changed", "t=1700000000" + h[12:], body, t0, false},
		{"no signature", "t=1700000000", body, t0, false},
		{"garbage", "v1=zz", body, t0, false},
	}
	for _, tt := range tests {
		err := VerifySignature(secret, tt.header, tt.body, tt.now, 5*time.Minute)
		if (err == nil) != tt.ok {
			t.Errorf("%s: VerifySignature() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

type discardMailer struct{}

func (discardMailer) Send(context.Context, *smtp.Mail) error { return nil }
func (discardMailer) String() string                         { return "discard" }
