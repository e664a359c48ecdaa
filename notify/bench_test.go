package notify

import (
	"context"
	"testing"
	"time"

	"abuseguard"
)

// BenchmarkComposeMail renders a blocked mail with two evidence files
// read from SQLite: the work per mail besides SMTP.
func BenchmarkComposeMail(b *testing.B) {
	s := newStore(b)
	n := newNotifier(b, testConfig(nil), s, &clock{t: t0}, nil)
	addCase(b, s, caseSpec{id: "AG-7C54AE", customer: "C100", server: "S1", addr: "203.0.113.7",
		reason: abuseguard.ReasonNetscan, state: abuseguard.CaseBlocked, evidence: true})
	e := abuseguard.Event{ID: "ev-1", Type: abuseguard.EventBlocked, CaseID: "AG-7C54AE", CustomerID: "C100", Time: t0}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.composeMail(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLinksVerify(b *testing.B) {
	l, _ := NewLinks(LinksConfiguration{BaseURL: "https://abuse.example.net", Key: testKey, TTL: time.Hour})
	tok := l.Token("AG-7C54AE", PurposeStatus, t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := l.Verify(tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}
