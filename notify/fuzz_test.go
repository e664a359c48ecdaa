package notify

import (
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary tokens to Links.Verify, the portal's entry
// point for anything a stranger types into /l/{token}: it must never
// panic, and must accept only what Token made.
func FuzzVerify(f *testing.F) {
	l, _ := NewLinks(LinksConfiguration{BaseURL: "https://abuse.example.net", Key: testKey, TTL: time.Hour})
	f.Add(l.Token("AG-7C54AE", PurposeStatus, t0))
	f.Add(l.Token("AG-7C54AE", PurposeStatement, t0))
	f.Add("")
	f.Add("AQEAAAAAZ0AM2UFHLTdDNTRBZBMBXeYrIqZaeg")
	f.Fuzz(func(t *testing.T, token string) {
		id, p, err := l.Verify(token, t0)
		if err != nil {
			return
		}
		if l.Token(id, p, t0) != token {
			t.Fatalf("Verify(%q) accepted a token Token does not make: %q %q", token, id, p)
		}
	})
}

// FuzzVerifySignature feeds arbitrary signature headers to the webhook
// receiver's check.
func FuzzVerifySignature(f *testing.F) {
	secret, body := []byte("whsec-0123456789abcdef"), []byte(`{"id":"ev-1"}`)
	f.Add(Sign(secret, t0, body))
	f.Add("t=1,v1=00")
	f.Add(",,,=")
	f.Fuzz(func(t *testing.T, header string) {
		if VerifySignature(secret, header, body, t0, time.Minute) == nil && header != Sign(secret, t0, body) {
			// Other spellings of a valid signature (spaces, a second
			// v1) are fine; a forged MAC is not.
			if VerifySignature(secret, header, []byte(`{"id":"ev-2"}`), t0, time.Minute) == nil {
				t.Fatalf("header %q verifies for two bodies", header)
			}
		}
	})
}
