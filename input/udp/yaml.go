package udp

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// UnmarshalYAML fills what a listener entry leaves out with the defaults
// of its protocol, so that `- protocol: netflow` with a listen address is
// a whole listener, and rejects keys the Configuration does not have
// (naming key and line), as the configuration loader does for the rest
// of the file.
func (c *Configuration) UnmarshalYAML(value *yaml.Node) error {
	if value.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a listener is a mapping", value.Line)
	}
	protocol := ""
	for i := 0; i+1 < len(value.Content); i += 2 {
		k := value.Content[i]
		if !yamlKeys[k.Value] {
			return fmt.Errorf("unknown key %s in a listener (line %d)", k.Value, k.Line)
		}
		if k.Value == "protocol" {
			protocol = value.Content[i+1].Value
		}
	}
	*c = DefaultConfiguration(protocol)
	type plain Configuration // without this method
	return value.Decode((*plain)(c))
}

// yamlKeys are the keys of Configuration.
var yamlKeys = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeOf(Configuration{})
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		m[name] = true
	}
	return m
}()
