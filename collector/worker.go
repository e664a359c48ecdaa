package collector

import (
	"time"

	"abuseguard/decoder/netflow"
	"abuseguard/decoder/sflow"
	"abuseguard/flow"
	"abuseguard/input/udp"
)

// worker decodes the datagram batches of one listener worker into one
// reused record slice.
type worker struct {
	c    *Collector
	recs []flow.Record
}

// initialRecords is the first capacity of a worker's batch: 32 datagrams
// of 30 NetFlow v5 records. It grows to the largest batch seen and stays.
const initialRecords = 1024

func (c *Collector) newWorker() udp.Handler {
	w := &worker{c: c, recs: make([]flow.Record, 0, initialRecords)}
	return w.handle
}

// handle decodes a batch of datagrams and hands their records to the sink
// in one call. sFlow records point into the datagrams for their Header,
// which stay valid until handle returns.
func (w *worker) handle(dgrams []udp.Datagram) {
	c := w.c
	recs := w.recs[:0]
	for i := range dgrams {
		d := &dgrams[i]
		e, res := c.exporters.lookup(d.Source.Addr())
		if res != found {
			continue // admitted before a reconfiguration; not expected
		}
		e.lastSeen.Store(d.Time)
		f := sniff(d.Payload)
		e.format[f].Add(1)
		before := len(recs)
		var err error
		switch f {
		case formatSFlowV5:
			recs, err = c.sflow.Decode(e.addr, d.Payload, time.Unix(0, d.Time), recs)
			if err != nil {
				e.errors[netflowKinds+int(sflow.KindOf(err))%sflowKinds].Add(1)
			}
		case formatNetFlowV5, formatNetFlowV9, formatIPFIX:
			recs, err = c.netflow.Decode(e.addr, d.Payload, time.Unix(0, d.Time), recs)
			if err != nil {
				e.errors[int(netflow.KindOf(err))%netflowKinds].Add(1)
			}
		default:
			e.errors[kindUnknown].Add(1)
			continue
		}
		w.account(e, f, recs[before:], d.Time)
	}
	if len(recs) > 0 {
		c.metrics.records.Add(float64(len(recs)))
		c.metrics.batches.Inc()
		c.sink(recs)
	}
	w.recs = recs
}

// account applies the exporter's sampling settings to sFlow records (the
// netflow decoder applies them itself), moves records that end after their
// datagram arrived (by more than MaxClockSkew) back to the arrival, and
// counts the records.
func (w *worker) account(e *exporter, f format, recs []flow.Record, arrival int64) {
	var noRate, future uint64
	var rate uint32
	skew := int64(w.c.cfg.MaxClockSkew)
	for i := range recs {
		r := &recs[i]
		if skew >= 0 && r.End-arrival > skew {
			shift := r.End - arrival
			r.Start, r.End = r.Start-shift, arrival
			future++
		}
		if f == formatSFlowV5 && e.rule != nil && e.rule.SamplingRate != 0 &&
			(e.rule.ForceSamplingRate || r.SamplingRate == 0) {
			r.SamplingRate = e.rule.SamplingRate
		}
		if r.SamplingRate == 0 {
			noRate++
		} else {
			rate = r.SamplingRate
		}
	}
	e.records.Add(uint64(len(recs)))
	if future > 0 {
		e.future.Add(future)
	}
	if noRate > 0 {
		e.noRate.Add(noRate)
	}
	if rate != 0 {
		e.rate.Store(rate)
	}
}
