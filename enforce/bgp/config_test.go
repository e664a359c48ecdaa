package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func TestConfigurationFromYAML(t *testing.T) {
	const doc = `
enabled: true
local_as: 65001
router_id: 192.0.2.10
communities: [blackhole, "64500:1"]
both: rtbh-nftables
neighbors:
  - address: 192.0.2.254
    as: 64500
    password: secret
    families: [ipv4-unicast, ipv4-flowspec]
  - address: 2001:db8::1
    as: 64500
    passive: true
listen_port: 179
`
	cfg := DefaultConfiguration()
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatalf("yaml.Unmarshal() error: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() error: %v", err)
	}
	want := DefaultConfiguration()
	want.Enabled = true
	want.LocalAS = 65001
	want.RouterID = netip.MustParseAddr("192.0.2.10")
	want.Communities = []Community{CommunityBlackhole, 64500<<16 | 1}
	want.Both = MethodRTBHNFTables
	want.ListenPort = 179
	want.Neighbors = []Neighbor{
		{Address: netip.MustParseAddr("192.0.2.254"), AS: 64500, Password: "secret", Families: []Family{IPv4Unicast, IPv4FlowSpec},
			Port: 179, HoldTime: 90 * time.Second, ConnectRetry: 5 * time.Second},
		{Address: netip.MustParseAddr("2001:db8::1"), AS: 64500, Passive: true, Families: allFamilies,
			Port: 179, HoldTime: 90 * time.Second, ConnectRetry: 5 * time.Second},
	}
	if diff := cmp.Diff(cfg, want, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Fatalf("configuration (-got, +want):\n%s", diff)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("yaml.Marshal() error: %v", err)
	}
	if !strings.Contains(string(out), "- 65535:666\n") || !strings.Contains(string(out), "next_hop_v6: 100::1\n") {
		t.Fatalf("dumped configuration lacks readable communities or next hop:\n%s", out)
	}
}

func TestConfigurationValidate(t *testing.T) {
	valid := func() Configuration {
		c := DefaultConfiguration()
		c.Enabled = true
		c.LocalAS = 65001
		c.RouterID = netip.MustParseAddr("192.0.2.10")
		c.Neighbors = []Neighbor{{Address: netip.MustParseAddr("192.0.2.254"), AS: 64500}}
		return c
	}
	tests := []struct {
		name   string
		change func(*Configuration)
		want   string // substring of the error, "" for none
	}{
		{"valid", func(*Configuration) {}, ""},
		{"disabled is not checked", func(c *Configuration) { *c = Configuration{} }, ""},
		{"no AS", func(c *Configuration) { c.LocalAS = 0 }, "local_as: required"},
		{"IPv6 router id", func(c *Configuration) { c.RouterID = netip.MustParseAddr("2001:db8::1") }, "router_id: must be an IPv4 address"},
		{"IPv4 next hop for IPv6", func(c *Configuration) { c.NextHopV6 = netip.MustParseAddr("192.0.2.1") }, "next_hop_v6"},
		{"unknown method", func(c *Configuration) { c.Both = "carrier-pigeon" }, `both: must be flowspec, rtbh or rtbh-nftables, got "carrier-pigeon"`},
		{"flowspec-only inbound methods", func(c *Configuration) { c.Inbound = MethodRTBHNFTables }, "inbound: must be rtbh or flowspec"},
		{"no neighbors", func(c *Configuration) { c.Neighbors = nil }, "neighbors: at least one"},
		{"duplicate neighbor", func(c *Configuration) { c.Neighbors = append(c.Neighbors, c.Neighbors[0]) }, "listed twice"},
		{"unknown family", func(c *Configuration) { c.Neighbors[0].Families = []Family{"ipv4-mvpn"} }, `unknown family "ipv4-mvpn"`},
		{"passive without listening", func(c *Configuration) { c.Neighbors[0].Passive = true }, "passive: needs listen_port"},
		{"short hold time", func(c *Configuration) { c.Neighbors[0].HoldTime = time.Second }, "hold_time"},
		{"multihop iBGP", func(c *Configuration) { c.Neighbors[0].AS = 65001; c.Neighbors[0].MultihopTTL = 3 }, "multihop_ttl"},
		{"mixed local address", func(c *Configuration) { c.Neighbors[0].LocalAddress = netip.MustParseAddr("2001:db8::2") }, "local_address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestCommunityText(t *testing.T) {
	tests := []struct {
		in      string
		want    Community
		wantErr bool
	}{
		{"65535:666", CommunityBlackhole, false},
		{"no-export", CommunityNoExport, false},
		{" Blackhole ", CommunityBlackhole, false},
		{"64500:0", 64500 << 16, false},
		{"65536:1", 0, true},
		{"666", 0, true},
		{"a:b", 0, true},
	}
	for _, tt := range tests {
		var c Community
		err := c.UnmarshalText([]byte(tt.in))
		if (err != nil) != tt.wantErr || (err == nil && c != tt.want) {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, error %v", tt.in, c, err, tt.want, tt.wantErr)
		}
	}
	if got := CommunityNoExport.String(); got != "65535:65281" {
		t.Errorf("String() = %q, want 65535:65281", got)
	}
}
