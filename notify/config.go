package notify

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"abuseguard"
	"abuseguard/notify/smtp"
)

// Configuration is the notifier's section of the configuration file.
type Configuration struct {
	// Mail is what the mails say and to whom.
	Mail MailConfiguration `yaml:"mail"`
	// SMTP is the mail transport; without a host, mails go to a maildir
	// in the data directory.
	SMTP smtp.Configuration `yaml:"smtp"`
	// Links makes the tokenised links to the status page and the
	// statement form.
	Links LinksConfiguration `yaml:"links"`
	// Webhooks receive every event (or those listed) as a signed JSON POST.
	Webhooks []WebhookConfiguration `yaml:"webhooks"`
	// Delivery is how the outbox worker claims and retries.
	Delivery DeliveryConfiguration `yaml:"delivery"`
}

// MailConfiguration is what the mails say and to whom.
type MailConfiguration struct {
	// From is the sender, e.g. "Example Abuse Desk <abuse@example.net>".
	// Default "abuseguard <abuseguard@localhost>", good for the maildir only.
	From string `yaml:"from"`
	// ReplyTo, when set, is the Reply-To address; "{case}" in it is
	// replaced by the case id, so that replies can be sorted into the
	// case's ticket (abuse+{case}@example.net).
	ReplyTo string `yaml:"reply_to"`
	// Operators receive the operator alerts (circuit breaker tripped, a
	// block waiting for approval, a customer mail given up) and the
	// customer mails for cases with no known customer.
	// Default ["abuse@localhost"], good for the maildir only.
	Operators []string `yaml:"operators"`
	// CopyOperators sends the operators a Bcc of every customer mail.
	CopyOperators bool `yaml:"copy_operators"`
	// Language is the language of operator mails and of customers whose
	// language is unknown: "en" (default) or "de".
	Language abuseguard.Language `yaml:"language"`
	// TimeZone is the zone times are written in, an IANA name. Default "UTC".
	TimeZone string `yaml:"time_zone"`
	// MessageIDDomain is the right-hand side of Message-IDs; default the
	// domain of From.
	MessageIDDomain string `yaml:"message_id_domain"`
	// Templates is a directory whose files replace the embedded templates
	// of the same name (de/blocked.txt, en/common.txt, ...); empty keeps
	// the embedded ones.
	Templates string `yaml:"templates"`
	// EdgeRouter names the provider's edge routers as a traceroute shows
	// them, e.g. "*-gw.example.net": a traceroute to a blocked server ends
	// there. Empty: the mails say "our edge router".
	EdgeRouter string `yaml:"edge_router"`
	// MaxAttachmentBytes bounds the evidence attached to one mail; what
	// does not fit is named in the mail and left to the portal and API.
	// Default 10 MiB (common mail servers refuse 20–25 MB after base64).
	MaxAttachmentBytes int64 `yaml:"max_attachment_bytes"`
}

// LinksConfiguration makes signed, expiring links to a case's status page
// and statement form, so that the mail alone is enough to act.
type LinksConfiguration struct {
	// BaseURL is the portal's public URL, e.g. https://abuse.example.net.
	// Empty disables links (and mails say to use the API instead).
	BaseURL string `yaml:"base_url"`
	// Key signs the tokens: at least 32 random bytes, hex or base64
	// (openssl rand -hex 32). KeyFile reads it from a file instead.
	Key     string `yaml:"key"`
	KeyFile string `yaml:"key_file"`
	// TTL is how long a link stays valid. Default 720h (30 days): a
	// blocked customer may take weeks to clean a server.
	TTL time.Duration `yaml:"ttl"`
}

// WebhookConfiguration is one webhook.
type WebhookConfiguration struct {
	// Name identifies the webhook; its outbox channel is "webhook:<name>".
	Name string `yaml:"name"`
	// URL receives the POSTs; https unless the host is a loopback address.
	URL string `yaml:"url"`
	// Secret signs each request (header Abuseguard-Signature), at least
	// 16 characters. SecretFile reads it from a file instead.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Events limits the webhook to these event types; empty means all.
	Events []abuseguard.EventType `yaml:"events"`
	// Timeout bounds one request. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// DeliveryConfiguration is how the outbox worker works.
type DeliveryConfiguration struct {
	// Workers deliver in parallel. Default 4.
	Workers int `yaml:"workers"`
	// Lease is how long a claimed delivery is ours; a worker that dies
	// gives it back when the lease runs out. It must exceed the longest
	// delivery (SMTP timeout). Default 2m.
	Lease time.Duration `yaml:"lease"`
	// PollInterval is how often the outbox is looked at for retries and
	// expired leases; new events wake the worker at once. Default 5s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// RetryInitial is the wait after the first failure; it doubles with
	// every attempt up to RetryMax, each wait randomised to between half
	// and all of it. Defaults 30s and 1h.
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// MaxAttempts gives up after this many attempts: with the defaults,
	// 40 attempts span about a day and a half. Default 40.
	MaxAttempts int `yaml:"max_attempts"`
}

// DefaultConfiguration returns the defaults: mails to the maildir, no
// links, no webhooks.
func DefaultConfiguration() Configuration {
	return Configuration{
		Mail: MailConfiguration{
			From:               "abuseguard <abuseguard@localhost>",
			Operators:          []string{"abuse@localhost"},
			Language:           abuseguard.LanguageEnglish,
			TimeZone:           "UTC",
			MaxAttachmentBytes: 10 << 20,
		},
		SMTP:  smtp.DefaultConfiguration(),
		Links: LinksConfiguration{TTL: 30 * 24 * time.Hour},
		Delivery: DeliveryConfiguration{
			Workers: 4, Lease: 2 * time.Minute, PollInterval: 5 * time.Second,
			RetryInitial: 30 * time.Second, RetryMax: time.Hour, MaxAttempts: 40,
		},
	}
}

// Channels returns the outbox channels this configuration delivers on:
// "mail" and "webhook:<name>" per webhook. The store must be configured
// with the same list (store.Configuration.Channels), or events miss a
// channel.
func (c Configuration) Channels() []string {
	chs := []string{ChannelMail}
	for _, w := range c.Webhooks {
		chs = append(chs, webhookPrefix+w.Name)
	}
	return chs
}

// Redacted returns a copy with the secrets (SMTP password, link key,
// webhook secrets) replaced, for `abuseguard config dump`. The *_file
// settings keep secrets out of the configuration file altogether.
func (c Configuration) Redacted() Configuration {
	const r = "(redacted)"
	if c.SMTP.Password != "" {
		c.SMTP.Password = r
	}
	if c.Links.Key != "" {
		c.Links.Key = r
	}
	c.Webhooks = slices.Clone(c.Webhooks)
	for i := range c.Webhooks {
		if c.Webhooks[i].Secret != "" {
			c.Webhooks[i].Secret = r
		}
	}
	return c
}

// CheckChannels compares the store's outbox channels with Channels():
// a channel the notifier does not serve would give every delivery up, and
// one the store does not write would receive nothing. cmd calls it in the
// configuration check.
func (c Configuration) CheckChannels(storeChannels []string) error {
	var errs []error
	want := c.Channels()
	for _, ch := range storeChannels {
		if !slices.Contains(want, ch) {
			errs = append(errs, fmt.Errorf("store.channels: %q is not served by notify (mail, webhook:<name> of notify.webhooks)", ch))
		}
	}
	for _, ch := range want {
		if !slices.Contains(storeChannels, ch) {
			errs = append(errs, fmt.Errorf("store.channels: %q is missing, so it would receive no events", ch))
		}
	}
	return errors.Join(errs...)
}

// Validate checks the configuration and reports every problem.
func (c Configuration) Validate() error {
	var errs []error
	m := c.Mail
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		errs = append(errs, fmt.Errorf("notify.mail.from: %q: %w", m.From, err))
	}
	if len(m.Operators) == 0 {
		errs = append(errs, errors.New("notify.mail.operators: at least one address is needed for operator alerts"))
	}
	for _, o := range m.Operators {
		if _, err := bareAddress(o); err != nil {
			errs = append(errs, fmt.Errorf("notify.mail.operators: %w", err))
		}
	}
	if c.SMTP.Host != "" {
		// The defaults only make sense for the maildir: a real server
		// would send as, and alert, nobody.
		if from != nil && strings.HasSuffix(from.Address, "@localhost") {
			errs = append(errs, errors.New("notify.mail.from: set a real sender when notify.smtp.host is set"))
		}
		if slices.ContainsFunc(m.Operators, func(o string) bool { return strings.HasSuffix(o, "@localhost") }) {
			errs = append(errs, errors.New("notify.mail.operators: set real addresses when notify.smtp.host is set"))
		}
	}
	if m.ReplyTo != "" {
		if _, err := bareAddress(strings.ReplaceAll(m.ReplyTo, "{case}", "AG-000000")); err != nil {
			errs = append(errs, fmt.Errorf("notify.mail.reply_to: %w", err))
		}
	}
	if m.Language != abuseguard.LanguageEnglish && m.Language != abuseguard.LanguageGerman {
		errs = append(errs, fmt.Errorf("notify.mail.language: %q is not en or de", m.Language))
	}
	if _, err := time.LoadLocation(m.TimeZone); err != nil || m.TimeZone == "" {
		errs = append(errs, fmt.Errorf("notify.mail.time_zone: %q is not a time zone", m.TimeZone))
	}
	if m.MessageIDDomain != "" && !validDomain(m.MessageIDDomain) {
		errs = append(errs, fmt.Errorf("notify.mail.message_id_domain: %q is not a domain", m.MessageIDDomain))
	}
	if m.MaxAttachmentBytes < 0 {
		errs = append(errs, errors.New("notify.mail.max_attachment_bytes: must not be negative"))
	}
	if m.Templates != "" {
		if st, err := os.Stat(m.Templates); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("notify.mail.templates: %q is not a directory", m.Templates))
		}
	}
	errs = append(errs, c.SMTP.Validate("notify.smtp"), c.Links.validate())
	names := map[string]bool{}
	for i, w := range c.Webhooks {
		if names[w.Name] {
			errs = append(errs, fmt.Errorf("notify.webhooks[%d].name: %q is repeated", i, w.Name))
		}
		names[w.Name] = true
		errs = append(errs, w.validate(i))
	}
	d := c.Delivery
	if d.Workers < 1 || d.MaxAttempts < 1 {
		errs = append(errs, errors.New("notify.delivery: workers and max_attempts must be positive"))
	}
	if d.PollInterval <= 0 || d.RetryInitial <= 0 || d.RetryMax < d.RetryInitial {
		errs = append(errs, errors.New("notify.delivery: poll_interval and retry_initial must be positive, retry_max at least retry_initial"))
	}
	if d.Lease < 2*c.SMTP.Timeout || d.Lease < 2*c.maxWebhookTimeout() {
		errs = append(errs, errors.New("notify.delivery.lease: must be at least twice the SMTP and webhook timeouts, or a slow delivery is sent twice"))
	}
	return errors.Join(errs...)
}

func (c Configuration) maxWebhookTimeout() time.Duration {
	var d time.Duration
	for _, w := range c.Webhooks {
		d = max(d, w.timeout())
	}
	return d
}

func (l LinksConfiguration) validate() error {
	if l.BaseURL == "" {
		return nil
	}
	var errs []error
	u, err := url.Parse(l.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("notify.links.base_url: %q is not an http(s) URL without query", l.BaseURL))
	}
	if _, err := l.key(); err != nil {
		errs = append(errs, fmt.Errorf("notify.links: %w", err))
	}
	if l.TTL < time.Hour {
		errs = append(errs, errors.New("notify.links.ttl: must be at least 1h"))
	}
	return errors.Join(errs...)
}

func (w WebhookConfiguration) timeout() time.Duration {
	if w.Timeout == 0 {
		return 10 * time.Second
	}
	return w.Timeout
}

func (w WebhookConfiguration) validate(i int) error {
	var errs []error
	p := fmt.Sprintf("notify.webhooks[%d]", i)
	if w.Name == "" || strings.ContainsFunc(w.Name, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z')
	}) {
		errs = append(errs, fmt.Errorf("%s.name: %q must be lowercase letters, digits, - and _", p, w.Name))
	}
	u, err := url.Parse(w.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		errs = append(errs, fmt.Errorf("%s.url: %q must be an https URL (http only to loopback)", p, w.URL))
	}
	if s, err := w.secret(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", p, err))
	} else if len(s) < 16 {
		errs = append(errs, fmt.Errorf("%s.secret: must be at least 16 characters", p))
	}
	for _, e := range w.Events {
		if !slices.Contains(EventTypes, e) {
			errs = append(errs, fmt.Errorf("%s.events: %q is not an event type", p, e))
		}
	}
	if w.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s.timeout: must not be negative", p))
	}
	return errors.Join(errs...)
}

func (w WebhookConfiguration) secret() ([]byte, error) {
	if w.Secret != "" && w.SecretFile != "" {
		return nil, errors.New("set secret or secret_file, not both")
	}
	if w.SecretFile == "" {
		return []byte(w.Secret), nil
	}
	b, err := os.ReadFile(w.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("secret_file: %w", err)
	}
	return []byte(strings.TrimRight(string(b), "\r\n")), nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func bareAddress(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	if a.Name != "" || a.Address != s {
		return "", fmt.Errorf("%q: give the bare address", s)
	}
	return a.Address, nil
}

func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || strings.ContainsFunc(label, func(r rune) bool {
			return !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) {
			return false
		}
	}
	return true
}
