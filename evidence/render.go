// Package evidence renders what a detection found into the files the
// customer receives: the netscan log, the packet summary, the traffic dump
// as tcpdump-style lines and as a pcap. The same bytes go into the mail
// attachment, the portal and the API, so a customer who forwards the mail
// and an operator who opens the case see one and the same evidence.
//
// The layouts are the product's output contract (../shared/seed/README.md,
// DESIGN.md "The log formats"):
//
//   - netscan.log: the seed's 67-column '#' banner, then one line per
//     attempt in the newer column layout (time, source, source port,
//     destination, destination port, size, protocol), the first N only,
//     and a footer with the totals.
//   - packet-summary.log: "Direction", "Internal", "Sum" and one "External"
//     line per peer with packets/s in German digit grouping and MBit/s, as
//     the seed shows it; incoming floods add one "Service" line per
//     protocol and port.
//   - misconfiguration.log: private or reserved destinations in the netscan
//     layout; unassigned or spoofed sources as a table of source address,
//     MAC and count.
//   - traffic.log: the sampled packets, in and out, one tcpdump -n line
//     each, the last N only; traffic.pcap: those of them that carry packet
//     data, as a classic pcap with nanosecond timestamps.
//
// Everything here is bounded by Options, deterministic (the same detection
// renders to the same bytes) and pure: no I/O, no clock.
package evidence

import (
	"bytes"
	"time"

	"abuseguard"
)

// Defaults of Options, used where a field is zero or negative.
const (
	DefaultAttempts = 1000 // attempt lines in netscan.log and misconfiguration.log
	DefaultPeers    = 20   // External lines in packet-summary.log
	DefaultServices = 20   // Service lines in packet-summary.log
	DefaultSamples  = 1000 // packets in traffic.log and traffic.pcap
)

// File names and content types of the rendered evidence.
const (
	NameNetscan          = "netscan.log"
	NameSummary          = "packet-summary.log"
	NameMisconfiguration = "misconfiguration.log"
	NameTraffic          = "traffic.log"
	NamePcap             = "traffic.pcap"

	ContentTypeText = "text/plain; charset=utf-8"
	ContentTypePcap = "application/vnd.tcpdump.pcap"
)

// Options bound the evidence and choose the time zone it is written in.
// The zero value renders with the defaults in UTC.
type Options struct {
	// Attempts is how many attempts the netscan and misconfiguration logs
	// list, the first ones; the footer gives the total.
	Attempts int `yaml:"attempts"`
	// Peers is how many external addresses the packet summary lists, the
	// ones with the most packets/s.
	Peers int `yaml:"peers"`
	// Services is how many protocol/port lines an incoming flood's summary
	// lists, the ones with the most packets/s.
	Services int `yaml:"services"`
	// Samples is how many sampled packets the traffic dump keeps, the last
	// ones.
	Samples int `yaml:"samples"`
	// Location is the time zone of the times in the logs; nil means UTC.
	// Every log names its zone.
	Location *time.Location `yaml:"-"`
}

// withDefaults returns o with zero and negative fields replaced by the
// defaults.
func (o Options) withDefaults() Options {
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Peers <= 0 {
		o.Peers = DefaultPeers
	}
	if o.Services <= 0 {
		o.Services = DefaultServices
	}
	if o.Samples <= 0 {
		o.Samples = DefaultSamples
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	return o
}

// Render renders the evidence of d into files, in this order: the kind's
// log (netscan.log, packet-summary.log or misconfiguration.log; none for
// abuse and manual cases), then traffic.log when d has samples, then
// traffic.pcap when some of them carry packet data.
//
// Render does not modify d; it is safe for concurrent use.
func Render(d *abuseguard.Detection, opts Options) []abuseguard.Evidence {
	o := opts.withDefaults()
	var out []abuseguard.Evidence
	text := func(name string, b *bytes.Buffer) {
		out = append(out, abuseguard.Evidence{Name: name, ContentType: ContentTypeText, Data: b.Bytes()})
	}
	switch d.Kind {
	case abuseguard.ReasonNetscan:
		text(NameNetscan, renderNetscan(d, o))
	case abuseguard.ReasonPacketLimit, abuseguard.ReasonIncomingFlood:
		text(NameSummary, renderSummary(d, o))
	case abuseguard.ReasonMisconfiguration:
		text(NameMisconfiguration, renderMisconfiguration(d, o))
	}
	if len(d.Samples) > 0 {
		samples := lastSamples(d.Samples, o.Samples)
		text(NameTraffic, renderTraffic(d, samples, o))
		if pcap := renderPcap(samples); pcap != nil {
			out = append(out, abuseguard.Evidence{Name: NamePcap, ContentType: ContentTypePcap, Data: pcap})
		}
	}
	return out
}
