package notify

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"abuseguard"
)

func TestLinks(t *testing.T) {
	l, err := NewLinks(LinksConfiguration{BaseURL: "https://abuse.example.net/", Key: testKey, TTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tok := l.Token("AG-7C54AE", PurposeStatement, t0)
	if u := l.URL("AG-7C54AE", PurposeStatement, t0); u != "https://abuse.example.net/l/"+tok {
		t.Fatalf("URL() = %q", u)
	}
	id, p, err := l.Verify(tok, t0.Add(23*time.Hour))
	if err != nil || id != "AG-7C54AE" || p != PurposeStatement {
		t.Fatalf("Verify() = %q, %q, %v; want AG-7C54AE, statement, nil", id, p, err)
	}
	if _, p, _ := l.Verify(l.Token("AG-7C54AE", PurposeStatus, t0), t0); p != PurposeStatus {
		t.Fatalf("status token verified as %q", p)
	}
	if l.Token("AG-7C54AE", PurposeStatement, t0) != tok {
		t.Fatal("Token() is not stable for the same case, purpose and time")
	}

	other, _ := NewLinks(LinksConfiguration{BaseURL: "https://abuse.example.net", TTL: 24 * time.Hour,
		Key: "c2a4f0e19b8d7c6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa0918"})
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	bad := []struct {
		name  string
		token string
		at    time.Time
		msg   string
	}{
		{"expired", tok, t0.Add(24 * time.Hour), "expired"},
		{"other key", other.Token("AG-7C54AE", PurposeStatement, t0), t0, "not valid"},
		{"empty", "", t0, "not valid"},
		{"not base64", "!!!", t0, "not valid"},
		{"truncated", tok[:len(tok)-4], t0, "not valid"},
		{"too long", strings.Repeat("A", 300), t0, "not valid"},
	}
	// Every single flipped bit is refused: case id, purpose, expiry, MAC.
	for i := range raw {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		bad = append(bad, struct {
			name  string
			token string
			at    time.Time
			msg   string
		}{"byte " + string(rune('0'+i%10)), base64.RawURLEncoding.EncodeToString(b), t0, "not valid"})
	}
	for _, tt := range bad {
		id, _, err := l.Verify(tt.token, tt.at)
		if abuseguard.ErrorCode(err) != abuseguard.EUNAUTHORIZED || !strings.Contains(err.Error(), tt.msg) || id != "" {
			t.Errorf("Verify(%s) = %q, %v; want EUNAUTHORIZED %q", tt.name, id, err, tt.msg)
		}
	}
}

func TestLinksKeyValidation(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{"hex", testKey, ""},
		{"base64", base64.StdEncoding.EncodeToString([]byte("0123456789abcdefghijklmnopqrstuvwxyz")), ""},
		{"missing", "", "a signing key is required"},
		{"short", "00112233445566778899aabbccddeeff", "16 bytes is too short"},
		{"pattern", strings.Repeat("ab", 32), "looks like a pattern"},
		{"passphrase", "correct horse battery staple!", "neither hex nor base64"},
	}
	for _, tt := range tests {
		err := LinksConfiguration{BaseURL: "https://abuse.example.net", Key: tt.key, TTL: time.Hour}.validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: validate() = %q, want %q", tt.name, got, tt.want)
		}
	}
	if err := (LinksConfiguration{}).validate(); err != nil {
		t.Errorf("links disabled: validate() = %v, want nil", err)
	}
}
