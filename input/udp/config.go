package udp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Configuration of one UDP listener: a set of addresses sharing workers.
type Configuration struct {
	// Protocol is what the exporters are told to send here: "sflow",
	// "netflow" or "ipfix". It names the listener in metrics and logs and
	// chooses the default port; the decoder is chosen per datagram by its
	// header, since exporters get ports wrong (NetFlow v5 sent to 6343 is
	// seen in real captures).
	Protocol string `yaml:"protocol"`
	// Listen holds the addresses to bind, host:port with an IP address or
	// nothing (all addresses) as host; port 0 picks a free port, for
	// tests (Listener.Addrs tells which). Default ":6343" for
	// sflow, ":2055" for netflow, ":4739" for ipfix (all addresses, IPv4
	// and IPv6).
	Listen []string `yaml:"listen"`
	// Sockets is how many sockets bind each address with SO_REUSEPORT,
	// each with its own receiving goroutine. Default 1; one per core that
	// receiving should use on a busy collector.
	Sockets int `yaml:"sockets"`
	// ReceiveBuffer is the socket receive buffer in bytes. Default 16 MiB:
	// 4 ms of a 4 Gbit/s burst, or 10 000 full-size datagrams; at the
	// kernel's default of 208 KiB a loopback burst loses about a quarter
	// of the datagrams. 0 keeps the kernel's default.
	ReceiveBuffer int `yaml:"receive_buffer"`
	// Workers is how many goroutines decode the listener's datagrams.
	// Default 1; a decode costs 20-200 ns per record, so one worker keeps
	// up with several million records per second.
	Workers int `yaml:"workers"`
	// QueueSize is how many batches of datagrams may be waiting for a
	// worker or in one; past that, receivers drop. Default 256, i.e. 8192
	// datagrams with the default BatchSize (a receiver fills a batch
	// while others wait, up to 1 ms, so batches are full when it counts):
	// 49 ms of sFlow at 1 M records/s, which rode out the stalls of a
	// worker sharing 2 cores with other work where 64 lost up to 15 %
	// (docs/performance.md, loopback). Buffers are made when a backlog
	// first needs them and kept: memory is the deepest backlog seen, at
	// most QueueSize × BatchSize × MaxDatagramSize (75 MB by default; a
	// batch is 295 KB) and a batch or two while workers keep up.
	QueueSize int `yaml:"queue_size"`
	// BatchSize is how many datagrams one recvmmsg call may read. Default
	// 32.
	BatchSize int `yaml:"batch_size"`
	// MaxDatagramSize is the buffer for one datagram; longer ones are
	// dropped and counted as truncated. Default 9216 (jumbo frames);
	// exporters keep under their path MTU, typically 1500.
	MaxDatagramSize int `yaml:"max_datagram_size"`
}

// Protocols and their default ports.
var defaultPorts = map[string]string{
	"sflow":   ":6343",
	"netflow": ":2055",
	"ipfix":   ":4739",
}

// DefaultConfiguration returns the defaults for protocol ("sflow",
// "netflow" or "ipfix").
func DefaultConfiguration(protocol string) Configuration {
	c := Configuration{
		Protocol:        protocol,
		Sockets:         1,
		ReceiveBuffer:   16 << 20,
		Workers:         1,
		QueueSize:       256,
		BatchSize:       32,
		MaxDatagramSize: 9216,
	}
	if p, ok := defaultPorts[protocol]; ok {
		c.Listen = []string{p}
	}
	return c
}

// Bounds checked by Validate.
const (
	maxSockets      = 64
	maxWorkers      = 256
	maxQueueSize    = 1 << 16
	maxBatchSize    = 1024    // UIO_MAXIOV
	maxDatagramSize = 65535   // the UDP length field
	maxBuffer       = 1 << 30 // 1 GiB
)

// Validate reports every invalid field.
func (c Configuration) Validate() error {
	var errs []error
	if _, ok := defaultPorts[c.Protocol]; !ok {
		errs = append(errs, fmt.Errorf("protocol: %q is not sflow, netflow or ipfix", c.Protocol))
	}
	if len(c.Listen) == 0 {
		errs = append(errs, errors.New("listen: at least one address is needed"))
	}
	for _, a := range c.Listen {
		if err := checkAddress(a); err != nil {
			errs = append(errs, fmt.Errorf("listen: %w", err))
		}
	}
	errs = append(errs,
		between("sockets", c.Sockets, 1, maxSockets),
		between("receive_buffer", c.ReceiveBuffer, 0, maxBuffer),
		between("workers", c.Workers, 1, maxWorkers),
		between("queue_size", c.QueueSize, 1, maxQueueSize),
		between("batch_size", c.BatchSize, 1, maxBatchSize),
		between("max_datagram_size", c.MaxDatagramSize, 512, maxDatagramSize),
	)
	return errors.Join(errs...)
}

// checkAddress accepts host:port with an IP address or nothing as host
// (all addresses) and a numeric port; names are refused, so that checking
// a configuration never waits for DNS.
func checkAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: host must be an IP address or empty", a)
		}
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", a)
	}
	return nil
}

func between(name string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s: %d is not between %d and %d", name, v, lo, hi)
	}
	return nil
}
