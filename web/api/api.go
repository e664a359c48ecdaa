// Package api is the JSON API under /api/v1: status, cases, evidence,
// blocks, access IP, statements, reviews, messages, the audit trail and
// detections from external detectors, with bearer-token authentication.
// Its OpenAPI document is served at /api/v1/openapi.json.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"abuseguard"
	"abuseguard/web"

	"github.com/prometheus/client_golang/prometheus"
)

// Configuration is the API's section of the configuration file.
type Configuration struct {
	// MaxBodyBytes bounds a JSON request body. Default 64 KiB: the largest
	// ordinary request is a statement of 3 × 4000 characters.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxDetectionBytes bounds POST /detections, which carries rendered
	// evidence (base64). Default 32 MiB.
	MaxDetectionBytes int64 `yaml:"max_detection_bytes"`
	// MaxDetections bounds the detections in one POST. Default 1000.
	MaxDetections int `yaml:"max_detections"`
}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	return Configuration{MaxBodyBytes: 64 << 10, MaxDetectionBytes: 32 << 20, MaxDetections: 1000}
}

// Validate checks the configuration.
func (c Configuration) Validate() error {
	if c.MaxBodyBytes < 1024 || c.MaxDetectionBytes < 1024 || c.MaxDetections < 1 {
		return errors.New("api: max_body_bytes and max_detection_bytes must be at least 1024, max_detections positive")
	}
	return nil
}

// Detections takes detections from outside; lifecycle.Lifecycle.IngestAll
// implements it.
type Detections interface {
	IngestAll(ctx context.Context, ds []abuseguard.Detection) ([]string, error)
}

// Dependencies are the services the API serves.
type Dependencies struct {
	Cases      abuseguard.CaseService
	Audit      abuseguard.AuditService
	Tokens     abuseguard.TokenService
	Detections Detections
	// Enforcement is the operator's view of the enforcers; GET
	// /enforcement answers with empty lists when it is nil.
	Enforcement abuseguard.EnforcementService
	Registerer  prometheus.Registerer
}

// API is the JSON API's handler. Safe for concurrent use.
type API struct {
	cfg  Configuration
	log  *slog.Logger
	deps Dependencies
	mux  *http.ServeMux

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns the API.
func New(log *slog.Logger, cfg Configuration, deps Dependencies) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Cases == nil || deps.Audit == nil || deps.Tokens == nil || deps.Detections == nil {
		return nil, errors.New("api: cases, audit, tokens and detections are required")
	}
	a := &API{cfg: cfg, log: log, deps: deps, mux: http.NewServeMux(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "abuseguard", Subsystem: "api",
			Name: "requests_total", Help: "API requests by route and status."}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "abuseguard", Subsystem: "api",
			Name: "request_duration_seconds", Help: "API request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8)}, []string{"route"}),
	}
	if deps.Registerer != nil {
		deps.Registerer.MustRegister(a.requests, a.duration)
	}
	a.routes()
	return a, nil
}

// ServeHTTP implements http.Handler for paths under /api/v1/.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// route is one endpoint; the OpenAPI test checks the document lists each.
type route struct {
	pattern  string // "METHOD /api/v1/..."
	public   bool   // no token needed
	bodyMax  int64  // 0: the default MaxBodyBytes
	handler  func(w http.ResponseWriter, r *http.Request) error
	okStatus int
}

func (a *API) table() []route {
	return []route{
		{pattern: "GET /api/v1/openapi.json", public: true, handler: a.openAPI},
		{pattern: "GET /api/v1/status/{address}", handler: a.status},
		{pattern: "GET /api/v1/cases", handler: a.listCases},
		{pattern: "GET /api/v1/cases/{id}", handler: a.getCase},
		{pattern: "GET /api/v1/cases/{id}/evidence/{n}", handler: a.evidence},
		{pattern: "POST /api/v1/blocks", handler: a.block},
		{pattern: "POST /api/v1/cases/{id}/unblock", handler: a.unblock},
		{pattern: "POST /api/v1/cases/{id}/approve", handler: a.approve},
		{pattern: "PUT /api/v1/cases/{id}/access-ip", handler: a.setAccessIP},
		{pattern: "DELETE /api/v1/cases/{id}/access-ip", handler: a.clearAccessIP},
		{pattern: "POST /api/v1/cases/{id}/statement", handler: a.statement},
		{pattern: "POST /api/v1/cases/{id}/review", handler: a.review},
		{pattern: "POST /api/v1/cases/{id}/messages", handler: a.message},
		{pattern: "GET /api/v1/audit", handler: a.audit},
		{pattern: "GET /api/v1/enforcement", handler: a.enforcement},
		{pattern: "POST /api/v1/detections", handler: a.detections, bodyMax: -1},
	}
}

// Routes lists the patterns the API serves (for documentation tests).
func (a *API) Routes() []string {
	var ps []string
	for _, rt := range a.table() {
		ps = append(ps, rt.pattern)
	}
	return ps
}

func (a *API) routes() {
	for _, rt := range a.table() {
		a.mux.Handle(rt.pattern, a.wrap(rt))
	}
	// Anything else under /api/v1/: a JSON 404, not the mux's text page.
	a.mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		web.WriteError(w, r, a.log, http.StatusNotFound, abuseguard.Errorf(abuseguard.ENOTFOUND, "No such endpoint: %s %s.", r.Method, r.URL.Path))
	})
}

// statusWriter records the status for metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// wrap authenticates, bounds the body, runs the handler and answers its
// error.
func (a *API) wrap(rt route) http.Handler {
	name := rt.pattern
	max := a.cfg.MaxBodyBytes
	if rt.bodyMax < 0 {
		max = a.cfg.MaxDetectionBytes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			a.requests.WithLabelValues(name, strconv.Itoa(sw.status)).Inc()
			a.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}()
		r.Body = http.MaxBytesReader(sw, r.Body, max)
		if !rt.public {
			actor, err := a.authenticate(r)
			if err != nil {
				web.WriteError(sw, r, a.log, 0, err)
				return
			}
			r = r.WithContext(abuseguard.NewContextWithActor(r.Context(), actor))
		}
		if err := rt.handler(sw, r); err != nil {
			a.writeError(sw, r, err)
		}
	})
}

func (a *API) authenticate(r *http.Request) (abuseguard.Actor, error) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if h == "" {
		return abuseguard.Actor{}, abuseguard.Errorf(abuseguard.EUNAUTHORIZED, "Authentication required: send Authorization: Bearer <token>.")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return abuseguard.Actor{}, abuseguard.Errorf(abuseguard.EUNAUTHORIZED, "The Authorization header must be: Bearer <token>.")
	}
	return a.deps.Tokens.Authenticate(r.Context(), strings.TrimSpace(secret))
}

// writeError answers an error; an authenticated caller refused for its
// role gets 403, not 401.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	status := 0
	switch {
	case errors.As(err, &tooLarge):
		status = http.StatusRequestEntityTooLarge
		err = abuseguard.Errorf(abuseguard.EINVALID, "The request body is larger than %d bytes.", tooLarge.Limit)
	case abuseguard.ErrorCode(err) == abuseguard.EUNAUTHORIZED && abuseguard.ActorFromContext(r.Context()).Role != "":
		status = http.StatusForbidden
	}
	web.WriteError(w, r, a.log, status, err)
}
