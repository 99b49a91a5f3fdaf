package osv_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/scan"
)

// vulndbVersion is the pinned golang.org/x/vulndb module whose data/osv
// directory is the Go vulnerability database the Go tests and benchmarks
// load. scripts/govulncheck-fixture.sh uses the same version.
const vulndbVersion = "v0.0.0-20261105234957-e22db6528018"

var (
	vulndbOnce sync.Once
	vulndbPath string
	vulndbErr  string
)

// vulndbDir returns the data/osv directory of the pinned vulndb module,
// downloading it through the Go module proxy (or taking it from the module
// cache). It skips the test only when the module cannot be downloaded.
func vulndbDir(tb testing.TB) string {
	tb.Helper()
	vulndbOnce.Do(func() {
		cmd := exec.Command("go", "mod", "download", "-json", "golang.org/x/vulndb@"+vulndbVersion)
		cmd.Dir = os.TempDir() // outside any module: go.mod is not touched
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		out, err := cmd.Output()
		var res struct{ Dir, Error string }
		if jerr := json.Unmarshal(out, &res); err != nil || jerr != nil || res.Dir == "" {
			vulndbErr = "cannot download golang.org/x/vulndb@" + vulndbVersion + " through the Go module proxy: " + res.Error
			if err != nil {
				vulndbErr += " (" + err.Error() + ")"
			}
			return
		}
		vulndbPath = filepath.Join(res.Dir, "data", "osv")
	})
	if vulndbPath == "" {
		tb.Skip(vulndbErr)
	}
	return vulndbPath
}

// buildVulnapp builds testdata/gobin for linux/amd64 as
// scripts/govulncheck-fixture.sh does.
func buildVulnapp(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "vulnapp")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", out, ".")
	cmd.Dir = filepath.Join("testdata", "gobin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(b), "dial tcp") || strings.Contains(string(b), "lookup ") {
			t.Skipf("cannot fetch the test program's modules through the module proxy: %s", b)
		}
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type govulncheckFinding struct {
	ID      string `json:"id"`
	Module  string `json:"module"`
	Version string `json:"version"`
	Fixed   string `json:"fixed"`
}

// TestGoBinaryMatchesGovulncheck scans an image holding a Go binary built
// against old golang.org/x/net and golang.org/x/text versions, with the
// whole pinned Go vulnerability database, and compares the findings with
// those govulncheck -mode=binary reported for the same program and data
// (testdata/govulncheck-expected.json, written by
// scripts/govulncheck-fixture.sh).
//
// What is compared: govulncheck's module-level findings, that is the set
// of (vulnerability id, module, installed version, fixed version) whose
// affected ranges include the binary's module version and whose
// ecosystem_specific platforms include linux/amd64. govulncheck also
// reports which packages and symbols of those vulnerabilities the binary
// contains; an inventory does not carry symbols, so that level is not
// compared (the scanner reports every vulnerability of a module version,
// like govulncheck -scan module). Standard-library findings depend on the
// toolchain the binary is built with and are compared only when it is the
// one the fixture was generated with.
func TestGoBinaryMatchesGovulncheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program and loads the whole Go vulnerability database")
	}
	data := vulndbDir(t)
	raw, err := os.ReadFile(filepath.Join("testdata", "govulncheck-expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var expected struct {
		Go       string               `json:"go"`
		GOOS     string               `json:"goos"`
		GOARCH   string               `json:"goarch"`
		Findings []govulncheckFinding `json:"findings"`
	}
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatal(err)
	}
	goVersion, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Fatal(err)
	}
	sameToolchain := strings.TrimSpace(string(goVersion)) == expected.Go
	if !sameToolchain {
		t.Logf("toolchain %s differs from the fixture's %s: standard-library findings are not compared", goVersion, expected.Go)
	}

	bin := buildVulnapp(t)
	c := newContent()
	req := pushImage(t, c, gzipped(t, tarLayer(t, tarFile{name: "usr/local/bin/vulnapp", body: bin, mode: 0o755})))
	s := newScanner(t, loadDB(t, data))
	rep, err := s.Scan(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != scan.StatusComplete {
		t.Fatalf("Status = %s (%s)", rep.Status, rep.Description)
	}
	for _, p := range rep.Inventory.Packages {
		if p.PackageManager != "go" || p.GOOS != "linux" || p.Arch != "amd64" || p.Path != "usr/local/bin/vulnapp" {
			t.Errorf("package %+v", p)
		}
	}

	var got, want []govulncheckFinding
	for _, f := range rep.Findings {
		if f.Package == "stdlib" && !sameToolchain {
			continue
		}
		fixed := f.FixedVersion
		if fixed != "" {
			fixed = "v" + fixed
		}
		if f.Ecosystem != "Go" || f.PackageManager != "go" || !strings.HasPrefix(f.URI, "https://") {
			t.Errorf("finding %+v", f)
		}
		got = append(got, govulncheckFinding{ID: f.ID, Module: f.Package, Version: f.InstalledVersion, Fixed: fixed})
	}
	for _, f := range expected.Findings {
		if f.Module == "stdlib" && !sameToolchain {
			continue
		}
		want = append(want, f)
	}
	order := func(a, b govulncheckFinding) int {
		return strings.Compare(a.Module+" "+a.ID, b.Module+" "+b.ID)
	}
	slices.SortFunc(got, order)
	slices.SortFunc(want, order)
	if len(want) == 0 {
		t.Fatal("fixture lists no findings")
	}
	if !slices.Equal(got, want) {
		for _, g := range got {
			if !slices.Contains(want, g) {
				t.Errorf("extra finding %+v", g)
			}
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("missing finding %+v", w)
			}
		}
	}
	t.Logf("%d findings equal govulncheck's module-level findings (%d packages, database %s)", len(got), len(rep.Inventory.Packages), rep.DatabaseVersion)
}
