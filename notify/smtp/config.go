package smtp

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// TLS modes for Configuration.TLS.
const (
	// TLSStartTLS requires STARTTLS on a plain connection (submission,
	// port 587): a server that does not offer it is an error, never a
	// silent fallback to plain text.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (submissions, port 465).
	TLSImplicit = "implicit"
	// TLSOpportunistic uses STARTTLS when offered and plain text when not:
	// only for a relay on the same host or a trusted network.
	TLSOpportunistic = "opportunistic"
	// TLSNone never encrypts: tests and local relays only.
	TLSNone = "none"
)

// Configuration is the mail transport: an SMTP server, or, when Host is
// empty (the embedded default), a maildir under the data directory.
type Configuration struct {
	// Host is the SMTP server (submission or relay). Empty: write mails
	// to the maildir instead, so that a newcomer reads them with any mail
	// client (mutt -f DIR) without a mail server.
	Host string `yaml:"host"`
	// Port defaults to 587 (465 with TLS implicit).
	Port int `yaml:"port"`
	// TLS is starttls (default), implicit, opportunistic or none.
	TLS string `yaml:"tls"`
	// CAFile is a PEM bundle that verifies the server's certificate in
	// place of the system roots (a private CA).
	CAFile string `yaml:"ca_file"`
	// Username and Password authenticate with SMTP AUTH; no AUTH when
	// Username is empty. PasswordFile reads the password from a file
	// (kept out of the configuration file), trailing newline removed.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// Auth is the SASL mechanism: plain (default), login, cram-md5,
	// scram-sha-256 or auto (the strongest the server offers). PLAIN and
	// LOGIN are refused by the client on an unencrypted connection.
	Auth string `yaml:"auth"`
	// HELO is the name given in EHLO; default the host name.
	HELO string `yaml:"helo"`
	// Timeout bounds connecting and each command. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// Maildir is the maildir used without Host; relative paths are taken
	// from the data directory. Default "maildir".
	Maildir string `yaml:"maildir"`
}

// DefaultConfiguration returns the defaults: no SMTP server, mails go to
// the maildir.
func DefaultConfiguration() Configuration {
	return Configuration{TLS: TLSStartTLS, Auth: "plain", Timeout: 30 * time.Second, Maildir: "maildir"}
}

var authMechanisms = map[string]bool{"plain": true, "login": true, "cram-md5": true, "scram-sha-256": true, "auto": true}

// Validate checks the configuration; path is the section's name in the
// configuration file, e.g. "notify.smtp".
func (c Configuration) Validate(path string) error {
	var errs []error
	switch c.TLS {
	case TLSStartTLS, TLSImplicit, TLSOpportunistic, TLSNone:
	default:
		errs = append(errs, fmt.Errorf("%s.tls: %q is not starttls, implicit, opportunistic or none", path, c.TLS))
	}
	if !authMechanisms[c.Auth] {
		errs = append(errs, fmt.Errorf("%s.auth: %q is not plain, login, cram-md5, scram-sha-256 or auto", path, c.Auth))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("%s.port: %d is out of range", path, c.Port))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("%s.timeout: must be positive", path))
	}
	if strings.ContainsAny(c.Host, " /\r\n") {
		errs = append(errs, fmt.Errorf("%s.host: %q is not a host name or address", path, c.Host))
	}
	if c.Password != "" && c.PasswordFile != "" {
		errs = append(errs, fmt.Errorf("%s: set password or password_file, not both", path))
	}
	if c.Username == "" && (c.Password != "" || c.PasswordFile != "") {
		errs = append(errs, fmt.Errorf("%s: a password needs a username", path))
	}
	if c.CAFile != "" {
		if _, err := c.rootCAs(); err != nil {
			errs = append(errs, fmt.Errorf("%s.ca_file: %w", path, err))
		}
	}
	if c.Host == "" && c.Maildir == "" {
		errs = append(errs, fmt.Errorf("%s.maildir: must not be empty without a host", path))
	}
	return errors.Join(errs...)
}

func (c Configuration) rootCAs() (*x509.CertPool, error) {
	if c.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", c.CAFile)
	}
	return pool, nil
}

func (c Configuration) password() (string, error) {
	if c.PasswordFile == "" {
		return c.Password, nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("read smtp password: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
