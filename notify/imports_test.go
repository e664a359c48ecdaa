package notify

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports holds the layering of STYLE.md: notify gets the store and
// the inventory as domain interfaces and imports no other component (its
// tests may use the real store).
func TestImports(t *testing.T) {
	banned := []string{"abuseguard/store", "abuseguard/lifecycle", "abuseguard/web", "abuseguard/inventory",
		"abuseguard/enforce", "abuseguard/detect", "abuseguard/cmd"}
	for _, pkg := range []string{"abuseguard/notify", "abuseguard/notify/smtp"} {
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
