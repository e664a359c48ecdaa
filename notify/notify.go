// Package notify delivers the outbox: every case event the lifecycle wrote
// (in the same transaction as the state change) becomes a mail to the
// customer or the operators, in German or English, with the evidence
// attached, and a signed JSON POST to each configured webhook.
//
// Delivery is at least once and, as far as SMTP allows, exactly once: a
// delivery is leased from the store, sent, then marked; a crash between
// send and mark sends it again after the lease, with the same Message-ID
// (derived from the event id), so mail clients and the customer see one
// message. Failures retry with exponential backoff and jitter up to a
// limit, then give up loudly (metric, log, operator mail).
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // time zones without the system's zoneinfo (minimal containers)

	"abuseguard"
	"abuseguard/notify/smtp"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// ChannelMail is the outbox channel of mails; webhooks are
// "webhook:<name>".
const ChannelMail = "mail"

const webhookPrefix = "webhook:"

// EventTypes lists every event type, in the order of event.go. Each has a
// template in every language (a test parses event.go to keep this list
// complete).
var EventTypes = []abuseguard.EventType{
	abuseguard.EventWarned, abuseguard.EventReminder, abuseguard.EventBlocked, abuseguard.EventAccessIPSet,
	abuseguard.EventStatementReceived, abuseguard.EventStatementRejected, abuseguard.EventUnblocked,
	abuseguard.EventFloodBlocked, abuseguard.EventFloodLifted, abuseguard.EventBreakerTripped,
	abuseguard.EventPendingApproval,
}

// Languages lists the languages every template exists in.
var Languages = []abuseguard.Language{abuseguard.LanguageGerman, abuseguard.LanguageEnglish}

// forOperators reports whether an event is for the operators rather than
// the customer.
func forOperators(t abuseguard.EventType) bool {
	return t == abuseguard.EventBreakerTripped || t == abuseguard.EventPendingApproval
}

// Inventory is what the notifier needs to know of customers and servers.
// cmd adapts package inventory to it. Implementations must be safe for
// concurrent use.
type Inventory interface {
	// Customer returns a customer by id; false when unknown.
	Customer(id string) (abuseguard.Customer, bool)
	// Server returns a server by id; false when unknown.
	Server(id string) (abuseguard.Server, bool)
}

// Dependencies are what New needs besides the configuration.
type Dependencies struct {
	// Store is read for cases and evidence and is the outbox. When it
	// also implements abuseguard.OutboxWatcher, new events are delivered
	// at once instead of at the next poll.
	Store     abuseguard.CaseStore
	Inventory Inventory
	// DataDir holds the maildir when no SMTP host is configured.
	DataDir string
	// Mailer replaces the transport from the configuration (tests).
	Mailer smtp.Transport
	// HTTPClient posts webhooks; a client with each webhook's timeout when nil.
	HTTPClient *http.Client
	// Clock returns the current time; time.Now when nil. Tests inject one.
	Clock func() time.Time
	// Registerer takes the metrics; none are registered when nil.
	Registerer prometheus.Registerer
}

// Notifier is the outbox worker. It is safe for concurrent use; RunOnce
// may run while the loop runs (the store's leases keep them apart).
type Notifier struct {
	cfg       Configuration
	log       *slog.Logger
	store     abuseguard.CaseStore
	inv       Inventory
	mailer    smtp.Transport
	http      *http.Client
	links     *Links
	tmpl      *templates
	loc       *time.Location
	from      smtp.Address
	operators []smtp.Address
	domain    string
	webhooks  map[string]*webhook
	now       func() time.Time
	jitter    func() float64 // in [0, 1)
	m         *metrics

	lastWarn atomic.Int64

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	running bool
}

// New validates the configuration, parses the templates, opens the
// transport and returns an inert notifier.
func New(log *slog.Logger, cfg Configuration, deps Dependencies) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Inventory == nil {
		return nil, errors.New("notify: a store and an inventory are required")
	}
	n := &Notifier{cfg: cfg, log: log, store: deps.Store, inv: deps.Inventory, mailer: deps.Mailer,
		http: deps.HTTPClient, now: deps.Clock, jitter: rand.Float64, m: newMetrics(deps.Registerer),
		webhooks: map[string]*webhook{}}
	if n.now == nil {
		n.now = time.Now
	}
	var err error
	if n.tmpl, err = loadTemplates(cfg.Mail.Templates); err != nil {
		return nil, err
	}
	if n.links, err = NewLinks(cfg.Links); err != nil {
		return nil, err
	}
	n.loc, _ = time.LoadLocation(cfg.Mail.TimeZone)
	n.tmpl.loc = n.loc
	from, _ := mailAddress(cfg.Mail.From)
	n.from = from
	for _, o := range cfg.Mail.Operators {
		n.operators = append(n.operators, smtp.Address{Address: o})
	}
	n.domain = cfg.Mail.MessageIDDomain
	if n.domain == "" {
		_, n.domain, _ = strings.Cut(from.Address, "@")
	}
	for _, w := range cfg.Webhooks {
		secret, _ := w.secret()
		n.webhooks[w.Name] = &webhook{cfg: w, secret: secret}
	}
	if n.mailer == nil {
		if n.mailer, err = smtp.New(cfg.SMTP, deps.DataDir); err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
	}
	return n, nil
}

// Start starts the delivery loop: it delivers what is due at once, then
// whenever the store reports new events and every PollInterval (retries,
// expired leases).
func (n *Notifier) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return errors.New("notify: already started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done, n.running = cancel, make(chan struct{}), true
	go func() {
		defer close(n.done)
		n.loop(ctx)
	}()
	n.log.Info("notifier started", "transport", n.mailer.String(), "channels", n.cfg.Channels())
	return nil
}

// Stop stops the loop and waits for the deliveries in flight: a delivery
// cut off half-way would only be sent again, but a clean stop sends none
// twice.
func (n *Notifier) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		return nil
	}
	n.cancel()
	<-n.done
	n.running = false
	n.log.Info("notifier stopped")
	return nil
}

// Links returns the link maker, nil when links are disabled. The web
// portal verifies the tokens of /l/{token} with Links().Verify.
func (n *Notifier) Links() *Links { return n.links }

func (n *Notifier) loop(ctx context.Context) {
	watcher, _ := n.store.(abuseguard.OutboxWatcher)
	tick := time.NewTicker(n.cfg.Delivery.PollInterval)
	defer tick.Stop()
	for {
		// Take the wake-up channel before looking, so an event committed
		// while we deliver is not missed.
		var added <-chan struct{}
		if watcher != nil {
			added = watcher.EventsAdded()
		}
		if _, err := n.RunOnce(ctx); err != nil && ctx.Err() == nil {
			n.warnLimited("outbox not read", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-added:
		case <-tick.C:
		}
	}
}

// RunOnce claims and delivers every delivery due now, Workers at a time,
// and returns how many it handled. The loop calls it; tests call it after
// moving their clock. Errors: the store's, from claiming.
func (n *Notifier) RunOnce(ctx context.Context) (int, error) {
	// Claim no more than can start at once: a claimed delivery waiting
	// behind slow ones would spend its lease waiting, and the lease is
	// sized for one delivery (twice the SMTP timeout).
	batch := n.cfg.Delivery.Workers
	total := 0
	for {
		ds, err := n.store.ClaimDeliveries(ctx, n.now(), batch, n.cfg.Delivery.Lease)
		if err != nil {
			n.m.storeErrors.Inc()
			return total, fmt.Errorf("claim deliveries: %w", err)
		}
		n.m.claimed.Add(float64(len(ds)))
		var g errgroup.Group
		g.SetLimit(n.cfg.Delivery.Workers)
		for _, d := range ds {
			g.Go(func() error {
				// Not ctx: a stop waits for the delivery to finish and
				// be marked rather than cut it between send and mark.
				n.deliver(context.WithoutCancel(ctx), d)
				return nil
			})
		}
		g.Wait()
		total += len(ds)
		if len(ds) < batch || ctx.Err() != nil {
			return total, nil
		}
	}
}

// warnLimited logs at most once a second: a mail server that is down
// fails every delivery, and the counters have the totals.
func (n *Notifier) warnLimited(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := n.lastWarn.Load()
	if now-last < int64(time.Second) || !n.lastWarn.CompareAndSwap(last, now) {
		return
	}
	n.log.Warn(msg, args...)
}
