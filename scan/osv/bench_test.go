package osv_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/osv"
)

// BenchmarkMatchGoVulnDB matches an inventory of 500 packages against the
// whole Go vulnerability database (about 4,800 records): 400 Go modules
// that have advisories, at an old version that most of their ranges
// include, the standard library, and 99 Debian packages (a different
// ecosystem: index misses). The target is at most 50 ms per match.
func BenchmarkMatchGoVulnDB(b *testing.B) {
	dir := vulndbDir(b)
	db, err := osv.Load(context.Background(), osv.Source{Paths: []string{dir}})
	if err != nil {
		b.Fatal(err)
	}
	inv := benchInventory(b, dir)
	if len(inv.Packages) != 500 {
		b.Fatalf("inventory has %d packages", len(inv.Packages))
	}
	fs, err := db.Match(context.Background(), inv)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.Match(context.Background(), inv); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(fs)), "findings")
}

func benchInventory(b *testing.B, dir string) scan.Inventory {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	seen := map[string]bool{"stdlib": true, "toolchain": true}
	var modules []string
	for _, e := range entries {
		if len(modules) == 400 {
			break
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		rec, err := osv.ParseRecord(raw)
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range rec.Affected {
			if n := a.Package.Name; !seen[n] && len(modules) < 400 {
				seen[n] = true
				modules = append(modules, n)
			}
		}
	}
	slices.Sort(modules)
	inv := scan.Inventory{OS: &scan.OS{ID: "debian", VersionID: "12"}}
	for _, m := range modules {
		inv.Packages = append(inv.Packages, scan.Package{Name: m, Version: "v0.0.1", PackageManager: "go", GOOS: "linux", Arch: "amd64", Path: "app"})
	}
	inv.Packages = append(inv.Packages, scan.Package{Name: "stdlib", Version: "v1.20.1", PackageManager: "go", GOOS: "linux", Arch: "amd64", Path: "app"})
	for i := range 99 {
		name := "libdebian" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
		inv.Packages = append(inv.Packages, scan.Package{Name: name, Version: "1.0-1", SourceName: name, PackageManager: "dpkg", Path: "var/lib/dpkg/status"})
	}
	return inv
}

// BenchmarkLoadGoVulnDB loads and indexes the whole Go vulnerability
// database from its directory of records.
func BenchmarkLoadGoVulnDB(b *testing.B) {
	dir := vulndbDir(b)
	for b.Loop() {
		if _, err := osv.Load(context.Background(), osv.Source{Paths: []string{dir}}); err != nil {
			b.Fatal(err)
		}
	}
}
