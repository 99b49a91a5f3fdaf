package authn_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps authn a leaf: the standard library and package
// policy only.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const pkg = "github.com/berth-dev/berth/policy/authn"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != pkg && dep != "github.com/berth-dev/berth/policy" {
			t.Errorf("%s depends on %s", pkg, dep)
		}
	}
}
