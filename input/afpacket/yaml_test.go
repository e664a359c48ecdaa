package afpacket_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"abuseguard/input/afpacket"
)

func TestUnmarshalYAML(t *testing.T) {
	var got []afpacket.Configuration
	if err := yaml.Unmarshal([]byte("- interface: eth1\n  sampling_rate: 100\n"), &got); err != nil {
		t.Fatal(err)
	}
	want := afpacket.DefaultConfiguration("eth1")
	want.SamplingRate = 100
	if diff := cmp.Diff(got, []afpacket.Configuration{want}); diff != "" {
		t.Fatalf("Unmarshal() (-got, +want):\n%s", diff)
	}
	err := yaml.Unmarshal([]byte("- interface: eth1\n  promisc: true\n"), &got)
	if err == nil || !strings.Contains(err.Error(), "unknown key promisc in an afpacket capture (line 2)") {
		t.Fatalf("Unmarshal() with a misspelt key = %v", err)
	}
}
