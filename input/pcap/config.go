package pcap

import (
	"errors"
	"fmt"
	"math"
)

// Configuration of a capture-file input. The zero value is not valid;
// start from DefaultConfiguration.
type Configuration struct {
	// FlowExports says what to do with UDP payloads that are flow exports:
	// "auto" (default) decodes them into flow records, "off" treats every
	// frame as a packet (to look at the export traffic itself).
	FlowExports string `yaml:"flow_exports"`
	// Speed paces the replay: 0 (default) reads as fast as possible; 1
	// delivers records at the pace they were captured, 2 twice as fast,
	// 0.5 at half speed. Pacing restarts at each file.
	Speed float64 `yaml:"speed"`
	// BatchSize is how many records a batch holds at most. Default 1024:
	// large enough that the sink's per-call cost vanishes (under 1 % of
	// the ~100 ns a record costs to read and decode), small enough for
	// the L2 cache (1024 × 168 B).
	BatchSize int `yaml:"batch_size"`
}

// Values of Configuration.FlowExports.
const (
	FlowExportsAuto = "auto"
	FlowExportsOff  = "off"
)

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	return Configuration{FlowExports: FlowExportsAuto, BatchSize: 1024}
}

// maxBatchSize bounds BatchSize: 1 << 20 records are 168 MiB.
const maxBatchSize = 1 << 20

// Validate reports every invalid field.
func (c Configuration) Validate() error {
	var errs []error
	if c.FlowExports != FlowExportsAuto && c.FlowExports != FlowExportsOff {
		errs = append(errs, fmt.Errorf("flow_exports: %q is neither %q nor %q", c.FlowExports, FlowExportsAuto, FlowExportsOff))
	}
	if c.Speed < 0 || math.IsNaN(c.Speed) || math.IsInf(c.Speed, 0) {
		errs = append(errs, fmt.Errorf("speed: %v must be 0 (as fast as possible) or a positive factor", c.Speed))
	}
	if c.BatchSize < 1 || c.BatchSize > maxBatchSize {
		errs = append(errs, fmt.Errorf("batch_size: %d must be between 1 and %d", c.BatchSize, maxBatchSize))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}
