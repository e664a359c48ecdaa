package notify

import (
	"strings"
	"testing"
	"time"

	"abuseguard"

	"github.com/google/go-cmp/cmp"
)

func TestConfigurationValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Configuration)
		want   []string
	}{
		{"defaults", func(*Configuration) {}, nil},
		{"smtp with localhost defaults", func(c *Configuration) { c.SMTP.Host = "mail.example.net" }, []string{
			"notify.mail.from: set a real sender", "notify.mail.operators: set real addresses"}},
		{"bad addresses", func(c *Configuration) {
			c.Mail.From = "not an address"
			c.Mail.Operators = []string{"NOC <noc@example.net>"}
			c.Mail.ReplyTo = "abuse+{case}@@example.net"
		}, []string{"notify.mail.from:", "notify.mail.operators: \"NOC <noc@example.net>\": give the bare address", "notify.mail.reply_to:"}},
		{"no operators", func(c *Configuration) { c.Mail.Operators = nil }, []string{"notify.mail.operators: at least one"}},
		{"language and zone", func(c *Configuration) { c.Mail.Language, c.Mail.TimeZone = "fr", "Mars/Olympus" }, []string{
			`notify.mail.language: "fr"`, `notify.mail.time_zone: "Mars/Olympus"`}},
		{"links without key", func(c *Configuration) { c.Links.BaseURL = "https://abuse.example.net" }, []string{
			"notify.links: key: a signing key is required"}},
		{"webhooks", func(c *Configuration) {
			c.Webhooks = []WebhookConfiguration{
				{Name: "Tickets", URL: "http://tickets.example.net/hook", Secret: "short", Events: []abuseguard.EventType{"blocked", "exploded"}},
				{Name: "ok", URL: "http://127.0.0.1:8080/hook", Secret: "0123456789abcdef"},
				{Name: "ok", URL: "https://chat.example.net/hook", Secret: "0123456789abcdef"},
			}
		}, []string{`notify.webhooks[0].name: "Tickets"`, "notify.webhooks[0].url:", "notify.webhooks[0].secret: must be at least 16",
			`notify.webhooks[0].events: "exploded" is not an event type`, `notify.webhooks[2].name: "ok" is repeated`}},
		{"delivery", func(c *Configuration) { c.Delivery.Lease = 30 * time.Second; c.Delivery.Workers = 0 }, []string{
			"notify.delivery: workers and max_attempts must be positive", "notify.delivery.lease: must be at least twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfiguration()
			tt.change(&c)
			var got []string
			if err := c.Validate(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Validate() = %q, want %d problems like %q", got, len(tt.want), tt.want)
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, w)
				}
				if !found {
					t.Fatalf("Validate() = %q, want a problem starting %q", got, w)
				}
			}
		})
	}
}

func TestChannels(t *testing.T) {
	c := DefaultConfiguration()
	c.Webhooks = []WebhookConfiguration{{Name: "tickets"}, {Name: "chat"}}
	if diff := cmp.Diff(c.Channels(), []string{"mail", "webhook:tickets", "webhook:chat"}); diff != "" {
		t.Fatalf("Channels() (-got, +want):\n%s", diff)
	}
}

func TestCheckChannels(t *testing.T) {
	c := DefaultConfiguration()
	c.Webhooks = []WebhookConfiguration{{Name: "tickets"}}
	if err := c.CheckChannels([]string{"mail", "webhook:tickets"}); err != nil {
		t.Fatalf("CheckChannels() = %v, want nil", err)
	}
	err := c.CheckChannels([]string{"mail", "webhook:chat"})
	want := `store.channels: "webhook:chat" is not served by notify (mail, webhook:<name> of notify.webhooks)
store.channels: "webhook:tickets" is missing, so it would receive no events`
	if err == nil || err.Error() != want {
		t.Fatalf("CheckChannels() = %v, want %q", err, want)
	}
}

func TestRedacted(t *testing.T) {
	c := DefaultConfiguration()
	c.SMTP.Password, c.Links.Key = "s3cret", testKey
	c.Webhooks = []WebhookConfiguration{{Name: "tickets", Secret: "whsec-0123456789abcdef"}, {Name: "chat", SecretFile: "/etc/x"}}
	r := c.Redacted()
	got := []string{r.SMTP.Password, r.Links.Key, r.Webhooks[0].Secret, r.Webhooks[1].Secret, c.Webhooks[0].Secret}
	want := []string{"(redacted)", "(redacted)", "(redacted)", "", "whsec-0123456789abcdef"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("Redacted() (-got, +want):\n%s", diff)
	}
}
