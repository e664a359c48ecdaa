// Package netflow decodes NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX
// (RFC 7011) datagrams into flow.Record values. v9 and IPFIX share the
// template machinery: a Decoder keeps templates, options templates and
// sampler tables per exporter address and, within it, per (version,
// observation domain / source ID).
//
// # What a record holds
//
// Addresses (IPv4 8/12, IPv6 27/28, Unmap()ped), ports (7/11), protocol
// (4), TCP flags (6, 8 or 16 bits: the low 8), byte and packet counts,
// interfaces (10/14), flow direction (61), source MAC (56, else 81),
// start and end times in Unix ns, the sampling rate, and for ICMP the
// type<<8|code in DstPort (from 32, 139 or 176-179; without them the
// exporter's destination port, the v5 convention). Where an exporter can
// send an attribute several ways, preference lists in fields.go say which
// element wins and which fills in when it is 0 (delta counts, then total
// counts, then egress "post" counts).
//
// Times: v5 and v9 first/last switched are sysUptime-relative and converted
// with the header's uptime and Unix time (the difference is taken in
// 32 bits, so the 49.7-day uptime wrap is handled); IPFIX flowStart/End
// Seconds, Milliseconds, Micro/Nanoseconds (NTP format) and
// DeltaMicroseconds are absolute or relative to the export time, and
// flowStart/EndSysUpTime relative to systemInitTimeMilliseconds (160) from
// the record or from options data. A record with no time gets the export
// time; one with a single time is an instant. An export time of 0 is
// replaced by the receive time.
//
// # Sampling
//
// Record.SamplingRate comes, first available first, from the record itself
// (samplingSize/samplingPopulation 309/310, samplingPacketInterval/Space
// 305/306, samplingInterval 34, samplerRandomInterval 50), from the
// domain's sampler table built from options data (keyed by samplerId 48
// or selectorId 302 named in the record), from a rate in options data that
// names no sampler (the domain default), and last from
// Decoder.SetSamplingRate, which can also be forced over all of these.
// NetFlow v5 takes the 14-bit interval of its header. Records left without
// a rate get 0 and are counted in Stats.NoSamplingRate.
//
// # Robustness
//
// Lengths are trusted only as far as the datagram goes: the v9 count field
// is ignored (set lengths delimit everything), an IPFIX length shorter than
// the datagram is ignored, a v5 count longer than the datagram is cut to
// what fits and reported. Zero padding after the last set, set lengths not
// a multiple of 4, fields of length 0 and element 0, enterprise elements
// (skipped by length) and variable-length fields (1- and 3-byte forms) are
// handled. Data whose template is unknown is held for Config.HoldTime in a
// per-exporter buffer of Config.HoldBytes and decoded when the template
// arrives, or dropped and counted; it is never decoded with a guessed
// layout. Templates that describe records longer than a 64 KiB message,
// and templates beyond an exporter's Config.MaxTemplates and
// Config.MaxTemplateFields, are refused with ErrTemplateLimit, so that an
// exporter's state stays within about 1 MiB whatever it sends.
//
// Errors are *Error values carrying a Kind; callers count them with
// KindOf(err).String() as the metric label. A partly bad datagram yields
// its good records and the first error.
package netflow
