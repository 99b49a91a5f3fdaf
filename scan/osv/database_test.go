package osv_test

import (
	"archive/zip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/osv"
)

func zipRecords(t testing.TB, dir string, recs map[string]string) string {
	t.Helper()
	p := filepath.Join(dir, "all.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range recs {
		w, err := zw.Create(filepath.Base(name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadZipAndDirectoryAgree(t *testing.T) {
	ctx := context.Background()
	fromDir, err := osv.Load(ctx, osv.Source{Paths: []string{writeRecords(t, alpineRecords)}})
	if err != nil {
		t.Fatal(err)
	}
	fromZip, err := osv.Load(ctx, osv.Source{Paths: []string{zipRecords(t, t.TempDir(), alpineRecords)}})
	if err != nil {
		t.Fatal(err)
	}
	if fromDir.Len() != len(alpineRecords) || fromZip.Len() != len(alpineRecords) {
		t.Errorf("Len() = %d (dir), %d (zip), want %d", fromDir.Len(), fromZip.Len(), len(alpineRecords))
	}
	if !strings.HasPrefix(fromDir.Version(), "sha256:") || fromDir.Version() != fromZip.Version() {
		t.Errorf("Version() = %q (dir), %q (zip): want the same digest", fromDir.Version(), fromZip.Version())
	}
	// A zip inside a directory is read too.
	dir := t.TempDir()
	zipRecords(t, dir, map[string]string{"a.json": alpineRecords["alpine/openssl.json"]})
	db, err := osv.Load(ctx, osv.Source{Paths: []string{dir}})
	if err != nil || db.Len() != 1 {
		t.Errorf("Load(dir with zip) = %v, %v", db, err)
	}
}

func TestLoadRecords(t *testing.T) {
	ctx := context.Background()
	db, err := osv.Load(ctx, osv.Source{Paths: []string{writeRecords(t, map[string]string{
		"old.json":       `{"id":"X-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.0"]}]}`,
		"new.json":       `{"id":"X-1","modified":"2026-02-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["2.0.0"]}]}`,
		"withdrawn.json": `{"id":"X-2","modified":"2026-02-01T00:00:00Z","withdrawn":"2026-02-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["2.0.0"]}]}`,
		"notes.txt":      `not a record`,
	})}})
	if err != nil {
		t.Fatal(err)
	}
	if db.Len() != 1 || db.Modified().Format("2006-01") != "2026-02" {
		t.Errorf("Len() = %d, Modified() = %v", db.Len(), db.Modified())
	}
	inv := scan.Inventory{Packages: []scan.Package{
		{Name: "a", Version: "1.0.0", PackageManager: "npm"},
		{Name: "a", Version: "2.0.0", PackageManager: "npm"},
	}}
	fs, err := db.Match(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	if got := findingKeys(fs); len(got) != 1 || got[0] != "X-1 a 2.0.0 " {
		t.Errorf("Match() = %q, want the newer X-1 only", got)
	}
}

func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	big := `{"id":"BIG","summary":"` + strings.Repeat("x", 2000) + `"}`
	tests := map[string]osv.Source{
		"missing path": {Paths: []string{filepath.Join(t.TempDir(), "nope")}},
		"bad json":     {Paths: []string{writeRecords(t, map[string]string{"a.json": `{"id":`})}},
		"no id":        {Paths: []string{writeRecords(t, map[string]string{"a.json": `{"summary":"x"}`})}},
		"file cap":     {Paths: []string{writeRecords(t, map[string]string{"a.json": big})}, MaxFileSize: 1000},
		"zip cap":      {Paths: []string{zipRecords(t, t.TempDir(), map[string]string{"a.json": big})}, MaxFileSize: 1000},
		"total cap":    {Paths: []string{writeRecords(t, alpineRecords)}, MaxTotalSize: 1000},
		"record cap":   {Paths: []string{writeRecords(t, alpineRecords)}, MaxRecords: 2},
		"not a zip":    {Paths: []string{writeRecords(t, map[string]string{"all.zip": "PK garbage"})}},
	}
	for name, src := range tests {
		if _, err := osv.Load(ctx, src); !errors.Is(err, osv.ErrInvalidDatabase) {
			t.Errorf("%s: Load() error = %v, want ErrInvalidDatabase", name, err)
		}
	}
	if _, err := osv.Load(ctx, osv.Source{Paths: []string{writeRecords(t, map[string]string{"a.json": `{"summary":"x"}`})}}); !errors.Is(err, osv.ErrInvalidRecord) {
		t.Errorf("Load() of a record without id: error = %v, want ErrInvalidRecord too", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := osv.Load(cctx, osv.Source{Paths: []string{writeRecords(t, alpineRecords)}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Load() with a cancelled context: error = %v", err)
	}
}

// TestReload checks that a reload that fails keeps the data in force and a
// good one replaces it.
func TestReload(t *testing.T) {
	ctx := context.Background()
	dir := writeRecords(t, alpineRecords)
	db, err := osv.NewDB(osv.Source{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if db.Current() != nil || db.Version() != "" {
		t.Fatal("NewDB loaded data")
	}
	if err := db.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	s := newScanner(t, db)
	inv := scan.Inventory{
		OS:       &scan.OS{ID: "alpine", VersionID: "3.19.1"},
		Packages: []scan.Package{{Name: "libssl3", Version: "3.1.4-r0", SourceName: "openssl", PackageManager: "apk"}},
	}
	v1 := s.DatabaseVersion()
	rep, err := s.Rematch(ctx, inv)
	if err != nil || len(rep.Findings) != 1 || rep.DatabaseVersion != v1 {
		t.Fatalf("Rematch() = %+v, %v", rep, err)
	}

	// Break the data: the reload fails and the old data stays.
	if err := os.WriteFile(filepath.Join(dir, "alpine", "openssl.json"), []byte(`{"id":"BERTH-TEST-0001","affected":[{"package":{"name":"openssl"}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(ctx); !errors.Is(err, osv.ErrInvalidDatabase) || !errors.Is(err, osv.ErrInvalidRecord) {
		t.Errorf("Reload() of bad data: error = %v, want ErrInvalidDatabase", err)
	}
	if s.DatabaseVersion() != v1 {
		t.Errorf("DatabaseVersion() = %q after a failed reload, want %q", s.DatabaseVersion(), v1)
	}
	if rep, _ := s.Rematch(ctx, inv); len(rep.Findings) != 1 {
		t.Errorf("findings after a failed reload = %q", findingKeys(rep.Findings))
	}

	// Fix the data, now without the openssl advisory: the reload swaps.
	if err := os.Remove(filepath.Join(dir, "alpine", "openssl.json")); err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if v := s.DatabaseVersion(); v == v1 || v == "" {
		t.Errorf("DatabaseVersion() = %q after a good reload, was %q", v, v1)
	}
	if rep, _ := s.Rematch(ctx, inv); len(rep.Findings) != 0 || rep.Status != scan.StatusComplete {
		t.Errorf("findings after a good reload = %q", findingKeys(rep.Findings))
	}
}

func TestParseRecordErrors(t *testing.T) {
	for name, rec := range map[string]string{
		"not json":            `nope`,
		"array":               `[]`,
		"no id":               `{"affected":[]}`,
		"no ecosystem":        `{"id":"A","affected":[{"package":{"name":"x"}}]}`,
		"range without event": `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"x"},"ranges":[{"type":"SEMVER","events":[]}]}]}`,
		"event with two":      `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"x"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}`,
		"specific not object": `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"x"},"ecosystem_specific":[1]}]}`,
		"bad time":            `{"id":"A","modified":"yesterday"}`,
	} {
		if _, err := osv.ParseRecord([]byte(rec)); !errors.Is(err, osv.ErrInvalidRecord) {
			t.Errorf("%s: ParseRecord() error = %v, want ErrInvalidRecord", name, err)
		}
	}
}

// TestReloadConcurrent reloads while scans match; run with -race.
func TestReloadConcurrent(t *testing.T) {
	ctx := context.Background()
	db := loadDB(t, writeRecords(t, alpineRecords))
	s := newScanner(t, db)
	inv := scan.Inventory{
		OS:       &scan.OS{ID: "alpine", VersionID: "3.19.1"},
		Packages: []scan.Package{{Name: "libssl3", Version: "3.1.4-r0", SourceName: "openssl", PackageManager: "apk"}},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			if err := db.Reload(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 200 {
		rep, err := s.Rematch(ctx, inv)
		if err != nil || len(rep.Findings) != 1 {
			t.Fatalf("Rematch() = %q, %v", findingKeys(rep.Findings), err)
		}
	}
	<-done
}
