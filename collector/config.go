package collector

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"abuseguard/input/afpacket"
	"abuseguard/input/udp"
)

// Configuration of the collector: the `collector:` section.
type Configuration struct {
	// Listeners are the UDP listeners. Default: sflow on :6343, netflow
	// on :2055, ipfix on :4739 (see udp.Configuration).
	Listeners []udp.Configuration `yaml:"listeners"`
	// AFPacket are the interfaces to capture from (mirror ports, TAPs).
	// Default none.
	AFPacket []afpacket.Configuration `yaml:"afpacket"`
	// Exporters are the routers and switches whose exports are accepted,
	// each an address or a prefix, with optional sampling settings.
	// Default none: with AcceptUnknownExporters false, nothing is decoded
	// until exporters are configured.
	Exporters []ExporterConfiguration `yaml:"exporters"`
	// AcceptUnknownExporters decodes datagrams from any source, each new
	// address getting its own state and metrics up to MaxExporters. For a
	// lab, or a collector behind a firewall that already filters; default
	// false.
	AcceptUnknownExporters bool `yaml:"accept_unknown_exporters"`
	// MaxExporters bounds the exporters with state (templates, metrics):
	// the addresses of configured prefixes, or any address with
	// AcceptUnknownExporters. Default 1024.
	MaxExporters int `yaml:"max_exporters"`
	// SFlowExporterFromAgent stamps sFlow records with the agent address
	// the datagram carries instead of its UDP source (behind an sFlow
	// relay or NAT). Exporter control still goes by the UDP source.
	// Default false.
	SFlowExporterFromAgent bool `yaml:"sflow_exporter_from_agent"`
	// TemplateHoldTime is how long NetFlow v9/IPFIX data waits for its
	// template (0: the default); TemplateHoldBytes how much of it one
	// exporter may have waiting (0: none, such data is dropped and
	// counted at once). Defaults 5s and 65536 (see netflow.Config).
	TemplateHoldTime  time.Duration `yaml:"template_hold_time"`
	TemplateHoldBytes int           `yaml:"template_hold_bytes"`
	// MaxClockSkew is how far after its datagram's arrival a record may
	// end: a flow cannot end after it was exported, so a record ending
	// later comes from an exporter whose clock is ahead (or wraps, as
	// softflowd's IPFIX times do for flows older than the process). Such a
	// record is moved back to end at the arrival, keeping its duration,
	// and counted (exporter_future_records_total): the detectors run on
	// record time, and one record far in the future would drag their clock
	// ahead for every other exporter. Default 10s; negative disables.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
}

// ExporterConfiguration is one accepted exporter or range of exporters.
type ExporterConfiguration struct {
	// Address is an address ("192.0.2.1") or a prefix ("192.0.2.0/28").
	Address string `yaml:"address"`
	// SamplingRate is used for the exporter's records that carry no
	// sampling rate (NetFlow v9/IPFIX exporters that send no sampler
	// options, v5 with interval 0, sFlow never). 0: none.
	SamplingRate uint32 `yaml:"sampling_rate"`
	// ForceSamplingRate replaces whatever rate the exporter sends with
	// SamplingRate, for exporters known to report a wrong one.
	ForceSamplingRate bool `yaml:"force_sampling_rate"`

	prefix netip.Prefix // parsed by Validate
}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	return Configuration{
		Listeners: []udp.Configuration{
			udp.DefaultConfiguration("sflow"),
			udp.DefaultConfiguration("netflow"),
			udp.DefaultConfiguration("ipfix"),
		},
		MaxExporters:      1024,
		TemplateHoldTime:  5 * time.Second,
		MaxClockSkew:      10 * time.Second,
		TemplateHoldBytes: 64 << 10,
	}
}

// Validate reports every invalid field and parses the exporter addresses.
func (c *Configuration) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if err := l.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("listeners[%d]: %w", i, err))
		}
		if seen[l.Protocol] {
			errs = append(errs, fmt.Errorf("listeners[%d]: a second %s listener: put its addresses in the first one's listen list", i, l.Protocol))
		}
		seen[l.Protocol] = true
	}
	for i := range c.AFPacket {
		if err := c.AFPacket[i].Validate(); err != nil {
			errs = append(errs, fmt.Errorf("afpacket[%d]: %w", i, err))
		}
	}
	for i := range c.Exporters {
		e := &c.Exporters[i]
		p, err := parseExporter(e.Address)
		if err != nil {
			errs = append(errs, fmt.Errorf("exporters[%d]: address: %w", i, err))
		}
		e.prefix = p
		if e.ForceSamplingRate && e.SamplingRate == 0 {
			errs = append(errs, fmt.Errorf("exporters[%d]: force_sampling_rate needs a sampling_rate", i))
		}
	}
	if c.MaxExporters < 1 || c.MaxExporters > 1<<16 {
		errs = append(errs, fmt.Errorf("max_exporters: %d is not between 1 and 65536", c.MaxExporters))
	}
	if c.TemplateHoldTime < 0 || c.TemplateHoldTime > 10*time.Minute {
		errs = append(errs, fmt.Errorf("template_hold_time: %v is not between 0 and 10m", c.TemplateHoldTime))
	}
	if c.TemplateHoldBytes < 0 || c.TemplateHoldBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("template_hold_bytes: %d is not between 0 and 64 MiB", c.TemplateHoldBytes))
	}
	return errors.Join(errs...)
}

// parseExporter reads an address or a prefix; an address is a full-length
// prefix. Both are Unmap()ped and masked.
func parseExporter(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%s mixes IPv4-mapped and other IPv6 addresses", s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}
