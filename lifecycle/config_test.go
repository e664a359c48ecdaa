package lifecycle

import (
	"strings"
	"testing"
	"time"

	"abuseguard"

	"go.yaml.in/yaml/v3"
)

func TestPolicyOverrides(t *testing.T) {
	cfg := DefaultConfiguration()
	in := `
policy:
  default:
    netscan: {deadline: 12h}
  host_groups:
    lab:
      netscan: {action: ignore}
      incoming_flood: {reminder: 0s}
    shared-hosting:
      packet_limit: {block_above: 0, deadline: 5h}
`
	if err := yaml.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	for _, tc := range []struct {
		group  string
		reason abuseguard.Reason
		want   Rule
	}{
		{"", abuseguard.ReasonNetscan, Rule{Action: "warn", BlockAbove: 3, Deadline: 12 * time.Hour, Reminder: 4 * time.Hour, Persist: time.Hour, Probation: 720 * time.Hour}},
		{"lab", abuseguard.ReasonNetscan, Rule{Action: "ignore", BlockAbove: 3, Deadline: 12 * time.Hour, Reminder: 4 * time.Hour, Persist: time.Hour, Probation: 720 * time.Hour}},
		{"shared-hosting", abuseguard.ReasonPacketLimit, Rule{Action: "warn", Deadline: 5 * time.Hour, Reminder: 4 * time.Hour, Persist: time.Hour, Probation: 720 * time.Hour}},
	} {
		if got := cfg.Policy.Rule(tc.group, tc.reason); got != tc.want {
			t.Errorf("Rule(%q, %s) = %+v, want %+v", tc.group, tc.reason, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Configuration)
		want   string
	}{
		{"negative warm-up", func(c *Configuration) { c.WarmUp = -time.Second }, "warm_up"},
		{"zero join window", func(c *Configuration) { c.JoinWindow = 0 }, "join_window"},
		{"bad action", func(c *Configuration) { c.Policy.Default.Netscan.Action = "nuke" }, `"nuke"`},
		{"factor below 1", func(c *Configuration) { c.Policy.Default.Netscan.BlockAbove = 0.5 }, "block_above"},
		{"reminder past deadline", func(c *Configuration) { c.Policy.Default.Abuse.Reminder = 48 * time.Hour }, "reminder"},
		{"host group reminder past its deadline", func(c *Configuration) {
			d := time.Hour
			c.Policy.HostGroups = map[string]Overrides{"x": {Netscan: Override{Deadline: &d}}}
		}, "host_groups.x.netscan.reminder"},
	} {
		cfg := DefaultConfiguration()
		tc.mutate(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
	if err := DefaultConfiguration().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}
