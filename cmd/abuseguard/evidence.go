package main

import (
	"fmt"
	"time"

	"abuseguard"
	"abuseguard/evidence"
)

// evidenceConfiguration is the evidence section: how much of each kind the
// logs show, and their time zone.
type evidenceConfiguration struct {
	evidence.Options `yaml:",inline"`
	// TimeZone is the IANA zone of the times in the logs, e.g.
	// "Europe/Berlin"; empty means UTC. Every log names its zone.
	TimeZone string `yaml:"time_zone"`
}

func (c *evidenceConfiguration) validate() error {
	if c.TimeZone == "" {
		return nil
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		return fmt.Errorf("evidence.time_zone: %w", err)
	}
	return nil
}

// renderer returns the function that renders a detection's evidence as the
// customer receives it.
func (c *evidenceConfiguration) renderer() (func(*abuseguard.Detection) []abuseguard.Evidence, error) {
	opts := c.Options
	if c.TimeZone != "" {
		loc, err := time.LoadLocation(c.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("evidence.time_zone: %w", err)
		}
		opts.Location = loc
	}
	return func(d *abuseguard.Detection) []abuseguard.Evidence { return evidence.Render(d, opts) }, nil
}
