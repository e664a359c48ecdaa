package udp

import "time"

// SetHoldMax sets how long receivers fill a batch while others wait for a
// worker, for a test that starts its listener afterwards, and returns the
// function that restores it.
func SetHoldMax(d time.Duration) (restore func()) {
	old := holdMax
	holdMax = d
	return func() { holdMax = old }
}
