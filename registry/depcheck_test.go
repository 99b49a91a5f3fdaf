package registry_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps heavy dependencies in leaf packages: registry and
// the interface packages it composes import the standard library, go-digest
// and image-spec only.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	allowed := []string{
		"github.com/berth-dev/berth/registry",
		"github.com/berth-dev/berth/storage",
		"github.com/berth-dev/berth/policy",
		"github.com/berth-dev/berth/scan",
		"github.com/berth-dev/berth/replication",
		"github.com/berth-dev/berth/lifecycle",
		"github.com/opencontainers/go-digest",
		"github.com/opencontainers/image-spec/specs-go",
	}
	for _, pkg := range []string{"github.com/berth-dev/berth/registry", "github.com/berth-dev/berth/storage"} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			ok := false
			for _, a := range allowed {
				if dep == a || strings.HasPrefix(dep, a+"/") && !strings.HasPrefix(dep, "github.com/berth-dev/berth/storage/") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
