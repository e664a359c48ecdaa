// Package collector is the live input of abuseguard: it receives flow
// exports on UDP (sFlow v5, NetFlow v5/v9, IPFIX) and packets from
// AF_PACKET interfaces, decodes them and hands batches of flow.Record to
// a sink, which in `serve` classifies them and feeds the detectors.
//
// Datagrams are decoded by what their header says, not by the port they
// came to: the netflow decoder for versions 5, 9 and 10, the sflow
// decoder for sFlow version 5. The decoders are shared by all workers
// (netflow.Decoder keeps its template state per exporter under its own
// locks; sFlow needs no state).
//
// Exporter control: only the exporters of the configuration (addresses or
// prefixes) are decoded; datagrams from others are dropped in the
// receivers, before they take room in the queue, and counted without the
// address as a label. The addresses are kept in a short list of unknown
// exporters seen recently, for the operator (UnknownExporters, and a log
// line when a new one appears). Each configured exporter gets its own
// metrics, labelled by address: exporters are few and configured, so
// the series are bounded.
//
// The sink is called by every worker of every listener, concurrently, and
// by every AF_PACKET ring reader: it must be safe for concurrent use. The
// records of one exporter may reach it out of order when a listener has
// several workers. A slow sink slows the workers only: the receivers
// drop and count (abuseguard_collector_udp_queue_drops_total).
package collector
