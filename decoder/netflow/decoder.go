package netflow

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"abuseguard/flow"
)

// Config bounds what an exporter can make the decoder hold. The zero value
// means the defaults below; every limit is per exporter address unless said
// otherwise, so that one broken or hostile exporter cannot starve the
// others.
type Config struct {
	// MaxExporters is how many exporter addresses the decoder keeps state
	// for (templates, sampler tables, held data). Default 1024. The
	// collector admits only configured exporters; this is the backstop.
	MaxExporters int
	// MaxTemplates is how many templates and options templates one exporter
	// may define over all its observation domains. Default 1024: the
	// busiest exporter in the test captures (Cisco ASA) defines 13, nProbe
	// 6, VMware 13.
	MaxTemplates int
	// MaxTemplateFields is how many template fields one exporter may
	// define in total, which bounds the memory of its templates (about 8
	// bytes each once compiled, twice that with the wire copy kept to
	// recognise refreshes). Default 32768, i.e. about 512 KiB per exporter.
	MaxTemplateFields int
	// HoldBytes is how many bytes of data sets one exporter may have
	// waiting for their template. Default 64 KiB, about 45 full-size
	// datagrams; negative disables holding (such sets are dropped and
	// counted at once).
	HoldBytes int
	// HoldTime is how long a data set waits for its template. Default 5 s:
	// long enough for a template that was reordered behind its data or
	// sent in the next datagram, short enough that data is not replayed
	// long after it was exported. Exporters that refresh templates every
	// few minutes lose the data sent before the first refresh after a
	// collector restart either way.
	HoldTime time.Duration
}

// Defaults for Config.
const (
	DefaultMaxExporters      = 1024
	DefaultMaxTemplates      = 1024
	DefaultMaxTemplateFields = 32768
	DefaultHoldBytes         = 64 << 10
	DefaultHoldTime          = 5 * time.Second
)

// heldOverhead is charged to HoldBytes for each held set on top of its
// bytes, so that a flood of 4-byte sets is bounded too (the heldSet struct
// and slice header are about that size).
const heldOverhead = 96

// maxSamplers bounds one domain's sampler table: options data from a
// hostile exporter could otherwise fill it with random sampler IDs. Real
// routers have a handful of samplers.
const maxSamplers = 1024

// Decoder decodes NetFlow v5, v9 and IPFIX datagrams into flow records. It
// keeps template and sampling state per exporter address and, within an
// exporter, per (version, observation domain / source ID), as RFC 7011 §8
// and RFC 3954 §5.1 scope templates.
//
// A Decoder is safe for concurrent use, including by several UDP workers
// decoding datagrams of the same exporter: each exporter's state has its
// own RWMutex, data sets are decoded under the read lock, and templates
// are immutable once published (a refresh that changes a template replaces
// it), so a data set never sees a half-updated template. Datagrams of one
// exporter decoded concurrently may of course be decoded in either order:
// data that overtakes its template is held (see Config.HoldTime) and
// decoded when the template arrives.
type Decoder struct {
	cfg Config

	mu        sync.RWMutex
	exporters map[netip.Addr]*exporter
	sampling  map[netip.Addr]uint64 // configured rates, packed by packSampling

	stats counters

	// setHook, when set by a test, is called once per decoded data or
	// options data set with the number of records it held.
	setHook func(id uint16, options bool, records int)
}

// New returns a Decoder; zero fields of cfg take their defaults.
func New(cfg Config) *Decoder {
	if cfg.MaxExporters <= 0 {
		cfg.MaxExporters = DefaultMaxExporters
	}
	if cfg.MaxTemplates <= 0 {
		cfg.MaxTemplates = DefaultMaxTemplates
	}
	if cfg.MaxTemplateFields <= 0 {
		cfg.MaxTemplateFields = DefaultMaxTemplateFields
	}
	if cfg.HoldBytes == 0 {
		cfg.HoldBytes = DefaultHoldBytes
	}
	if cfg.HoldTime <= 0 {
		cfg.HoldTime = DefaultHoldTime
	}
	return &Decoder{
		cfg:       cfg,
		exporters: make(map[netip.Addr]*exporter),
		sampling:  make(map[netip.Addr]uint64),
	}
}

// Decode decodes one datagram from exporter (the UDP source address) and
// appends its flow records to out, which it returns. recvTime is when the
// datagram arrived: it times out held data and stands in for the export
// time when an exporter sends 0 there.
//
// A datagram that is partly bad yields the records of its good part and
// the first error met (an *Error, matching its Kind with errors.Is); the
// decoder goes on past errors that do not make the rest unreadable, such
// as a data set without its template. Options records feed the sampler
// tables and are not returned. Records appended to out never share memory
// with payload, so payload may be reused as soon as Decode returns.
//
// In steady state (templates known, out with spare capacity) Decode does
// not allocate.
func (d *Decoder) Decode(exporter netip.Addr, payload []byte, recvTime time.Time, out []flow.Record) ([]flow.Record, error) {
	exporter = exporter.Unmap()
	if len(payload) < 2 {
		return out, &Error{Kind: ErrShort, Detail: "no version field"}
	}
	switch v := be16(payload); v {
	case 5:
		return d.decodeV5(exporter, payload, out)
	case 9, 10:
		return d.decodeTemplated(exporter, v, payload, recvTime.UnixNano(), out)
	default:
		return out, &Error{Kind: ErrVersion, Version: v}
	}
}

// SetSamplingRate configures the sampling rate of an exporter's records.
// Without force it applies only to records for which the exporter sends
// no rate (in the record, in options data or in the v5 header); with force
// it replaces whatever the exporter sends, for exporters known to lie. A
// rate of 0 removes the setting.
func (d *Decoder) SetSamplingRate(exporter netip.Addr, rate uint32, force bool) {
	exporter = exporter.Unmap()
	packed := packSampling(rate, force)
	d.mu.Lock()
	defer d.mu.Unlock()
	if rate == 0 {
		delete(d.sampling, exporter)
	} else {
		d.sampling[exporter] = packed
	}
	if e := d.exporters[exporter]; e != nil {
		e.sampling.Store(packed)
	}
}

func packSampling(rate uint32, force bool) uint64 {
	if rate == 0 {
		return 0
	}
	p := uint64(rate)
	if force {
		p |= 1 << 32
	}
	return p
}

// exporter returns the state of addr, creating it if there is room.
func (d *Decoder) exporter(addr netip.Addr) *exporter {
	d.mu.RLock()
	e := d.exporters[addr]
	d.mu.RUnlock()
	if e != nil {
		return e
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e = d.exporters[addr]; e != nil {
		return e
	}
	if len(d.exporters) >= d.cfg.MaxExporters {
		return nil
	}
	e = &exporter{domains: make(map[domainKey]*domain)}
	e.sampling.Store(d.sampling[addr])
	d.exporters[addr] = e
	return e
}

// Forget drops the state of an exporter: templates, sampler tables and
// held data (the configured sampling rate stays). A collector calls it when
// an exporter is removed from its configuration; an exporter that comes
// back starts over, as after a collector restart.
func (d *Decoder) Forget(exporter netip.Addr) {
	exporter = exporter.Unmap()
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.exporters, exporter)
}

// Expire drops held data sets older than Config.HoldTime at now, counting
// them in Stats.HeldExpired. Decode already does this for the exporter it
// decodes; a collector calls Expire every few seconds so that the data of
// an exporter that fell silent is not kept.
func (d *Decoder) Expire(now time.Time) {
	cutoff := now.UnixNano() - int64(d.cfg.HoldTime)
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, e := range d.exporters {
		e.mu.Lock()
		d.stats.heldExpired.Add(uint64(e.expire(cutoff)))
		e.mu.Unlock()
	}
}

// Stats are the decoder's counters since New. Errors are not counted here:
// Decode returns them and the caller counts them by Kind.
type Stats struct {
	// Exporters and Templates are the current number of exporters with
	// state and of templates and options templates they defined.
	Exporters, Templates int
	// OptionsRecords counts options data records read.
	OptionsRecords uint64
	// TemplatesRejected counts template records refused as malformed
	// (ErrBadTemplate) or over the limits (ErrTemplateLimit); Decode
	// returns only the first error of a datagram, this counts them all.
	TemplatesRejected uint64
	// NoSamplingRate counts records returned with SamplingRate 0: neither
	// the exporter nor the configuration gave a rate.
	NoSamplingRate uint64
	// Held counts data sets held for a template; HeldDecoded those decoded
	// when it arrived; HeldExpired those dropped after Config.HoldTime;
	// HeldDropped those dropped at once because the exporter's hold buffer
	// was full or holding is disabled.
	Held, HeldDecoded, HeldExpired, HeldDropped uint64
}

type counters struct {
	optionsRecords, noRate, templatesRejected   atomic.Uint64
	held, heldDecoded, heldExpired, heldDropped atomic.Uint64
}

// Stats returns the counters and current sizes.
func (d *Decoder) Stats() Stats {
	s := Stats{
		OptionsRecords:    d.stats.optionsRecords.Load(),
		TemplatesRejected: d.stats.templatesRejected.Load(),
		NoSamplingRate:    d.stats.noRate.Load(),
		Held:              d.stats.held.Load(),
		HeldDecoded:       d.stats.heldDecoded.Load(),
		HeldExpired:       d.stats.heldExpired.Load(),
		HeldDropped:       d.stats.heldDropped.Load(),
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	s.Exporters = len(d.exporters)
	for _, e := range d.exporters {
		e.mu.RLock()
		s.Templates += e.templates
		e.mu.RUnlock()
	}
	return s
}
