package detect

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"abuseguard"
	"abuseguard/flow"
)

func TestResolve(t *testing.T) {
	defaults := DefaultThresholds()
	defaults.Netscan.Window = 2 * time.Minute // quiet follows it
	group := Thresholds{
		Netscan:     NetscanThresholds{Horizontal: 500, Vertical: -1},
		PacketLimit: RateThresholds{Window: 20 * time.Second, BPS: 10_000_000_000},
	}
	got := group.Resolve(defaults)
	want := DefaultThresholds()
	want.Netscan.Window, want.Netscan.Quiet = 2*time.Minute, 2*time.Minute
	want.Netscan.Horizontal, want.Netscan.Vertical = 500, -1
	want.PacketLimit = RateThresholds{Window: 20 * time.Second, PPS: 50_000, BPS: 10_000_000_000, Quiet: 20 * time.Second}
	want.IncomingFlood.Quiet = 10 * time.Second
	want.Misconfiguration.Quiet = 5 * time.Minute
	if diff := gocmp.Diff(got, want); diff != "" {
		t.Fatalf("Resolve() (-got, +want):\n%s", diff)
	}
	// An empty group is the defaults, resolved.
	if diff := gocmp.Diff(Thresholds{}.Resolve(Thresholds{}), DefaultThresholds().Resolve(Thresholds{})); diff != "" {
		t.Fatalf("Resolve() of nothing (-got, +want):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Configuration)
		want   []string
	}{
		{"defaults", func(*Configuration) {}, nil},
		{"everything wrong", func(c *Configuration) {
			c.Shards = 65
			c.QueueLength = 0
			c.TopK, c.TopKCounters = 10, 5
			c.TopKActivation = 1.5
			c.ServicePorts = []uint16{53}
			c.CustomerFacing.Interfaces = []Interface{{IfIndex: 3}}
			c.Defaults.Netscan.Window = 50 * time.Millisecond
			c.Defaults.Netscan.Grace = time.Second
			c.Defaults.Netscan.AttemptShare = 2
			c.Defaults.PacketLimit.Quiet = -time.Second
			c.Defaults.MaxDuration = time.Millisecond
		}, []string{
			"detect.shards: must be between 0 (GOMAXPROCS) and 64, not 65",
			"detect.queue_length: must be at least 1, not 0",
			"detect.top_k_counters: must be at least 10, not 5",
			"detect.top_k_activation: must be in (0, 1], not 1.5",
			"detect.service_ports[0]: 53 is below 1024, which are all service ports already",
			"detect.customer_facing.interfaces[0].exporter: missing",
			"detect.defaults.netscan.window: must be at least 100ms, not 50ms",
			"detect.defaults.netscan.attempt_share: must be at most 1, not 2",
			"detect.defaults.netscan.grace: must be shorter than the window (50ms), not 1s",
			"detect.defaults.packet_limit.quiet: must not be negative, not -1s",
			"detect.defaults.max_duration: must be at least 1s, not 1ms",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfiguration()
			tt.modify(&c)
			var got []string
			if err := c.Validate(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := gocmp.Diff(got, tt.want); diff != "" {
				t.Fatalf("Validate() (-got, +want):\n%s", diff)
			}
		})
	}
}

func TestNewRejectsBadGroup(t *testing.T) {
	_, err := New(testConfig(), fakeInventory{}, []Thresholds{{}, {Netscan: NetscanThresholds{Window: time.Millisecond}}}, func(abuseguard.Detection) {}, Dependencies{})
	if err == nil || !strings.Contains(err.Error(), "host group 1 (speedtest).netscan.window") {
		t.Fatalf("New() error = %v, want one naming the group's key", err)
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	c := DefaultConfiguration()
	c.CustomerFacing.Interfaces = []Interface{{Exporter: netip.MustParseAddr("192.0.2.10"), IfIndex: 7}}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatalf("Marshal() error: %v", err)
	}
	for _, s := range []string{"window: 1m0s", "exporter: 192.0.2.10", "attempt_share: 0.25", "max_duration: 10m0s"} {
		if !strings.Contains(string(out), s) {
			t.Fatalf("Marshal() lacks %q:\n%s", s, out)
		}
	}
	var back Configuration
	dec := yaml.NewDecoder(bytes.NewReader(out))
	dec.KnownFields(true)
	if err := dec.Decode(&back); err != nil {
		t.Fatalf("Decode() error: %v", err)
	}
	if diff := gocmp.Diff(back, c, addrs); diff != "" {
		t.Fatalf("round trip (-got, +want):\n%s", diff)
	}
}

func TestHostGroupThresholds(t *testing.T) {
	// Group 1 (203.0.113.128/25) disables horizontal scan detection and
	// halves the vertical threshold; the default group is unchanged.
	groups := []Thresholds{{}, {Netscan: NetscanThresholds{Horizontal: -1, Vertical: 50}}}
	var rs []flow.Record
	for i := 0; i < 100; i++ {
		ts := at(time.Duration(i) * time.Millisecond)
		rs = append(rs, syn(ts, "203.0.113.150", ext(i), 22), syn(ts, scanner, ext(i), 22))
		if i < 50 {
			rs = append(rs, syn(ts, "203.0.113.150", "45.1.1.1", uint16(1000+i)))
		}
	}
	e, s := newEngine(t, testConfig(), groups...)
	e.Process(rs)
	e.Flush()
	want := []summary{
		{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, true, 100, 100},
		{abuseguard.ReasonNetscan, abuseguard.SubkindVertical, "203.0.113.150", true, 50, 50},
	}
	if diff := gocmp.Diff(summarize(s.finals()), want); diff != "" {
		t.Fatalf("detections (-got, +want):\n%s", diff)
	}
	if hg := s.finals()[1].HostGroup; hg != "speedtest" {
		t.Fatalf("HostGroup = %q, want speedtest", hg)
	}
}
