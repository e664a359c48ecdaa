package nft

import (
	"strings"
	"testing"
)

func TestConfigurationValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Configuration)
		want   string // substring of the error, "" for none
	}{
		{"defaults", func(*Configuration) {}, ""},
		{"all hooks", func(c *Configuration) { c.Hooks = []string{"forward", "input", "output"} }, ""},
		{"disabled is not checked", func(c *Configuration) { *c = Configuration{} }, ""},
		{"no table", func(c *Configuration) { c.Table = "" }, "table"},
		{"no hooks", func(c *Configuration) { c.Hooks = nil }, "hooks: at least one"},
		{"unknown hook", func(c *Configuration) { c.Hooks = []string{"prerouting"} }, `"prerouting" is not forward`},
		{"duplicate hook", func(c *Configuration) { c.Hooks = []string{"forward", "forward"} }, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfiguration()
			c.Enabled = true
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
