// Package sflow decodes sFlow v5 datagrams into flow.Record values: one
// record per flow sample (compact or expanded), for the detectors and, with
// the sampled header kept in Record.Header, for the traffic dump (M3).
//
// A record comes from the sample's raw packet header record when its
// header protocol is Ethernet, IPv4 or IPv6 and package packet finds an
// IP packet in it; otherwise from the sample's sampled IPv4 or IPv6 record;
// otherwise the sample yields nothing and is counted (Stats.NoPacket).
// Extended records (switch, router, gateway, ...) are skipped, except that
// the Ethernet frame record supplies the source MAC when no header does.
//
// What the fields mean for sFlow:
//   - Packets is 1 and SamplingRate is the sample's rate: one sampled
//     packet stands for SamplingRate packets;
//   - Bytes is the IP length of the sampled packet, as for NetFlow (the
//     network layer), capped at OrigLen; OrigLen is frame_length less the
//     stripped octets, i.e. the frame from the first byte of Header on the
//     wire without FCS;
//   - Start and End are the receive time: samples carry no time;
//   - InIf and OutIf are the sample's input and output ifIndex, 0 when the
//     agent reports none, "multiple" or a discard;
//   - FlowDirection is ingress when the sample's data source is its input
//     interface, egress when the packet came in elsewhere;
//   - Exporter is the UDP source unless Config.ExporterFromAgent.
//
// Counter samples (formats 2, 4) and discarded-packet samples (5) are
// counted and skipped.
package sflow
