package osv_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/osv"
)

// FuzzParseRecord feeds arbitrary bytes to the record parser and, for
// records it accepts, indexes and matches them: nothing may panic, and an
// accepted record must have an id and index without error.
func FuzzParseRecord(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "debian", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, r := range alpineRecords {
		f.Add([]byte(r))
	}
	f.Add([]byte(`{"id":"G","affected":[{"package":{"ecosystem":"Go","name":"m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.3"}]}],"ecosystem_specific":{"imports":[{"goos":["linux"],"goarch":["arm64"]}]}}]}`))
	f.Add([]byte(`{"id":"D","affected":[{"package":{"ecosystem":"Debian:12","name":"p"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1:0"},{"last_affected":"1:2.0-1"}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := osv.ParseRecord(b)
		if err != nil {
			return
		}
		if rec.ID == "" {
			t.Fatal("accepted a record without id")
		}
		db, err := osv.NewDatabase([]*osv.Record{rec})
		if err != nil {
			t.Fatalf("NewDatabase() of an accepted record: %v", err)
		}
		inv := scan.Inventory{OS: &scan.OS{ID: "debian", VersionID: "12"}}
		for _, a := range rec.Affected {
			for _, v := range []string{"0", "1.0.0", "1:2.0-1", "v1.2.3"} {
				inv.Packages = append(inv.Packages, scan.Package{Name: a.Package.Name, Version: v, Ecosystem: a.Package.Ecosystem})
			}
		}
		if _, err := db.Match(context.Background(), inv); err != nil {
			t.Fatal(err)
		}
	})
}
