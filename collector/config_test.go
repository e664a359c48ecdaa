package collector_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"abuseguard/collector"
	"abuseguard/testutil"
)

// TestConfigurationYAML decodes the collector section shown in
// docs/collector.md, with unknown keys rejected as the configuration
// loader does, over the defaults, and validates it.
func TestConfigurationYAML(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testutil.ModuleRoot(t), "docs", "collector.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The first ```yaml block of the page is the collector section.
	text := string(doc)
	start := strings.Index(text, "```yaml\ncollector:\n")
	if start < 0 {
		t.Fatal("docs/collector.md has no ```yaml block starting with collector:")
	}
	text = text[start+len("```yaml\n"):]
	text = text[:strings.Index(text, "```")]
	var file struct {
		Collector collector.Configuration `yaml:"collector"`
	}
	file.Collector = collector.DefaultConfiguration()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("decode the documented section: %v", err)
	}
	cfg := file.Collector
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if len(cfg.Listeners) != 3 || cfg.Listeners[0].ReceiveBuffer != 16<<20 || len(cfg.Exporters) != 2 ||
		!cfg.Exporters[1].ForceSamplingRate || cfg.TemplateHoldTime != 5*time.Second ||
		len(cfg.AFPacket) != 1 || cfg.AFPacket[0].BlockTimeout != 10*time.Millisecond {
		t.Fatalf("decoded configuration %+v is not the documented one", cfg)
	}
}
