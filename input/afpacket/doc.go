// Package afpacket captures packets from a network interface (a mirror
// port or a TAP) with a TPACKET_V3 memory-mapped ring, samples them and
// hands them as packet records to a flow.Sink, the same path as packets
// read from capture files.
//
// The kernel fills blocks of the ring shared with the process; a reader
// goroutine per ring walks each block it is handed, decodes the sampled
// frames with decoder/packet in place, gives the batch to the sink (the
// records' Header points into the ring: no copy) and only then returns
// the block to the kernel. When the reader falls behind, the kernel drops
// and counts; the counts are read with PACKET_STATISTICS and exported.
//
// No BPF filter is installed: the detectors want every packet, and
// sampling happens in the reader. Several rings may share the interface
// through PACKET_FANOUT to use several cores.
package afpacket
