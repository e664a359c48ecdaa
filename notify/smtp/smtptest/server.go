// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 for tests: STARTTLS or implicit TLS with a certificate made for
// the test, AUTH PLAIN, every accepted message recorded. It also parses
// the recorded MIME messages for assertions.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLS modes of a Server.
const (
	StartTLS = "starttls"
	Implicit = "implicit"
	Plain    = "none"
)

// Options configure a Server.
type Options struct {
	// TLS is StartTLS (default), Implicit or Plain.
	TLS string
	// Username and Password, when set, make AUTH PLAIN mandatory before
	// MAIL FROM; the server offers AUTH only over TLS.
	Username, Password string
	// OnData, when set, runs after a message was received completely and
	// recorded, before the server replies: its error is the reply, and a
	// slow OnData holds the client between sending and the 250.
	OnData func(Message) error
	// RejectRcpt refuses RCPT TO for these addresses with 550.
	RejectRcpt []string
}

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	// Data is the message as received (CRLF line ends).
	Data []byte
	// TLS tells whether the session was encrypted; Auth who logged in.
	TLS  bool
	Auth string
}

// Server is a running SMTP server. Safe for concurrent use.
type Server struct {
	t      testing.TB
	opts   Options
	addr   string
	cert   tls.Certificate
	caFile string

	mu       sync.Mutex
	srv      *smtp.Server
	messages []Message
	done     chan struct{}
}

// NewServer starts a server on 127.0.0.1 and stops it when the test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.TLS == "" {
		opts.TLS = StartTLS
	}
	s := &Server{t: t, opts: opts}
	s.cert, s.caFile = selfSigned(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s.addr = l.Addr().String()
	s.serve(l)
	t.Cleanup(s.Stop)
	return s
}

// Addr returns host:port.
func (s *Server) Addr() string { return s.addr }

// Host returns the address the server listens on, "127.0.0.1".
func (s *Server) Host() string {
	h, _, _ := net.SplitHostPort(s.addr)
	return h
}

// Port returns the port the server listens on.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// CAFile is a PEM file with the server's self-signed certificate, for the
// client's ca_file.
func (s *Server) CAFile() string { return s.caFile }

func (s *Server) serve(l net.Listener) {
	if s.opts.TLS == Implicit {
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{s.cert}})
	}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 64 << 20
	if s.opts.TLS == StartTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{s.cert}}
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.srv, s.done = srv, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
}

// Stop closes the listener and every connection; messages stay recorded.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Close()
	<-done
}

// Start listens again on the same address after Stop.
func (s *Server) Start() {
	s.t.Helper()
	var l net.Listener
	var err error
	// The port was ours a moment ago; the kernel may hold it briefly.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if l, err = net.Listen("tcp", s.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("listen again on %s: %v", s.addr, err)
	}
	s.serve(l)
}

// Messages returns the messages received so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitFor polls until at least n messages arrived or timeout passed, and
// returns the messages.
func (s *Server) WaitFor(n int, timeout time.Duration) []Message {
	deadline := time.Now().Add(timeout)
	for {
		ms := s.Messages()
		if len(ms) >= n || time.Now().After(deadline) {
			return ms
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: b.s, conn: c, tls: isTLS}, nil
}

type session struct {
	s    *Server
	conn *smtp.Conn
	tls  bool
	auth string
	msg  Message
}

func (se *session) AuthMechanisms() []string {
	if se.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != se.s.opts.Username || password != se.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		se.auth = username
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.opts.Username != "" && se.auth == "" {
		return smtp.ErrAuthRequired
	}
	_, isTLS := se.conn.TLSConnectionState()
	se.msg = Message{From: from, TLS: isTLS, Auth: se.auth}
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	for _, r := range se.s.opts.RejectRcpt {
		if r == to {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
	}
	se.msg.To = append(se.msg.To, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := se.msg
	m.Data = data
	se.s.mu.Lock()
	se.s.messages = append(se.s.messages, m)
	se.s.mu.Unlock()
	if se.s.opts.OnData != nil {
		return se.s.opts.OnData(m)
	}
	return nil
}

func (se *session) Reset()        { se.msg = Message{} }
func (se *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost, valid for a
// day, and writes it to a PEM file for the client to trust.
func selfSigned(t testing.TB) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "smtptest"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "smtptest-ca.pem")
	if err := os.WriteFile(file, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, file
}
