package osv_test

import (
	"context"
	"slices"
	"testing"

	"github.com/berth-dev/berth/scan"
)

// TestDebianScan scans an image built from the frozen Debian 12 package
// database against records derived by hand from the Debian changelogs of
// the packages the fixture lists as outdated (testdata/debian).
func TestDebianScan(t *testing.T) {
	c := newContent()
	base := gzipped(t, tarLayer(t,
		tarFile{name: "etc/os-release", body: readFixture(t, "os-release")},
		tarFile{name: "var/lib/dpkg/status", body: readFixture(t, "dpkg-status")},
	))
	app := gzipped(t, tarLayer(t, tarFile{name: "srv/hello.txt", body: []byte("hello\n")}))
	req := pushImage(t, c, base, app)

	db := loadDB(t, "testdata/debian")
	s := newScanner(t, db)
	rep, err := s.Scan(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != scan.StatusComplete {
		t.Fatalf("Status = %s (%s), want COMPLETE", rep.Status, rep.Description)
	}
	if !rep.CompletedAt.Equal(testNow) {
		t.Errorf("CompletedAt = %v, want %v", rep.CompletedAt, testNow)
	}
	if rep.DatabaseVersion == "" || rep.DatabaseVersion != s.DatabaseVersion() {
		t.Errorf("DatabaseVersion = %q, scanner says %q", rep.DatabaseVersion, s.DatabaseVersion())
	}

	inv := rep.Inventory
	if inv == nil || inv.OS == nil || inv.OS.ID != "debian" || inv.OS.VersionID != "12" || inv.OS.Codename != "bookworm" {
		t.Fatalf("OS = %+v", inv.OS)
	}
	if got := len(inv.Packages); got != 88 {
		t.Errorf("packages = %d, want 88", got)
	}
	sources := map[string]bool{}
	for _, p := range inv.Packages {
		if p.PackageManager != "dpkg" || p.Ecosystem != "Debian:12" || p.Path != "var/lib/dpkg/status" || p.Layer != digestOf(base) {
			t.Fatalf("package %+v", p)
		}
		sources[p.SourceName] = true
	}
	if got := len(sources); got != 63 {
		t.Errorf("source packages = %d, want 63", got)
	}

	want := []string{
		"DEBIAN-CVE-2026-103111 libpcre2-8-0 10.42-1 10.42-1+deb12u2",
		"DEBIAN-CVE-2026-109518 apt 2.6.1 2.6.2",
		"DEBIAN-CVE-2026-109518 libapt-pkg6.0 2.6.1 2.6.2",
		"DEBIAN-CVE-2026-7017 perl-base 5.36.0-7+deb12u3 5.36.0-7+deb12u4",
		"DEBIAN-GHSA-5qpq-xqfv-j9pg liblzma5 5.4.1-1+deb12u1 5.4.1-1+deb12u2",
	}
	if got := findingKeys(rep.Findings); !slices.Equal(got, want) {
		t.Errorf("findings =\n%q\nwant\n%q", got, want)
	}
	// Not matched: fixed versions equal to or older than the installed
	// one (DEBIAN-CVE-2026-34743, -2025-40909, -2024-56406), another
	// release (…-BULLSEYE), a withdrawn record (-2026-99999).
	for _, f := range rep.Findings {
		if f.Ecosystem != "Debian:12" || f.PackageManager != "dpkg" || f.Path != "var/lib/dpkg/status" ||
			f.Layer != digestOf(base) || f.Severity != scan.SeverityUndefined ||
			f.URI == "" || len(f.Aliases) != 1 || f.Description == "" {
			t.Errorf("finding %+v", f)
		}
	}
	lzma := rep.Findings[4]
	if lzma.SourcePackage != "xz-utils" || lzma.URI != "https://security-tracker.debian.org/tracker/GHSA-5qpq-xqfv-j9pg" {
		t.Errorf("liblzma5 finding = %+v", lzma)
	}
	if got := rep.SeverityCounts; len(got) != 1 || got[scan.SeverityUndefined] != 5 {
		t.Errorf("SeverityCounts = %v", got)
	}
	// Layers are read once: a second scan of an image sharing the base
	// layer uses the scanner's layer cache.
	req2 := pushImage(t, c, base)
	rep2, err := s.Scan(context.Background(), req2)
	if err != nil || rep2.Status != scan.StatusComplete || len(rep2.Findings) != 5 {
		t.Fatalf("second scan: %v %s %d findings", err, rep2.Status, len(rep2.Findings))
	}
	if n := c.opens[digestOf(base)]; n != 1 {
		t.Errorf("base layer opened %d times, want 1", n)
	}

	// Rematch gives the same findings from the stored inventory.
	rep3, err := s.Rematch(context.Background(), *rep.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(findingKeys(rep3.Findings), want) || rep3.Status != scan.StatusComplete {
		t.Errorf("Rematch findings = %q", findingKeys(rep3.Findings))
	}
}
