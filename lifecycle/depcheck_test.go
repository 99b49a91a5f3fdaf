package lifecycle_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the engine pure: the standard library and
// go-digest only, no storage or registry.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const pkg = "github.com/berth-dev/berth/lifecycle"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != pkg && dep != "github.com/opencontainers/go-digest" {
			t.Errorf("%s depends on %s", pkg, dep)
		}
	}
}
