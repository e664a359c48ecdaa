package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Configuration is the HTTP server's section of the configuration file.
type Configuration struct {
	// Listen is the address the API, /healthz and /metrics are served on.
	// Default "127.0.0.1:8080": loopback until an operator decides
	// otherwise (put a TLS-terminating proxy in front for remote use).
	Listen string `yaml:"listen"`
	// ReadTimeout and WriteTimeout bound one request. Defaults 30s, 60s.
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	return Configuration{Listen: "127.0.0.1:8080", ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
}

// Validate checks the configuration.
func (c Configuration) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("web.listen: %w", err))
	}
	if c.ReadTimeout <= 0 || c.WriteTimeout <= 0 {
		errs = append(errs, errors.New("web: read_timeout and write_timeout must be positive"))
	}
	return errors.Join(errs...)
}

// Server serves a handler over HTTP. It is inert until Start.
type Server struct {
	cfg    Configuration
	log    *slog.Logger
	srv    *http.Server
	ln     net.Listener
	done   chan error
	failed chan struct{}
}

// New returns a server for h.
func New(log *slog.Logger, cfg Configuration, h http.Handler) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, log: log, srv: &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}, nil
}

// Start listens and serves in a goroutine that Stop ends. A serve error
// other than the shutdown is logged and makes Stop return it.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	s.ln, s.done, s.failed = ln, make(chan error, 1), make(chan struct{})
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		} else if err != nil {
			s.log.Error("http server failed", "error", err)
			close(s.failed)
		}
		s.done <- err
	}()
	s.log.Info("http server listening", "address", ln.Addr().String())
	return nil
}

// Failed is closed when the server stopped serving by itself (not by
// Stop): serve then ends the process rather than run without its API.
func (s *Server) Failed() <-chan struct{} { return s.failed }

// Addr is the address listened on (with the port chosen for ":0").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stop lets running requests finish for up to 10 s, then closes.
func (s *Server) Stop() error {
	if s.ln == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, <-s.done)
}
