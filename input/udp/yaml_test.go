package udp_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"abuseguard/input/udp"
)

func TestUnmarshalYAML(t *testing.T) {
	var got []udp.Configuration
	err := yaml.Unmarshal([]byte("- protocol: ipfix\n  listen: [\"127.0.0.1:4739\"]\n  workers: 2\n- protocol: sflow\n"), &got)
	if err != nil {
		t.Fatal(err)
	}
	ipfix := udp.DefaultConfiguration("ipfix")
	ipfix.Listen = []string{"127.0.0.1:4739"}
	ipfix.Workers = 2
	want := []udp.Configuration{ipfix, udp.DefaultConfiguration("sflow")}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("Unmarshal() (-got, +want):\n%s", diff)
	}
	err = yaml.Unmarshal([]byte("- protocol: sflow\n  recieve_buffer: 1000\n"), &got)
	if err == nil || !strings.Contains(err.Error(), "unknown key recieve_buffer in a listener (line 2)") {
		t.Fatalf("Unmarshal() with a misspelt key = %v", err)
	}
}
