package afpacket

import (
	"errors"
	"fmt"
	"time"
)

// Configuration of one AF_PACKET capture.
type Configuration struct {
	// Interface is the interface name (a mirror port, a TAP). Required.
	Interface string `yaml:"interface"`
	// Promiscuous puts the interface in promiscuous mode while capturing,
	// as a mirror port needs (its frames are not addressed to this host).
	// Default true.
	Promiscuous bool `yaml:"promiscuous"`
	// SamplingRate keeps 1 packet in SamplingRate; the records carry it.
	// Default 1 (every packet). A 10 Gbit/s mirror at 1.5 Mpps wants
	// 100 or so: detection scales counts by the rate.
	SamplingRate uint32 `yaml:"sampling_rate"`
	// Sampling is "deterministic" (every SamplingRate-th packet, default)
	// or "random" (each packet with probability 1/SamplingRate, which
	// periodic traffic cannot alias with).
	Sampling string `yaml:"sampling"`
	// Sockets is how many rings read the interface. With more than one,
	// the kernel spreads packets over them with PACKET_FANOUT (see
	// FanoutMode), each ring read by its own goroutine. Default 1.
	Sockets int `yaml:"sockets"`
	// FanoutMode is how PACKET_FANOUT spreads packets: "hash" (by flow,
	// default: a flow's packets stay in order on one ring), "lb" (round
	// robin), "cpu" (by receiving CPU).
	FanoutMode string `yaml:"fanout_mode"`
	// FanoutGroup is the PACKET_FANOUT group ID, unique per interface in
	// the host. Default 0: derived from the process ID.
	FanoutGroup uint16 `yaml:"fanout_group"`
	// BlockSize and Blocks size each TPACKET_V3 ring: Blocks × BlockSize
	// bytes of memory shared with the kernel. Defaults 1 MiB × 32: 32 MiB
	// buffer 25 ms of a 10 Gbit/s line at full size.
	BlockSize int `yaml:"block_size"`
	Blocks    int `yaml:"blocks"`
	// BlockTimeout is how long the kernel fills a block before handing it
	// over anyway: the latency at low packet rates. Default 10ms.
	BlockTimeout time.Duration `yaml:"block_timeout"`
	// HeaderBytes is how much of each sampled frame is kept in the record
	// for the traffic dump. Default 256: Ethernet, IP and TCP headers with
	// options, and the start of the payload.
	HeaderBytes int `yaml:"header_bytes"`
	// BatchSize is how many records are handed to the sink at most at a
	// time. Default 1024.
	BatchSize int `yaml:"batch_size"`
}

// Values of Sampling and FanoutMode.
const (
	SamplingDeterministic = "deterministic"
	SamplingRandom        = "random"
)

var fanoutModes = map[string]uint16{"hash": 0, "lb": 1, "cpu": 2} // PACKET_FANOUT_HASH, _LB, _CPU

// DefaultConfiguration returns the defaults for interface name.
func DefaultConfiguration(name string) Configuration {
	return Configuration{
		Interface:    name,
		Promiscuous:  true,
		SamplingRate: 1,
		Sampling:     SamplingDeterministic,
		Sockets:      1,
		FanoutMode:   "hash",
		BlockSize:    1 << 20,
		Blocks:       32,
		BlockTimeout: 10 * time.Millisecond,
		HeaderBytes:  256,
		BatchSize:    1024,
	}
}

// Validate reports every invalid field.
func (c Configuration) Validate() error {
	var errs []error
	if c.Interface == "" || len(c.Interface) > 15 {
		errs = append(errs, fmt.Errorf("interface: %q is not an interface name (1 to 15 bytes)", c.Interface))
	}
	if c.SamplingRate < 1 {
		errs = append(errs, errors.New("sampling_rate: must be at least 1"))
	}
	if c.Sampling != SamplingDeterministic && c.Sampling != SamplingRandom {
		errs = append(errs, fmt.Errorf("sampling: %q is neither %q nor %q", c.Sampling, SamplingDeterministic, SamplingRandom))
	}
	if c.Sockets < 1 || c.Sockets > 64 {
		errs = append(errs, fmt.Errorf("sockets: %d is not between 1 and 64", c.Sockets))
	}
	if _, ok := fanoutModes[c.FanoutMode]; !ok {
		errs = append(errs, fmt.Errorf("fanout_mode: %q is not hash, lb or cpu", c.FanoutMode))
	}
	// The kernel wants the block size a multiple of the page size and a
	// power of two times it; 4 KiB to 128 MiB covers every real ring.
	if c.BlockSize < 4096 || c.BlockSize > 128<<20 || c.BlockSize&(c.BlockSize-1) != 0 {
		errs = append(errs, fmt.Errorf("block_size: %d is not a power of two between 4 KiB and 128 MiB", c.BlockSize))
	}
	if c.Blocks < 2 || c.Blocks > 4096 {
		errs = append(errs, fmt.Errorf("blocks: %d is not between 2 and 4096", c.Blocks))
	}
	if c.BlockTimeout < time.Millisecond || c.BlockTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("block_timeout: %v is not between 1ms and 1m", c.BlockTimeout))
	}
	if c.HeaderBytes < 0 || c.HeaderBytes > 65535 {
		errs = append(errs, fmt.Errorf("header_bytes: %d is not between 0 and 65535", c.HeaderBytes))
	}
	if c.BatchSize < 1 || c.BatchSize > 1<<16 {
		errs = append(errs, fmt.Errorf("batch_size: %d is not between 1 and 65536", c.BatchSize))
	}
	return errors.Join(errs...)
}
