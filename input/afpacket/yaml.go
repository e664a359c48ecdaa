package afpacket

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// UnmarshalYAML fills what an afpacket entry leaves out with the defaults,
// so that `- interface: eth1` is a whole capture, and rejects keys the
// Configuration does not have (naming key and line), as the configuration
// loader does for the rest of the file.
func (c *Configuration) UnmarshalYAML(value *yaml.Node) error {
	if value.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: an afpacket capture is a mapping", value.Line)
	}
	for i := 0; i+1 < len(value.Content); i += 2 {
		if k := value.Content[i]; !yamlKeys[k.Value] {
			return fmt.Errorf("unknown key %s in an afpacket capture (line %d)", k.Value, k.Line)
		}
	}
	*c = DefaultConfiguration("")
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
