// Package udp receives flow exports (sFlow, NetFlow, IPFIX) on UDP
// sockets and hands them, in batches of datagrams, to decode workers.
//
// The receive path is built not to lose datagrams it could have kept and
// to count every one it does lose:
//   - several sockets per address with SO_REUSEPORT spread the load over
//     cores (the kernel hashes exporters to sockets, so one exporter's
//     datagrams stay in order on one socket);
//   - each socket has a receive buffer of the configured size (SO_RCVBUFFORCE
//     when the process may, else SO_RCVBUF capped by net.core.rmem_max; the
//     size the kernel granted is logged and exported);
//   - recvmmsg(2) reads up to BatchSize datagrams per system call;
//   - receivers never wait for the workers: a fixed set of batch buffers
//     circulates between them, and when none is free the datagrams just
//     read are dropped and counted (queue drops);
//   - datagrams the kernel dropped because the socket buffer was full are
//     read from SO_RXQ_OVFL (kernel drops).
//
// Memory is fixed at Start: (QueueSize + sockets) × BatchSize ×
// MaxDatagramSize bytes of buffers, 20 MiB with the defaults.
package udp
