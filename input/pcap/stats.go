package pcap

import (
	"maps"
	"slices"
)

// Stats counts what a read found.
type Stats struct {
	// Files is the number of captures read.
	Files uint64
	// Frames is the number of frames read.
	Frames uint64
	// Packets is the number of frames that became packet records.
	Packets uint64
	// Datagrams counts flow export datagrams, indexed by Protocol.
	Datagrams [SFlowV5 + 1]uint64
	// Flows is the number of flow records decoded from them.
	Flows uint64
	// Records is the number of records handed to the sink: Packets + Flows.
	Records uint64
	// Errors counts frames and datagrams skipped or cut short, by kind:
	// not_ip (ARP and other non-IP frames), link_type, malformed (a broken
	// link or IP header), export_incomplete (a flow export cut by the
	// capture's snap length or fragmented), and the decoders' kinds as
	// netflow_<kind> and sflow_<kind> (one per datagram: its first error).
	Errors map[string]uint64
}

func newStats() Stats { return Stats{Errors: map[string]uint64{}} }

func (s *Stats) count(kind string) {
	if s.Errors == nil {
		s.Errors = map[string]uint64{}
	}
	s.Errors[kind]++
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Files += o.Files
	s.Frames += o.Frames
	s.Packets += o.Packets
	for i := range s.Datagrams {
		s.Datagrams[i] += o.Datagrams[i]
	}
	s.Flows += o.Flows
	s.Records += o.Records
	for k, v := range o.Errors {
		if s.Errors == nil {
			s.Errors = map[string]uint64{}
		}
		s.Errors[k] += v
	}
}

// ErrorKinds returns the kinds in Errors, sorted.
func (s *Stats) ErrorKinds() []string {
	return slices.Sorted(maps.Keys(s.Errors))
}

// DatagramTotal is the number of flow export datagrams of all protocols.
func (s *Stats) DatagramTotal() uint64 {
	var n uint64
	for _, v := range s.Datagrams {
		n += v
	}
	return n
}
