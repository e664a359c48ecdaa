// Package pcap is the capture-file input: it reads pcap and pcapng files
// and hands their content to a flow.Sink in batches of records, as the
// live inputs do. It is what `abuseguard flows`, `abuseguard replay` and
// `abuseguard serve --pcap` read files with.
//
// A frame becomes one of two things:
//   - a packet record (Packets 1, SamplingRate 1, Start = End = the capture
//     time, Header = the captured frame for the traffic dump), as from a
//     mirror port;
//   - when its UDP payload is a flow export (NetFlow v5/v9, IPFIX, sFlow v5,
//     recognised by its layout on any port, see Recognize), the flow records
//     it carries instead, with the packet's source address as exporter and
//     the capture time as receive time. A capture taken at a collector thus
//     replays what the routers exported.
//
// One Source keeps NetFlow v9/IPFIX template state across the files it
// reads, so templates in one capture decode the data in the next, as they
// would for a collector that kept running.
package pcap
