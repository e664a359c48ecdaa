//go:build !linux

package afpacket

import (
	"errors"

	"abuseguard/flow"
)

type ring struct{}

func openRing(Configuration, *metrics) (*ring, error) { return nil, errors.New("afpacket needs linux") }
func (r *ring) close()                                {}
func (r *ring) wake()                                 {}
func (r *ring) run(flow.Sink) error                   { return nil }
