package detect

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Configuration is the detect section of the configuration file. Every
// field has a default (DefaultConfiguration). The caps on state are totals,
// split evenly among the shards, so that memory does not depend on the
// machine's core count (the shard count follows GOMAXPROCS by default).
type Configuration struct {
	// Shards is the number of shards (goroutines in concurrent mode); state
	// is split among them by a hash of the customer address. 0 means
	// GOMAXPROCS. Results depend on the shard count only through event time,
	// which each shard keeps on its own (see Engine): replay uses 1 so that
	// its output is the same on every machine. At most 64.
	Shards int `yaml:"shards"`
	// QueueLength is the number of batches queued per shard before Submit
	// drops (and counts) instead of blocking the input.
	QueueLength int `yaml:"queue_length"`
	// BatchSize is the number of records per queued batch.
	BatchSize int `yaml:"batch_size"`

	// MaxAddresses caps the customer addresses tracked; past it the least
	// recently active address of the shard is evicted (and counted). An
	// address costs 0.7 kB with traffic in one direction, about 1.8 kB with
	// both and outgoing connections (docs/performance.md), so the default
	// bounds this state near 500 MB.
	MaxAddresses int `yaml:"max_addresses"`
	// MaxSources caps the misconfiguration keys (source MAC or address of
	// unassigned or spoofed traffic) tracked, evicted alike.
	MaxSources int `yaml:"max_sources"`
	// MaxContacts caps the netscan contacts (and private destinations) kept
	// per customer address. Past it new contacts are dropped and counted:
	// by then the address is far past any sane scan threshold. Half of it at
	// most goes to contacts created by answers (incoming UDP), so that an
	// incoming flood cannot hide a scan.
	MaxContacts int `yaml:"max_contacts"`
	// PendingAttempts caps the attempts waiting out their grace period;
	// past it the oldest of the shard is judged early (and counted).
	PendingAttempts int `yaml:"pending_attempts"`
	// MaxAttempts is the number of attempts kept as evidence per detection
	// (the netscan log); AttemptsTotal counts all of them.
	MaxAttempts int `yaml:"max_attempts"`

	// TopK is the number of peers (and services) reported per detection.
	TopK int `yaml:"top_k"`
	// TopKCounters is the number of Space-Saving counters per summary: a
	// peer with more than 1/TopKCounters of the traffic is never missed, and
	// every count is at most that share of the total too high.
	TopKCounters int `yaml:"top_k_counters"`
	// TopKActivation is the fraction of a packet-limit or flood threshold at
	// which an address starts keeping top-K summaries; below it an address
	// costs no summary.
	TopKActivation float64 `yaml:"top_k_activation"`
	// MaxTopK caps the active top-K summaries (about 10 kB each).
	MaxTopK int `yaml:"max_top_k"`

	// SampleRing is the number of recent packets each shard keeps for the
	// traffic dump (M3); on crossing, the address's packets are taken from
	// it. Per shard: each shard sees only its addresses' packets.
	SampleRing int `yaml:"sample_ring"`
	// Snaplen is the number of header bytes kept per sampled packet.
	Snaplen int `yaml:"snaplen"`
	// MaxSamples caps the packets in one address's traffic dump.
	MaxSamples int `yaml:"max_samples"`

	// ServicePorts are UDP ports above 1023 that serve answers (in addition
	// to every port below 1024): an outgoing packet from one of them to a
	// port ≥ 1024 is a reply, not an attempt.
	ServicePorts []uint16 `yaml:"service_ports"`

	// CustomerFacing says which records entered the network on a customer
	// port, where a source outside the provider's space is spoofing.
	CustomerFacing CustomerFacing `yaml:"customer_facing"`

	// Defaults are the thresholds of the default host group and what every
	// other group inherits for the fields it leaves zero.
	Defaults Thresholds `yaml:"defaults"`
	// HostGroups are, per host group name, the thresholds that differ from
	// Defaults: fields left out (zero) inherit. A resolver group might
	// raise the UDP netscan thresholds, a speed-test group the packet limit.
	HostGroups map[string]Thresholds `yaml:"host_groups,omitempty"`
}

// GroupThresholds returns the thresholds per host group index for New:
// names[i] is the name of group i (the inventory's order), and a group
// without overrides gets the zero Thresholds, which inherits everything.
func (c *Configuration) GroupThresholds(names []string) []Thresholds {
	out := make([]Thresholds, len(names))
	for i, n := range names {
		out[i] = c.HostGroups[n]
	}
	return out
}

// CustomerFacing selects records that came from a customer-facing port.
type CustomerFacing struct {
	// All declares all input customer-facing: a capture taken on a customer
	// port or a top-of-rack switch.
	All bool `yaml:"all"`
	// Interfaces are the exporter interfaces (InIf of the record) that face
	// customers. When set, unassigned-source detection also applies only to
	// them: traffic from the uplinks claiming a provider source is spoofing
	// by someone else, not a misconfigured server.
	Interfaces []Interface `yaml:"interfaces"`
}

// Interface is one interface of a flow exporter.
type Interface struct {
	Exporter netip.Addr `yaml:"exporter"`
	IfIndex  uint32     `yaml:"ifindex"`
}

// Thresholds are the detection settings of one host group. In a group, a
// zero field inherits the value of Configuration.Defaults (and there, of
// DefaultThresholds); Resolve fills them in. A negative threshold disables
// that check (the policy can also ignore a kind, but a disabled check costs
// nothing at all).
type Thresholds struct {
	Netscan          NetscanThresholds   `yaml:"netscan"`
	PacketLimit      RateThresholds      `yaml:"packet_limit"`
	IncomingFlood    RateThresholds      `yaml:"incoming_flood"`
	Misconfiguration MisconfigThresholds `yaml:"misconfiguration"`
	// MinObserved is the number of records that must actually have been
	// seen before sampled input can cross any threshold: one packet sampled
	// at 1:1000 weighs 1 000 but proves nothing. The rule for counts is
	// observed ≥ min(threshold, MinObserved).
	MinObserved int64 `yaml:"min_observed"`
	// MaxDuration ends a detection that is still going on after this long
	// with its Final report; if the condition persists a new detection (new
	// ID) starts, so that evidence is delivered in bounded pieces.
	MaxDuration time.Duration `yaml:"max_duration"`
}

// NetscanThresholds are the settings of netscan detection (M1).
type NetscanThresholds struct {
	// Window is how long a contact is remembered after it was last seen.
	Window time.Duration `yaml:"window"`
	// Horizontal is the number of distinct destinations on one protocol and
	// port, Vertical the number of distinct ports on one destination, and
	// ICMPSweep the number of hosts sent an echo request, that make a scan
	// when unanswered within Window.
	Horizontal int64 `yaml:"horizontal"`
	Vertical   int64 `yaml:"vertical"`
	ICMPSweep  int64 `yaml:"icmp_sweep"`
	// AttemptShare is the share of a port's (or host's) contacts that must
	// be unanswered: a crawler or mail server whose few dead peers add up
	// past the threshold is not scanning. Negative: no share required.
	AttemptShare float64 `yaml:"attempt_share"`
	// Grace is how long an attempt waits before it counts: a handshake
	// answered within Grace never counts, so a burst of connections that
	// complete one round trip later is not a scan. Negative: count at once.
	Grace time.Duration `yaml:"grace"`
	// Quiet is how long the scan must have stayed below threshold for its
	// detection to end; 0 means one Window.
	Quiet time.Duration `yaml:"quiet"`
}

// RateThresholds are the settings of a packet-rate detector: packet limit
// (M2, outgoing) and incoming flood (M4).
type RateThresholds struct {
	// Window is the length of the averaging window (ten buckets).
	Window time.Duration `yaml:"window"`
	// PPS and BPS are the packets and bits per second, averaged over Window,
	// that make a detection (whichever is crossed first names the subkind).
	PPS int64 `yaml:"pps"`
	BPS int64 `yaml:"bps"`
	// Quiet is how long the rate must have stayed below both thresholds for
	// the detection to end; 0 means one Window.
	Quiet time.Duration `yaml:"quiet"`
}

// MisconfigThresholds are the settings of misconfiguration detection (M5).
type MisconfigThresholds struct {
	// Window is the period the counts below are taken over.
	Window time.Duration `yaml:"window"`
	// PrivateDestinations is the number of distinct private or reserved
	// destinations a customer address may send to within Window.
	PrivateDestinations int64 `yaml:"private_destinations"`
	// UnassignedPackets is the number of packets from provider addresses
	// assigned to no server (per source MAC, else per address) within
	// Window that make a detection.
	UnassignedPackets int64 `yaml:"unassigned_packets"`
	// SpoofedPackets is the same for sources outside the provider's space
	// on customer-facing ports.
	SpoofedPackets int64 `yaml:"spoofed_packets"`
	// Quiet is how long the condition must have stayed below threshold for
	// the detection to end; 0 means one Window.
	Quiet time.Duration `yaml:"quiet"`
}

// DefaultThresholds returns the built-in thresholds, DESIGN.md's starting
// points.
func DefaultThresholds() Thresholds {
	return Thresholds{
		Netscan: NetscanThresholds{
			Window:       60 * time.Second,
			Horizontal:   100,
			Vertical:     100,
			ICMPSweep:    100,
			AttemptShare: 0.25,
			Grace:        2 * time.Second,
		},
		PacketLimit:   RateThresholds{Window: 10 * time.Second, PPS: 50_000, BPS: 1_000_000_000},
		IncomingFlood: RateThresholds{Window: 10 * time.Second, PPS: 200_000, BPS: 2_000_000_000},
		Misconfiguration: MisconfigThresholds{
			Window:              5 * time.Minute,
			PrivateDestinations: 20,
			UnassignedPackets:   50,
			SpoofedPackets:      50,
		},
		MinObserved: 8,
		MaxDuration: 10 * time.Minute,
	}
}

// DefaultConfiguration returns the built-in configuration.
func DefaultConfiguration() Configuration {
	return Configuration{
		QueueLength:     32,
		BatchSize:       1024,
		MaxAddresses:    1 << 18,
		MaxSources:      1 << 12,
		MaxContacts:     4096,
		PendingAttempts: 1 << 16,
		MaxAttempts:     1000,
		TopK:            10,
		TopKCounters:    64,
		TopKActivation:  0.25,
		MaxTopK:         1024,
		SampleRing:      4096,
		Snaplen:         128,
		MaxSamples:      500,
		// OpenVPN, RADIUS, STUN/TURN, IPsec NAT-T, SIP, Steam game servers,
		// WireGuard: UDP services that answer from a port above 1023.
		ServicePorts: []uint16{1194, 1812, 1813, 3478, 4500, 5060, 27015, 51820},
		Defaults:     DefaultThresholds(),
	}
}

// Resolve returns t with every zero field taken from defaults, then from
// DefaultThresholds, and every zero Quiet set to its window: the effective
// thresholds of a host group, as `config dump` shows them.
func (t Thresholds) Resolve(defaults Thresholds) Thresholds {
	b := DefaultThresholds()
	inherit(&t.Netscan.Window, defaults.Netscan.Window, b.Netscan.Window)
	inherit(&t.Netscan.Horizontal, defaults.Netscan.Horizontal, b.Netscan.Horizontal)
	inherit(&t.Netscan.Vertical, defaults.Netscan.Vertical, b.Netscan.Vertical)
	inherit(&t.Netscan.ICMPSweep, defaults.Netscan.ICMPSweep, b.Netscan.ICMPSweep)
	inherit(&t.Netscan.AttemptShare, defaults.Netscan.AttemptShare, b.Netscan.AttemptShare)
	inherit(&t.Netscan.Grace, defaults.Netscan.Grace, b.Netscan.Grace)
	inherit(&t.Netscan.Quiet, defaults.Netscan.Quiet, t.Netscan.Window)
	for _, r := range []struct{ t, d, b *RateThresholds }{
		{&t.PacketLimit, &defaults.PacketLimit, &b.PacketLimit},
		{&t.IncomingFlood, &defaults.IncomingFlood, &b.IncomingFlood},
	} {
		inherit(&r.t.Window, r.d.Window, r.b.Window)
		inherit(&r.t.PPS, r.d.PPS, r.b.PPS)
		inherit(&r.t.BPS, r.d.BPS, r.b.BPS)
		inherit(&r.t.Quiet, r.d.Quiet, r.t.Window)
	}
	m, dm, bm := &t.Misconfiguration, &defaults.Misconfiguration, &b.Misconfiguration
	inherit(&m.Window, dm.Window, bm.Window)
	inherit(&m.PrivateDestinations, dm.PrivateDestinations, bm.PrivateDestinations)
	inherit(&m.UnassignedPackets, dm.UnassignedPackets, bm.UnassignedPackets)
	inherit(&m.SpoofedPackets, dm.SpoofedPackets, bm.SpoofedPackets)
	inherit(&m.Quiet, dm.Quiet, m.Window)
	inherit(&t.MinObserved, defaults.MinObserved, b.MinObserved)
	inherit(&t.MaxDuration, defaults.MaxDuration, b.MaxDuration)
	return t
}

func inherit[T int64 | float64 | time.Duration](v *T, from ...T) {
	for _, f := range from {
		if *v != 0 {
			return
		}
		*v = f
	}
}

// Validate checks resolved thresholds and reports every problem, each
// prefixed with its key path under prefix.
func (t Thresholds) Validate(prefix string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: "+format, append([]any{prefix, key}, args...)...))
	}
	window := func(key string, d time.Duration) {
		// Buckets are a tenth of the window; below 10 ms they would be
		// shorter than the timestamp jitter of flow exporters.
		if d < 100*time.Millisecond {
			bad(key, "must be at least 100ms, not %v", d)
		}
	}
	window("netscan.window", t.Netscan.Window)
	window("packet_limit.window", t.PacketLimit.Window)
	window("incoming_flood.window", t.IncomingFlood.Window)
	window("misconfiguration.window", t.Misconfiguration.Window)
	if t.Netscan.AttemptShare > 1 {
		bad("netscan.attempt_share", "must be at most 1, not %v", t.Netscan.AttemptShare)
	}
	if t.Netscan.Grace >= t.Netscan.Window {
		bad("netscan.grace", "must be shorter than the window (%v), not %v", t.Netscan.Window, t.Netscan.Grace)
	}
	for key, q := range map[string]time.Duration{
		"netscan.quiet": t.Netscan.Quiet, "packet_limit.quiet": t.PacketLimit.Quiet,
		"incoming_flood.quiet": t.IncomingFlood.Quiet, "misconfiguration.quiet": t.Misconfiguration.Quiet,
	} {
		if q < 0 {
			bad(key, "must not be negative, not %v", q)
		}
	}
	if t.MinObserved < 1 {
		bad("min_observed", "must be at least 1, not %d", t.MinObserved)
	}
	if t.MaxDuration < time.Second {
		bad("max_duration", "must be at least 1s, not %v", t.MaxDuration)
	}
	return errors.Join(errs...)
}

// Validate checks the configuration (with Defaults resolved) and reports
// every problem.
func (c *Configuration) Validate() error {
	var errs []error
	positive := func(key string, v, min int) {
		if v < min {
			errs = append(errs, fmt.Errorf("detect.%s: must be at least %d, not %d", key, min, v))
		}
	}
	if c.Shards < 0 || c.Shards > maxShards {
		errs = append(errs, fmt.Errorf("detect.shards: must be between 0 (GOMAXPROCS) and %d, not %d", maxShards, c.Shards))
	}
	positive("queue_length", c.QueueLength, 1)
	positive("batch_size", c.BatchSize, 1)
	positive("max_addresses", c.MaxAddresses, 1)
	positive("max_sources", c.MaxSources, 1)
	positive("max_contacts", c.MaxContacts, 2)
	positive("pending_attempts", c.PendingAttempts, 1)
	positive("max_attempts", c.MaxAttempts, 0)
	positive("top_k", c.TopK, 1)
	positive("top_k_counters", c.TopKCounters, c.TopK)
	positive("max_top_k", c.MaxTopK, 1)
	positive("sample_ring", c.SampleRing, 0)
	positive("snaplen", c.Snaplen, 0)
	positive("max_samples", c.MaxSamples, 0)
	if c.TopKActivation <= 0 || c.TopKActivation > 1 {
		errs = append(errs, fmt.Errorf("detect.top_k_activation: must be in (0, 1], not %v", c.TopKActivation))
	}
	for i, p := range c.ServicePorts {
		if p < 1024 {
			errs = append(errs, fmt.Errorf("detect.service_ports[%d]: %d is below 1024, which are all service ports already", i, p))
		}
	}
	for i, f := range c.CustomerFacing.Interfaces {
		if !f.Exporter.IsValid() {
			errs = append(errs, fmt.Errorf("detect.customer_facing.interfaces[%d].exporter: missing", i))
		}
	}
	defaults := c.Defaults.Resolve(Thresholds{})
	if err := defaults.Validate("detect.defaults"); err != nil {
		errs = append(errs, err)
	}
	for name, t := range c.HostGroups {
		if err := t.Resolve(defaults).Validate("detect.host_groups." + name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// maxShards bounds Shards so that Submit can keep its per-call batches in an
// array on the stack instead of allocating a slice per call.
const maxShards = 64
