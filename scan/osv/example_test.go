package osv_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/osv"
)

func ExampleDB_Reload() {
	// A directory of OSV records, as an operator would unpack osv.dev's
	// Go/all.zip (a zip file can be named directly too).
	dir, _ := os.MkdirTemp("", "osv")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "GO-2022-1059.json"), []byte(`{
		"id": "GO-2022-1059",
		"modified": "2023-06-12T18:45:41Z",
		"aliases": ["CVE-2022-32149"],
		"summary": "Denial of service via crafted Accept-Language header in golang.org/x/text/language",
		"affected": [{
			"package": {"ecosystem": "Go", "name": "golang.org/x/text"},
			"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.3.8"}]}]
		}]
	}`), 0o644)

	db, err := osv.NewDB(osv.Source{Paths: []string{dir}})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Reload again whenever the data changes: scans keep using the old
	// data until the new data has loaded completely.
	if err := db.Reload(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	scanner, err := osv.New(db)
	if err != nil {
		fmt.Println(err)
		return
	}

	// Scan reads an image's layers; Rematch matches a stored inventory.
	report, err := scanner.Rematch(context.Background(), scan.Inventory{Packages: []scan.Package{
		{Name: "golang.org/x/text", Version: "v0.3.7", PackageManager: "go", GOOS: "linux", Arch: "amd64", Path: "usr/bin/app"},
		{Name: "stdlib", Version: "v1.22.1", PackageManager: "go", GOOS: "linux", Arch: "amd64", Path: "usr/bin/app"},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(report.Status, db.Current().Len(), "record(s)")
	for _, f := range report.Findings {
		fmt.Println(f.ID, f.Package, f.InstalledVersion, "fixed in", f.FixedVersion, f.Severity)
	}
	// Output:
	// COMPLETE 1 record(s)
	// GO-2022-1059 golang.org/x/text v0.3.7 fixed in 0.3.8 UNDEFINED
}
