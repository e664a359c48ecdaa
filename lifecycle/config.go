package lifecycle

import (
	"errors"
	"fmt"
	"time"

	"abuseguard"
)

// Configuration is the lifecycle's section of the configuration file.
type Configuration struct {
	// JoinWindow: a detection for the same address and reason joins the
	// case that is not yet enforced (open) if that case saw a detection
	// within this window; such a case closes after this long without one.
	// Cases that are warned, blocked or on probation join any detection.
	// Default 1h.
	JoinWindow time.Duration `yaml:"join_window"`
	// WarmUp: after start, nothing automatic is enforced for this long
	// (detector windows and flow exporters' active timeouts settle); a
	// case held by it is decided when it ends if detections continued.
	// Default 1m. Set 0 for replayed captures.
	WarmUp time.Duration `yaml:"warm_up"`
	// DryRun records what would be enforced (warnings included) without
	// enforcing or telling customers. Operators' manual actions still act.
	DryRun bool `yaml:"dry_run"`
	// Breaker caps automatic blocks.
	Breaker BreakerConfiguration `yaml:"breaker"`
	// FloodQuiet: an incoming-flood block lifts once no detection came for
	// this long and none is ongoing. It must exceed the detector's
	// re-report interval. Default 15m.
	FloodQuiet time.Duration `yaml:"flood_quiet"`
	// DetectionTimeout: a detection whose final report has not come after
	// this long counts as ended (a detector restarted and lost it).
	// Default 1h.
	DetectionTimeout time.Duration `yaml:"detection_timeout"`
	// MaxDetections is how many detections a case keeps with their
	// figures and evidence; later ones are only counted. Default 50.
	MaxDetections int `yaml:"max_detections"`
	// MaxEvidenceFiles and MaxEvidenceBytes bound the evidence kept per
	// case. Defaults 20 files, 16 MiB.
	MaxEvidenceFiles int   `yaml:"max_evidence_files"`
	MaxEvidenceBytes int64 `yaml:"max_evidence_bytes"`
	// TimerInterval is how often due timers (deadlines, reminders,
	// probation, block lifting) are looked at. Default 1s.
	TimerInterval time.Duration `yaml:"timer_interval"`
	// QueueSize bounds the detections waiting to be committed; a full
	// queue makes the detector wait (backpressure, counted). Default 8192.
	QueueSize int `yaml:"queue_size"`
	// BatchSize is the most detections committed in one transaction
	// (group commit). Default 1024: pages that many changes share (index
	// pages, the tables' last pages) are written once per transaction, and
	// a burst of new cases was absorbed 1.2 times faster than at 256
	// (BenchmarkIngest, November 2026); a full batch holds the write lock
	// about 0.1 s.
	BatchSize int `yaml:"batch_size"`
	// Policy says what to do per reason, with overrides per host group.
	Policy PolicyConfiguration `yaml:"policy"`
}

// BreakerConfiguration is the circuit breaker: past MaxBlocks automatic
// blocks within Window, new blocks wait in pending_approval for an
// operator, and operators are alerted once per trip.
type BreakerConfiguration struct {
	// MaxBlocks per Window; 0 disables the breaker. Default 20.
	MaxBlocks int `yaml:"max_blocks"`
	// Window default 10m.
	Window time.Duration `yaml:"window"`
}

// Rule is the policy for one reason.
type Rule struct {
	// Action: ignore, warn or block.
	Action abuseguard.Action `yaml:"action"`
	// BlockAbove blocks at once, whatever Action says (unless ignore), a
	// detection whose value is at least this many times its threshold; 0
	// disables.
	BlockAbove float64 `yaml:"block_above"`
	// Deadline is the time a warned customer has to fix the problem.
	Deadline time.Duration `yaml:"deadline"`
	// Reminder sends a reminder this long before the deadline; 0 none.
	Reminder time.Duration `yaml:"reminder"`
	// Persist: at the deadline, the condition persists (and the block
	// follows) if a detection came within this long before, or one is
	// ongoing.
	Persist time.Duration `yaml:"persist"`
	// Probation follows an unblock; a repeat offence within it reopens the
	// case escalated. Escalated cases get Probation × (escalation + 1).
	Probation time.Duration `yaml:"probation"`
}

// Rules holds a Rule per reason.
type Rules struct {
	Netscan          Rule `yaml:"netscan"`
	PacketLimit      Rule `yaml:"packet_limit"`
	IncomingFlood    Rule `yaml:"incoming_flood"`
	Misconfiguration Rule `yaml:"misconfiguration"`
	Abuse            Rule `yaml:"abuse"`
	Manual           Rule `yaml:"manual"`
}

// PolicyConfiguration is the policy: Default for every host group, and per
// host group name the fields that differ.
type PolicyConfiguration struct {
	Default    Rules                `yaml:"default"`
	HostGroups map[string]Overrides `yaml:"host_groups"`
}

// Override is a host group's difference from the default Rule: fields
// left out inherit.
type Override struct {
	Action     *abuseguard.Action `yaml:"action,omitempty"`
	BlockAbove *float64           `yaml:"block_above,omitempty"`
	Deadline   *time.Duration     `yaml:"deadline,omitempty"`
	Reminder   *time.Duration     `yaml:"reminder,omitempty"`
	Persist    *time.Duration     `yaml:"persist,omitempty"`
	Probation  *time.Duration     `yaml:"probation,omitempty"`
}

// Overrides holds an Override per reason.
type Overrides struct {
	Netscan          Override `yaml:"netscan,omitempty"`
	PacketLimit      Override `yaml:"packet_limit,omitempty"`
	IncomingFlood    Override `yaml:"incoming_flood,omitempty"`
	Misconfiguration Override `yaml:"misconfiguration,omitempty"`
	Abuse            Override `yaml:"abuse,omitempty"`
	Manual           Override `yaml:"manual,omitempty"`
}

func (o Overrides) get(reason abuseguard.Reason) Override {
	switch reason {
	case abuseguard.ReasonNetscan:
		return o.Netscan
	case abuseguard.ReasonPacketLimit:
		return o.PacketLimit
	case abuseguard.ReasonIncomingFlood:
		return o.IncomingFlood
	case abuseguard.ReasonMisconfiguration:
		return o.Misconfiguration
	case abuseguard.ReasonAbuse:
		return o.Abuse
	}
	return o.Manual
}

// apply returns r with o's fields set.
func (o Override) apply(r Rule) Rule {
	if o.Action != nil {
		r.Action = *o.Action
	}
	if o.BlockAbove != nil {
		r.BlockAbove = *o.BlockAbove
	}
	for _, f := range []struct {
		from *time.Duration
		to   *time.Duration
	}{{o.Deadline, &r.Deadline}, {o.Reminder, &r.Reminder}, {o.Persist, &r.Persist}, {o.Probation, &r.Probation}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	return r
}

// DefaultConfiguration returns the defaults: warn for most reasons with a
// 24 h deadline, block at once for scans and packet limits three times past
// their threshold and for incoming floods.
func DefaultConfiguration() Configuration {
	warn := func(blockAbove float64) Rule {
		return Rule{Action: abuseguard.ActionWarn, BlockAbove: blockAbove, Deadline: 24 * time.Hour,
			Reminder: 4 * time.Hour, Persist: time.Hour, Probation: 30 * 24 * time.Hour}
	}
	block := Rule{Action: abuseguard.ActionBlock, Deadline: 24 * time.Hour, Persist: time.Hour, Probation: 30 * 24 * time.Hour}
	return Configuration{
		JoinWindow:       time.Hour,
		WarmUp:           time.Minute,
		Breaker:          BreakerConfiguration{MaxBlocks: 20, Window: 10 * time.Minute},
		FloodQuiet:       15 * time.Minute,
		DetectionTimeout: time.Hour,
		MaxDetections:    50,
		MaxEvidenceFiles: 20,
		MaxEvidenceBytes: 16 << 20,
		TimerInterval:    time.Second,
		QueueSize:        8192,
		BatchSize:        1024,
		Policy: PolicyConfiguration{Default: Rules{
			Netscan:          warn(3),
			PacketLimit:      warn(3),
			IncomingFlood:    block,
			Misconfiguration: warn(0),
			Abuse:            warn(0),
			Manual:           block,
		}},
	}
}

// Validate checks the configuration and reports every problem.
func (c Configuration) Validate() error {
	var errs []error
	positive := map[string]time.Duration{
		"join_window": c.JoinWindow, "flood_quiet": c.FloodQuiet, "detection_timeout": c.DetectionTimeout,
		"timer_interval": c.TimerInterval,
	}
	for name, d := range positive {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("lifecycle.%s: must be positive", name))
		}
	}
	if c.WarmUp < 0 {
		errs = append(errs, errors.New("lifecycle.warm_up: must not be negative"))
	}
	if c.Breaker.MaxBlocks < 0 || (c.Breaker.MaxBlocks > 0 && c.Breaker.Window <= 0) {
		errs = append(errs, errors.New("lifecycle.breaker: max_blocks must not be negative, window positive"))
	}
	if c.MaxDetections < 1 || c.MaxEvidenceFiles < 0 || c.MaxEvidenceBytes < 0 {
		errs = append(errs, errors.New("lifecycle: max_detections must be positive, evidence bounds not negative"))
	}
	if c.QueueSize < 1 || c.BatchSize < 1 {
		errs = append(errs, errors.New("lifecycle: queue_size and batch_size must be positive"))
	}
	errs = append(errs, c.Policy.Default.validate("lifecycle.policy.default")...)
	for name, o := range c.Policy.HostGroups {
		var rs Rules
		for _, r := range c.Policy.Default.all() {
			rs = rs.set(r.reason, o.get(r.reason).apply(r.rule))
		}
		errs = append(errs, rs.validate("lifecycle.policy.host_groups."+name)...)
	}
	return errors.Join(errs...)
}

func (rs Rules) set(reason abuseguard.Reason, r Rule) Rules {
	switch reason {
	case abuseguard.ReasonNetscan:
		rs.Netscan = r
	case abuseguard.ReasonPacketLimit:
		rs.PacketLimit = r
	case abuseguard.ReasonIncomingFlood:
		rs.IncomingFlood = r
	case abuseguard.ReasonMisconfiguration:
		rs.Misconfiguration = r
	case abuseguard.ReasonAbuse:
		rs.Abuse = r
	default:
		rs.Manual = r
	}
	return rs
}

func (rs Rules) validate(path string) []error {
	var errs []error
	for _, r := range rs.all() {
		p := path + "." + string(r.reason)
		switch r.rule.Action {
		case abuseguard.ActionIgnore, abuseguard.ActionWarn, abuseguard.ActionBlock:
		default:
			errs = append(errs, fmt.Errorf("%s.action: %q is not ignore, warn or block", p, r.rule.Action))
		}
		if r.rule.BlockAbove != 0 && r.rule.BlockAbove < 1 {
			errs = append(errs, fmt.Errorf("%s.block_above: must be 0 (off) or at least 1", p))
		}
		if r.rule.Reminder < 0 {
			errs = append(errs, fmt.Errorf("%s.reminder: must not be negative", p))
		}
		if r.rule.Deadline <= 0 || r.rule.Persist <= 0 || r.rule.Probation <= 0 {
			errs = append(errs, fmt.Errorf("%s: deadline, persist and probation must be positive", p))
		}
		if r.rule.Reminder > 0 && r.rule.Deadline > 0 && r.rule.Reminder >= r.rule.Deadline {
			errs = append(errs, fmt.Errorf("%s.reminder: must be shorter than the deadline", p))
		}
	}
	return errs
}

type reasonRule struct {
	reason abuseguard.Reason
	rule   Rule
}

func (rs Rules) all() []reasonRule {
	return []reasonRule{
		{abuseguard.ReasonNetscan, rs.Netscan}, {abuseguard.ReasonPacketLimit, rs.PacketLimit},
		{abuseguard.ReasonIncomingFlood, rs.IncomingFlood}, {abuseguard.ReasonMisconfiguration, rs.Misconfiguration},
		{abuseguard.ReasonAbuse, rs.Abuse}, {abuseguard.ReasonManual, rs.Manual},
	}
}

func (rs Rules) get(reason abuseguard.Reason) Rule {
	for _, r := range rs.all() {
		if r.reason == reason {
			return r.rule
		}
	}
	return rs.Manual
}

// Rule returns the rule for a host group and reason: the host group's
// fields where set, the default's otherwise.
func (p PolicyConfiguration) Rule(hostGroup string, reason abuseguard.Reason) Rule {
	r := p.Default.get(reason)
	if o, ok := p.HostGroups[hostGroup]; ok {
		r = o.get(reason).apply(r)
	}
	return r
}
