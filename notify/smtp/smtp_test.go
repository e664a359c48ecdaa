package smtp_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"abuseguard/notify/smtp"
	"abuseguard/notify/smtp/smtptest"

	"github.com/google/go-cmp/cmp"
)

var date = time.Date(2024, 10, 23, 4, 47, 21, 0, time.UTC)

func sample() *smtp.Mail {
	return &smtp.Mail{
		MessageID:  "ev-1.mail@abuse.example.net",
		InReplyTo:  "case.AG-7C54AE@abuse.example.net",
		References: []string{"case.AG-7C54AE@abuse.example.net"},
		Date:       date,
		From:       smtp.Address{Name: "Example Abuse Desk", Address: "abuse@example.net"},
		To:         []smtp.Address{{Name: "Jörg Müller", Address: "joerg@customer.example"}},
		ReplyTo:    &smtp.Address{Address: "abuse+AG-7C54AE@example.net"},
		Subject:    "[AG-7C54AE] Netscan festgestellt von 203.0.113.7",
		Text:       "Guten Tag,\nIhr Server hat gescannt.\n",
		Headers:    map[string]string{"X-Abuseguard-Case": "AG-7C54AE"},
		Attachments: []smtp.Attachment{
			{Name: "netscan.txt", ContentType: "text/plain; charset=utf-8", Data: []byte("# log\r\nline 1\n")},
			{Name: "traffic.pcap", ContentType: "application/vnd.tcpdump.pcap", Data: []byte{0xd4, 0xc3, 0xb2, 0xa1, 0, 0, 0xff, '\r', '\n'}},
		},
	}
}

func TestSenderTLSAndAuth(t *testing.T) {
	for _, mode := range []string{smtptest.StartTLS, smtptest.Implicit} {
		t.Run(mode, func(t *testing.T) {
			srv := smtptest.NewServer(t, smtptest.Options{TLS: mode, Username: "ag", Password: "s3cret"})
			cfg := smtp.DefaultConfiguration()
			cfg.Host, cfg.Port, cfg.TLS, cfg.CAFile = srv.Host(), srv.Port(), mode, srv.CAFile()
			cfg.Username = "ag"
			pwFile := filepath.Join(t.TempDir(), "pw")
			os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
			cfg.PasswordFile = pwFile
			s, err := smtp.NewSender(cfg)
			if err != nil {
				t.Fatal(err)
			}
			m := sample()
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatalf("Send(): %v", err)
			}
			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("got %d messages, want 1", len(got))
			}
			if !got[0].TLS || got[0].Auth != "ag" || got[0].From != "abuse@example.net" {
				t.Fatalf("session: TLS %v, auth %q, from %q; want TLS, ag, abuse@example.net", got[0].TLS, got[0].Auth, got[0].From)
			}
			if diff := cmp.Diff(got[0].To, []string{"joerg@customer.example"}); diff != "" {
				t.Fatalf("recipients (-got, +want):\n%s", diff)
			}
			checkMessage(t, got[0].Data, m)
		})
	}
}

func checkMessage(t *testing.T, data []byte, m *smtp.Mail) {
	t.Helper()
	p, err := smtptest.Parse(data)
	if err != nil {
		t.Fatalf("Parse(): %v\n%s", err, data)
	}
	type summary struct {
		Subject, MessageID, InReplyTo, References, ReplyTo, Auto, Case, Text string
		Types                                                                []string
	}
	got := summary{p.Subject, p.Header.Get("Message-ID"), p.Header.Get("In-Reply-To"), p.Header.Get("References"),
		p.Header.Get("Reply-To"), p.Header.Get("Auto-Submitted"), p.Header.Get("X-Abuseguard-Case"),
		strings.ReplaceAll(p.Text, "\r\n", "\n"), p.Types}
	want := summary{m.Subject, "<" + m.MessageID + ">", "<" + m.InReplyTo + ">", "<" + m.References[0] + ">",
		"<" + m.ReplyTo.Address + ">", "auto-generated", "AG-7C54AE", m.Text,
		[]string{"multipart/mixed", "text/plain", "text/plain", "application/vnd.tcpdump.pcap"}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("message (-got, +want):\n%s\n%s", diff, data)
	}
	if len(p.Attachments) != len(m.Attachments) {
		t.Fatalf("got %d attachments, want %d", len(p.Attachments), len(m.Attachments))
	}
	for i, a := range p.Attachments {
		if a.Filename != m.Attachments[i].Name || !bytes.Equal(a.Data, m.Attachments[i].Data) {
			t.Fatalf("attachment %d: %q %x, want %q %x", i, a.Filename, a.Data, m.Attachments[i].Name, m.Attachments[i].Data)
		}
	}
}

func TestSenderErrors(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{Username: "ag", Password: "s3cret", RejectRcpt: []string{"gone@customer.example"}})
	cfg := smtp.DefaultConfiguration()
	cfg.Host, cfg.Port, cfg.CAFile, cfg.Username, cfg.Password = srv.Host(), srv.Port(), srv.CAFile(), "ag", "s3cret"
	tests := []struct {
		name      string
		change    func(*smtp.Configuration, *smtp.Mail)
		permanent bool
	}{
		{"wrong password", func(c *smtp.Configuration, _ *smtp.Mail) { c.Password = "wrong" }, false},
		{"untrusted certificate", func(c *smtp.Configuration, _ *smtp.Mail) { c.CAFile = "" }, false},
		{"plain text refused for AUTH", func(c *smtp.Configuration, _ *smtp.Mail) { c.TLS = smtp.TLSNone }, false},
		{"recipient refused", func(_ *smtp.Configuration, m *smtp.Mail) { m.To[0].Address = "gone@customer.example" }, true},
		{"malformed recipient", func(_ *smtp.Configuration, m *smtp.Mail) { m.To[0].Address = "not an address" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, m := cfg, sample()
			tt.change(&c, m)
			s, err := smtp.NewSender(c)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), m)
			if err == nil {
				t.Fatal("Send() succeeded, want an error")
			}
			if smtp.IsPermanent(err) != tt.permanent {
				t.Fatalf("IsPermanent(%v) = %v, want %v", err, !tt.permanent, tt.permanent)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q spans lines", err)
			}
		})
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages arrived, want none", n)
	}
}

// TestHeaderInjection sends hostile strings in every header the notifier
// fills from data (customer name, subject from a template with an operator
// comment, extra headers, attachment names) and checks that the server got
// one message to one recipient with no header the strings tried to add.
func TestHeaderInjection(t *testing.T) {
	srv := smtptest.NewServer(t, smtptest.Options{TLS: smtptest.Plain})
	cfg := smtp.DefaultConfiguration()
	cfg.Host, cfg.Port, cfg.TLS = srv.Host(), srv.Port(), smtp.TLSNone
	s, err := smtp.NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	evil := "x\r\nBcc: victim@evil.example\r\nX-Injected: yes\n\nbody"
	m := sample()
	m.To[0].Name = "Mallory" + evil
	m.From.Name = "Desk (comment" + evil + ")"
	m.Subject = "[AG-7C54AE] rejected: " + evil
	m.Headers["X-Abuseguard-Comment"] = evil
	m.Attachments[0].Name = "log" + evil + ".txt"
	m.Attachments[0].ContentType = "text/plain\r\nX-Injected: yes"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send(): %v", err)
	}
	got := srv.Messages()
	if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "joerg@customer.example" {
		t.Fatalf("got %d messages to %v, want one to joerg@customer.example", len(got), got)
	}
	p, err := smtptest.Parse(got[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Bcc", "X-Injected"} {
		if v := p.Header.Get(h); v != "" {
			t.Fatalf("header %s: %q was injected\n%s", h, v, got[0].Data)
		}
	}
	if bytes.Contains(got[0].Data, []byte("\nX-Injected")) || bytes.Contains(got[0].Data, []byte("\nBcc:")) {
		t.Fatalf("an injected line starts a header line:\n%s", got[0].Data)
	}
	if want := "[AG-7C54AE] rejected: x Bcc: victim@evil.example X-Injected: yes body"; p.Subject != want {
		t.Fatalf("subject %q, want %q", p.Subject, want)
	}

	// Addresses and message ids with line breaks are refused outright.
	for name, change := range map[string]func(*smtp.Mail){
		"address":                 func(m *smtp.Mail) { m.To[0].Address = "a@b.example\r\nBcc: victim@evil.example" },
		"address comment":         func(m *smtp.Mail) { m.To[0].Address = "a@b.example (x\r\nBcc: v@evil.example)" },
		"display name in address": func(m *smtp.Mail) { m.To[0].Address = "Victim <v@evil.example>" },
		"message id":              func(m *smtp.Mail) { m.MessageID = "a@b\r\nBcc: v@evil.example" },
		"references":              func(m *smtp.Mail) { m.References = []string{"a@b>\r\nBcc: <v@evil.example"} },
		"header name":             func(m *smtp.Mail) { m.Headers["X-A\r\nBcc"] = "v@evil.example" },
	} {
		m := sample()
		change(m)
		if _, err := smtp.Build(m); !smtp.IsPermanent(err) {
			t.Errorf("Build() with a hostile %s: %v, want a permanent error", name, err)
		}
	}
}

func TestMaildir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "maildir")
	d, err := smtp.NewMaildir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := sample()
	for range 2 { // the second is a resend after a crash: nothing new
		if err := d.Send(context.Background(), m); err != nil {
			t.Fatalf("Send(): %v", err)
		}
	}
	list := func(sub string) []string {
		es, _ := os.ReadDir(filepath.Join(dir, sub))
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}
	news := list("new")
	if len(news) != 1 || len(list("tmp")) != 0 {
		t.Fatalf("new/ %v, tmp/ %v: want one mail in new/, tmp/ empty", news, list("tmp"))
	}
	data, err := os.ReadFile(filepath.Join(dir, "new", news[0]))
	if err != nil {
		t.Fatal(err)
	}
	checkMessage(t, data, m)

	// A mail client moved it to cur/ after reading: still delivered.
	if err := os.Rename(filepath.Join(dir, "new", news[0]), filepath.Join(dir, "cur", news[0]+":2,S")); err != nil {
		t.Fatal(err)
	}
	if err := d.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if n := list("new"); len(n) != 0 {
		t.Fatalf("a mail already read was written again: new/ %v", n)
	}
	m2 := sample()
	m2.MessageID = "ev-2.mail@abuse.example.net"
	if err := d.Send(context.Background(), m2); err != nil {
		t.Fatal(err)
	}
	if n := list("new"); len(n) != 1 {
		t.Fatalf("new/ %v, want the second mail", n)
	}
}

func TestConfigurationValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*smtp.Configuration)
		want   string
	}{
		{"defaults", func(*smtp.Configuration) {}, ""},
		{"tls", func(c *smtp.Configuration) { c.TLS = "ssl" }, `notify.smtp.tls: "ssl" is not starttls, implicit, opportunistic or none`},
		{"auth", func(c *smtp.Configuration) { c.Auth = "ntlm" }, `notify.smtp.auth: "ntlm" is not plain, login, cram-md5, scram-sha-256 or auto`},
		{"password twice", func(c *smtp.Configuration) { c.Username, c.Password, c.PasswordFile = "u", "p", "f" }, "notify.smtp: set password or password_file, not both"},
		{"password without user", func(c *smtp.Configuration) { c.Password = "p" }, "notify.smtp: a password needs a username"},
		{"missing ca", func(c *smtp.Configuration) { c.CAFile = "/nonexistent/ca.pem" }, "notify.smtp.ca_file: open /nonexistent/ca.pem: no such file or directory"},
		{"host", func(c *smtp.Configuration) { c.Host = "mail.example.net\r\n" }, `notify.smtp.host: "mail.example.net\r\n" is not a host name or address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := smtp.DefaultConfiguration()
			tt.change(&c)
			got := ""
			if err := c.Validate("notify.smtp"); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}
