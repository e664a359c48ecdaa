package netflow

import (
	"sync"
	"sync/atomic"
)

// exporter is the state of one exporter address. mu guards everything but
// sampling, which SetSamplingRate may change at any time.
type exporter struct {
	// sampling is the configured rate, packed by packSampling.
	sampling atomic.Uint64

	mu      sync.RWMutex
	domains map[domainKey]*domain
	// templates and fields count what all domains hold, for the limits.
	templates, fields int
	// held are data sets waiting for their template, oldest first;
	// heldBytes is what they are charged against Config.HoldBytes.
	held      []heldSet
	heldBytes int
}

// domainKey scopes templates: the same template ID means different things
// in NetFlow v9 and IPFIX, and in different observation domains (RFC 7011
// §3.4.3) or v9 source IDs (RFC 3954 §5.1) of one exporter.
type domainKey struct {
	version uint16
	id      uint32
}

// domain is the template and sampling state of one observation domain.
type domain struct {
	templates map[uint16]*template
	// samplers maps a sampler (element 48) or selector (element 302) ID to
	// its rate, learnt from options data.
	samplers map[samplerKey]uint32
	// defaultRate is a rate from options data that named no sampler: the
	// exporter-wide or interface-scoped sampling of Cisco v9 and Juniper.
	defaultRate uint32
	// sysInitMs is systemInitTimeMilliseconds (element 160) from options
	// data: the base of IPFIX flowStart/EndSysUpTime (elements 22, 21).
	sysInitMs uint64
}

// samplerKey keeps samplerId and selectorId apart: they are different
// registries that happen to share numbers.
type samplerKey struct {
	elem uint16
	id   uint64
}

// domain returns the state of key, creating it. Callers hold e.mu.
func (e *exporter) domain(key domainKey) *domain {
	dom := e.domains[key]
	if dom == nil {
		dom = &domain{
			templates: make(map[uint16]*template),
			samplers:  make(map[samplerKey]uint32),
		}
		e.domains[key] = dom
	}
	return dom
}

// heldSet is a data set that arrived before its template, with the header
// of the message that carried it: times in it are relative to that header.
type heldSet struct {
	hdr  header
	id   uint16
	data []byte
}

func heldCost(h *heldSet) int { return len(h.data) + heldOverhead }

// expire drops held sets received before cutoff (Unix ns) and returns how
// many it dropped. Callers hold e.mu for writing.
func (e *exporter) expire(cutoff int64) int {
	n := 0
	for n < len(e.held) && e.held[n].hdr.recvNs < cutoff {
		e.heldBytes -= heldCost(&e.held[n])
		n++
	}
	if n > 0 {
		e.held = append(e.held[:0], e.held[n:]...)
		clear(e.held[len(e.held):cap(e.held)])
	}
	return n
}

// release removes and returns the held sets of (key, id), in arrival
// order, appending them to dst. Callers hold e.mu for writing.
func (e *exporter) release(key domainKey, id uint16, dst []heldSet) []heldSet {
	kept := e.held[:0]
	for _, h := range e.held {
		if h.hdr.key == key && h.id == id {
			e.heldBytes -= heldCost(&h)
			dst = append(dst, h)
			continue
		}
		kept = append(kept, h)
	}
	clear(e.held[len(kept):])
	e.held = kept
	return dst
}
