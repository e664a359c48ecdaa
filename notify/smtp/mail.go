package smtp

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"
)

// Address is a mailbox: a display name (may be empty) and an address.
type Address struct {
	Name    string
	Address string
}

// Attachment is a file attached to a mail, sent base64-encoded.
type Attachment struct {
	Name        string
	ContentType string
	Data        []byte
}

// Mail is one message as the notifier composed it. Header values are
// taken as untrusted: Build removes line breaks and other control
// characters from them, so that nothing in a customer name, a comment or a
// subject can add a header or a recipient.
type Mail struct {
	// MessageID, InReplyTo and References are message ids without the
	// angle brackets, e.g. "ev-0123@abuse.example.net".
	MessageID  string
	InReplyTo  string
	References []string
	Date       time.Time
	From       Address
	To         []Address
	Bcc        []Address
	ReplyTo    *Address
	Subject    string
	// Text is the plain-text body; HTML, when set, is its alternative.
	Text string
	HTML string
	// Headers are extra header fields ("X-Abuseguard-Case"); names must
	// be of letters, digits and dashes.
	Headers     map[string]string
	Attachments []Attachment
}

// PermanentError marks a failure that retrying cannot fix: a malformed
// address, a recipient or message the server refused with a 5xx code.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is (or wraps) a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

func permanent(format string, args ...any) error {
	return &PermanentError{Err: fmt.Errorf(format, args...)}
}

// headerText returns s as one line of printable text: line breaks, tabs
// and other control characters become spaces, runs of spaces collapse.
// This is the defence against header injection: go-mail would Q-encode a
// CR LF rather than pass it, but the recipient would see the decoded line
// break, and a hostile string should not shape the header at all.
func headerText(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// mailbox checks an address strictly: one bare addr-spec, no display
// name, comment or group (those are where injections hide), and returns
// it with the display name made safe.
func mailbox(a Address) (*mail.Address, error) {
	if strings.ContainsFunc(a.Address, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return nil, permanent("address %q: contains spaces or control characters", a.Address)
	}
	p, err := mail.ParseAddress(a.Address)
	if err != nil {
		return nil, permanent("address %q: %w", a.Address, err)
	}
	if p.Name != "" || p.Address != a.Address {
		return nil, permanent("address %q: not a bare address", a.Address)
	}
	return &mail.Address{Name: headerText(a.Name), Address: p.Address}, nil
}

// msgID checks a message id: dot-atom text on both sides of one "@"
// (RFC 5322 3.6.4), so it can neither break the header nor the threading.
func msgID(id string) error {
	left, right, ok := strings.Cut(id, "@")
	if !ok || left == "" || right == "" || strings.Contains(right, "@") {
		return permanent("message id %q: not local@domain", id)
	}
	for _, r := range id {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),:;<>[\]`, r) {
			return permanent("message id %q: character %q not allowed", id, r)
		}
	}
	return nil
}

func headerName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Build turns m into a go-mail message: multipart/mixed when there are
// attachments, with the text (and HTML alternative) first. Errors are
// PermanentErrors: the same Mail would fail again.
func Build(m *Mail) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msgID(m.MessageID); err != nil {
		return nil, err
	}
	msg.SetMessageIDWithValue(m.MessageID)
	var refs []string
	for _, r := range m.References {
		if err := msgID(r); err != nil {
			return nil, err
		}
		refs = append(refs, "<"+r+">")
	}
	if m.InReplyTo != "" {
		if err := msgID(m.InReplyTo); err != nil {
			return nil, err
		}
		msg.SetGenHeader(gomail.HeaderInReplyTo, "<"+m.InReplyTo+">")
	}
	if len(refs) > 0 {
		msg.SetGenHeader(gomail.HeaderReferences, strings.Join(refs, " "))
	}
	if m.Date.IsZero() {
		return nil, permanent("mail without a date")
	}
	msg.SetDateWithValue(m.Date)
	from, err := mailbox(m.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	msg.FromMailAddress(from)
	if len(m.To) == 0 {
		return nil, permanent("mail without recipients")
	}
	for _, list := range []struct {
		addrs []Address
		set   func(...*mail.Address)
	}{{m.To, msg.ToMailAddress}, {m.Bcc, msg.BccMailAddress}} {
		var as []*mail.Address
		for _, a := range list.addrs {
			p, err := mailbox(a)
			if err != nil {
				return nil, fmt.Errorf("recipient: %w", err)
			}
			as = append(as, p)
		}
		if len(as) > 0 {
			list.set(as...)
		}
	}
	if m.ReplyTo != nil {
		p, err := mailbox(*m.ReplyTo)
		if err != nil {
			return nil, fmt.Errorf("reply-to: %w", err)
		}
		msg.ReplyToMailAddress(p)
	}
	msg.Subject(headerText(m.Subject))
	msg.SetUserAgent("abuseguard")
	// RFC 3834: no vacation replies or other auto-answers to these.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	for name, value := range m.Headers {
		if !headerName(name) {
			return nil, permanent("header name %q: not letters, digits and dashes", name)
		}
		msg.SetGenHeader(gomail.Header(name), headerText(value))
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	for _, a := range m.Attachments {
		name := headerText(a.Name)
		if name == "" {
			return nil, permanent("attachment without a name")
		}
		// A content type that does not parse (or hides a header) is sent
		// as what it then is: bytes.
		ct := "application/octet-stream"
		if mt, params, err := mime.ParseMediaType(a.ContentType); err == nil {
			if f := mime.FormatMediaType(mt, params); f != "" {
				ct = f
			}
		}
		err := msg.AttachReader(name, bytes.NewReader(a.Data),
			gomail.WithFileContentType(gomail.ContentType(ct)), gomail.WithFileEncoding(gomail.EncodingB64))
		if err != nil {
			return nil, permanent("attach %s: %w", name, err)
		}
	}
	return msg, nil
}
