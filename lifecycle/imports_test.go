package lifecycle

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports holds the layering of STYLE.md: components never import each
// other or the store; they get domain interfaces. Test files may.
func TestImports(t *testing.T) {
	for pkg, banned := range map[string][]string{
		"abuseguard/lifecycle": {"abuseguard/store", "abuseguard/web", "abuseguard/detect", "abuseguard/inventory", "abuseguard/enforce", "abuseguard/notify"},
		"abuseguard/web/api":   {"abuseguard/store", "abuseguard/lifecycle", "abuseguard/inventory", "abuseguard/enforce", "abuseguard/notify"},
		"abuseguard/store":     {"abuseguard/lifecycle", "abuseguard/web"},
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Skipf("go list: %v", err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range banned {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}
