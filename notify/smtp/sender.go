package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// Transport delivers a Mail: Sender over SMTP, Maildir to a directory.
// Implementations are safe for concurrent use.
type Transport interface {
	// Send delivers m. A *PermanentError means retrying cannot help.
	Send(ctx context.Context, m *Mail) error
	// String names the transport for the log: "smtp host:port", "maildir DIR".
	String() string
}

// New returns the transport the configuration asks for: a Sender when
// Host is set, a Maildir under dataDir otherwise.
func New(cfg Configuration, dataDir string) (Transport, error) {
	if err := cfg.Validate("smtp"); err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		return NewMaildir(resolve(dataDir, cfg.Maildir))
	}
	return NewSender(cfg)
}

// Sender delivers over SMTP with go-mail, one connection per mail: abuse
// mail is tens per hour, and a fresh connection cannot be a stale one.
type Sender struct {
	cfg      Configuration
	password string
	tls      *tls.Config
}

// NewSender checks the configuration and reads the password file and CA
// bundle once, so that a missing file fails at start, not at the first mail.
func NewSender(cfg Configuration) (*Sender, error) {
	if err := cfg.Validate("smtp"); err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		return nil, errors.New("smtp: no host")
	}
	pw, err := cfg.password()
	if err != nil {
		return nil, err
	}
	pool, err := cfg.rootCAs()
	if err != nil {
		return nil, fmt.Errorf("smtp ca_file: %w", err)
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == TLSImplicit {
			cfg.Port = 465
		}
	}
	return &Sender{cfg: cfg, password: pw,
		tls: &tls.Config{ServerName: cfg.Host, RootCAs: pool, MinVersion: tls.VersionTLS12}}, nil
}

func (s *Sender) String() string { return fmt.Sprintf("smtp %s:%d", s.cfg.Host, s.cfg.Port) }

func (s *Sender) options() []gomail.Option {
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSConfig(s.tls.Clone())}
	switch s.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HELO))
	}
	if s.cfg.Username != "" {
		mech := map[string]gomail.SMTPAuthType{"plain": gomail.SMTPAuthPlain, "login": gomail.SMTPAuthLogin,
			"cram-md5": gomail.SMTPAuthCramMD5, "scram-sha-256": gomail.SMTPAuthSCRAMSHA256,
			"auto": gomail.SMTPAuthAutoDiscover}[s.cfg.Auth]
		opts = append(opts, gomail.WithSMTPAuth(mech), gomail.WithUsername(s.cfg.Username),
			gomail.WithPassword(s.password))
	}
	return opts
}

// Send implements Transport. A recipient or message refused with a
// permanent (5xx) reply is a PermanentError; connection, TLS and AUTH
// failures are not, since fixing the configuration or the server makes
// the same mail go through.
func (s *Sender) Send(ctx context.Context, m *Mail) error {
	msg, err := Build(m)
	if err != nil {
		return err
	}
	c, err := gomail.NewClient(s.cfg.Host, s.options()...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && !se.IsTemp() {
			switch se.Reason {
			case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
				return &PermanentError{Err: fmt.Errorf("smtp %s: %w", s.cfg.Host, oneLine(err))}
			}
		}
		return fmt.Errorf("smtp %s: %w", s.cfg.Host, oneLine(err))
	}
	return nil
}

// oneLine keeps multi-line server replies on one line for the outbox's
// last_error and the log.
func oneLine(err error) error {
	s := err.Error()
	if !strings.ContainsAny(s, "\r\n") {
		return err
	}
	return &flatError{msg: strings.Join(strings.Fields(s), " "), err: err}
}

type flatError struct {
	msg string
	err error
}

func (e *flatError) Error() string { return e.msg }
func (e *flatError) Unwrap() error { return e.err }
