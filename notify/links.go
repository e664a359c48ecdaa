package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"abuseguard"
)

// Purpose is what a tokenised link lets its holder do.
type Purpose string

// Link purposes.
const (
	// PurposeStatus shows the case's status page (M8).
	PurposeStatus Purpose = "status"
	// PurposeStatement opens the case's statement form (M11).
	PurposeStatement Purpose = "statement"
)

var purposeByte = map[Purpose]byte{PurposeStatus: 1, PurposeStatement: 2}

const (
	tokenVersion = 1
	// macSize: 128 bits of HMAC-SHA256 are far beyond guessing online
	// (2^128 tries) and keep the link short enough for mail clients that
	// break long lines: a token is about 60 characters.
	macSize = 16
	// minKeySize is 256 bits, the HMAC-SHA256 block strength.
	minKeySize = 32
)

// Links makes and verifies tokenised links: a token names a case and a
// purpose, expires, and is signed with HMAC-SHA256 under a key from the
// configuration, so the portal needs no lookup to trust it. Safe for
// concurrent use.
//
// Token layout (base64url, no padding): version (1 byte) | purpose (1) |
// expiry (8, Unix seconds, big-endian) | case id | MAC (16 bytes of
// HMAC-SHA256 over "abuseguard-link" and everything before it).
type Links struct {
	base string
	key  []byte
	ttl  time.Duration
}

// NewLinks returns the link maker for cfg, or nil when links are disabled
// (no base URL). Errors: a missing or weak key.
func NewLinks(cfg LinksConfiguration) (*Links, error) {
	if cfg.BaseURL == "" {
		return nil, nil
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	key, _ := cfg.key()
	return &Links{base: strings.TrimRight(cfg.BaseURL, "/"), key: key, ttl: cfg.TTL}, nil
}

// key decodes the configured key (hex or base64) and rejects weak ones.
func (l LinksConfiguration) key() ([]byte, error) {
	s := l.Key
	if l.Key != "" && l.KeyFile != "" {
		return nil, errors.New("set key or key_file, not both")
	}
	if l.KeyFile != "" {
		b, err := os.ReadFile(l.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("key_file: %w", err)
		}
		s = strings.TrimSpace(string(b))
	}
	if s == "" {
		return nil, errors.New("key: a signing key is required when base_url is set (openssl rand -hex 32)")
	}
	key, err := decodeKey(s)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if len(key) < minKeySize {
		return nil, fmt.Errorf("key: %d bytes is too short, need at least %d random bytes", len(key), minKeySize)
	}
	// 32 random bytes have about 30 distinct values; fewer than 16 is a
	// pattern ("aaaa...", "0101..."), not a key.
	distinct := map[byte]bool{}
	for _, b := range key {
		distinct[b] = true
	}
	if len(distinct) < 16 {
		return nil, errors.New("key: looks like a pattern, not random bytes")
	}
	return key, nil
}

func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("neither hex nor base64")
}

// Token returns a token for caseID and purpose, valid until issued+TTL.
// The notifier passes the event's time as issued, so that a resent mail
// carries the same link.
func (l *Links) Token(caseID string, p Purpose, issued time.Time) string {
	pb, ok := purposeByte[p]
	if !ok {
		panic("notify: unknown link purpose " + string(p))
	}
	b := make([]byte, 10, 10+len(caseID)+macSize)
	b[0], b[1] = tokenVersion, pb
	binary.BigEndian.PutUint64(b[2:], uint64(issued.Add(l.ttl).Unix()))
	b = append(b, caseID...)
	b = append(b, l.mac(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// URL returns the link for caseID and purpose: BaseURL/l/TOKEN. The
// portal serves /l/{token}, verifies it and shows the page the purpose
// names.
func (l *Links) URL(caseID string, p Purpose, issued time.Time) string {
	return l.base + "/l/" + l.Token(caseID, p, issued)
}

// BaseURL returns the portal's URL without a trailing slash.
func (l *Links) BaseURL() string { return l.base }

func (l *Links) mac(b []byte) []byte {
	h := hmac.New(sha256.New, l.key)
	h.Write([]byte("abuseguard-link"))
	h.Write(b)
	return h.Sum(nil)[:macSize]
}

// Verify checks a token at now and returns the case and purpose it grants.
// The MAC is compared in constant time, and checked before anything in the
// token is believed. Errors: EUNAUTHORIZED (malformed, forged, or expired;
// the message says which of malformed/expired only, never why a MAC failed).
func (l *Links) Verify(token string, now time.Time) (caseID string, p Purpose, err error) {
	bad := abuseguard.Errorf(abuseguard.EUNAUTHORIZED, "The link is not valid.")
	// The decoder skips CR and LF: refuse anything outside the alphabet.
	if len(token) > 256 || strings.ContainsFunc(token, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		return "", "", bad
	}
	// Strict: a token has one spelling only. Lenient decoding accepts
	// other values of the last character's unused bits (found by
	// FuzzVerify), which would let one token pass as several.
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) < 10+1+macSize {
		return "", "", bad
	}
	body, mac := b[:len(b)-macSize], b[len(b)-macSize:]
	if !hmac.Equal(mac, l.mac(body)) || body[0] != tokenVersion {
		return "", "", bad
	}
	for name, v := range purposeByte {
		if v == body[1] {
			p = name
		}
	}
	if p == "" {
		return "", "", bad
	}
	if exp := int64(binary.BigEndian.Uint64(body[2:10])); now.Unix() >= exp {
		return "", "", abuseguard.Errorf(abuseguard.EUNAUTHORIZED, "The link has expired; ask the abuse desk for a new one.")
	}
	return string(body[10:]), p, nil
}
