// Package detect finds abuse in flow records, per customer address: netscans
// (M1), outgoing packet-limit breaches (M2), incoming floods (M4) and faulty
// network configuration (M5), each with its evidence: attempts, top peers
// and services, and a traffic dump (M3).
//
// # Records, roles, shards
//
// Each record is classified against the inventory. A record from a customer
// address updates that address's outgoing state, one to a customer address
// its incoming state (both, for customer-to-customer traffic). A record from
// provider space assigned to no server, or from outside the provider on a
// customer-facing port, updates misconfiguration state keyed by its source
// MAC. Everything else is counted and ignored. State is split into shards by
// a hash of the address (or key); a shard is driven by one goroutine at a
// time: Process's caller, or its own goroutine after Start.
//
// # Time
//
// Time is event time, from the records, never the wall clock. Each shard's
// "now" is the latest record end it has seen, or a Tick. Records up to a
// window late land in their own bucket; older ones are clamped into the
// oldest bucket, counted once and never resurrecting old state; a jump
// forward (a capture with years between its parts) is one housekeeping pass
// that finds everything quiet and idle. One corrupt timestamp far ahead would
// leave every later record "late": after 4 096 such records in a row the
// shard decides its clock is wrong, ends its detections and restarts at the
// records' time (abuseguard_detect_time_resets_total). Rates are window sums
// over the fixed window length, so records all at one instant give the right
// rate, and flow records are spread over the buckets their [Start, End]
// overlaps (NetFlow active-timeout exports are not bursts).
//
// # Netscan
//
// Only attempts count. Outgoing TCP SYN without ACK is an attempt, and so are
// FIN/Xmas probes (no ACK, SYN or RST); RST and lone SYN-ACK (backscatter) are
// not; ACK without SYN, or a flow with SYN, ACK and data, is established and
// answers the attempt. Incoming SYN-ACK and RST answer nothing (nmap -sS and
// closed ports). Outgoing UDP is an attempt unless it comes from a service
// port to a port ≥ 1024, or goes to a peer that sent to the address first;
// incoming UDP answers. ICMP echo requests are attempts of their own kind
// (sweep), answered by echo replies. Per address, a contact table keyed by
// (remote address, protocol, remote port) counts unanswered attempts by
// service (horizontal, sweep) and by host (vertical), weighted by the
// sampling rate. A key is a scan when, within the window:
//
//   - its weighted unanswered attempts reach the threshold,
//   - at least min(threshold, MinObserved) of them were actually observed
//     (one sample at 1:1000 weighs 1 000 but proves nothing),
//   - and they are at least AttemptShare of its contacts (a crawler whose
//     dead sites add up past the threshold still has mostly answered ones).
//
// An attempt counts only after Grace (2 s): handshakes complete within a
// round trip, so a burst of connections opened at once (a mail queue, a
// crawler) is never a scan, while an unanswered one is counted 2 s late.
//
// # Packet rates
//
// Per address and direction, a ring of ten buckets holds estimated packets
// and bytes (scaled by the sampling rate) and the packets actually observed.
// Crossing pps or bit/s (with MinObserved packets seen) opens a packet-limit
// (outgoing) or incoming-flood detection; its subkind is the rate crossed
// first. Top-K summaries of peers (and, incoming, of protocol and port) start
// when an address reaches TopKActivation of a threshold, so idle addresses
// cost none, and hold a fixed number of Space-Saving counters however many
// spoofed sources a flood has.
//
// Backscatter does not count towards the packet limit as far as the
// address's incoming traffic explains it: outgoing SYN-ACKs, RSTs, ICMP
// errors and echo replies up to six per incoming packet (Linux retransmits a
// SYN-ACK five times). A server flooded with spoofed SYNs is the victim of an
// incoming flood, not an attacker; replies beyond that allowance, or with
// nothing coming in (an RST flood), count.
//
// # Misconfiguration
//
// Traffic to at least PrivateDestinations distinct private or reserved
// destinations within the window (counted like netscan contacts), and at
// least UnassignedPackets (SpoofedPackets) packets from unassigned (spoofed)
// sources per source MAC, or per source address (per ingress interface for
// spoofing) when the record has no MAC.
//
// # Detections
//
// A detection is reported to the sink when its threshold is crossed (Final
// false), again (Final false, same ID) each time its figure has doubled since
// its last report, so that policy can block at once what is far past its
// threshold (the first report's figure is the threshold itself), and a last
// time when it ends (Final true, same ID): when its condition has
// stayed below threshold for Quiet (default one window), after MaxDuration
// (a continuing condition then opens a new detection), when the address is
// evicted, and at Flush or Stop. Its traffic dump starts with the address's
// packets still in the shard's sample ring and grows until MaxSamples.
//
// # Bounds
//
// Every structure is capped, and what a cap cuts is counted
// (abuseguard_detect_evictions_total): tracked addresses and misconfiguration
// keys (least recently active evicted), contacts per address (new ones
// dropped; half at most created by incoming traffic, so a flood cannot hide a
// scan), attempts awaiting their grace period, active top-K summaries,
// attempts and samples per detection.
package detect
