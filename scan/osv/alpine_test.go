package osv_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/berth-dev/berth/scan"
)

// writeRecords writes OSV records (JSON text by file name) to a new
// directory.
func writeRecords(t testing.TB, recs map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range recs {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Hand-written records for TestAlpineScan. They are synthetic (ids start
// with BERTH-TEST) and exercise each kind of range event, explicit
// versions, the release suffix of Alpine ecosystems, PEP 503 names and
// severities.
var alpineRecords = map[string]string{
	"alpine/openssl.json": `{"id":"BERTH-TEST-0001","modified":"2026-11-01T00:00:00Z","aliases":["CVE-2026-0001"],
		"summary":"openssl: crafted certificate","details":"Synthetic record for Berth's tests.",
		"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
		"affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"openssl"},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.1.4-r1"}]}]}],
		"references":[{"type":"WEB","url":"https://example.org/openssl"}]}`,
	"alpine/musl-fixed.json": `{"id":"BERTH-TEST-0002","modified":"2026-11-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"musl"},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.2.4_git20230717-r4"}]}]}]}`,
	"alpine/busybox-versions.json": `{"id":"BERTH-TEST-0003","modified":"2026-11-01T00:00:00Z",
		"database_specific":{"severity":"MODERATE"},
		"affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"busybox"},
			"versions":["1.36.1-r14","1.36.1-r15"]}]}`,
	"alpine/busybox-other-release.json": `{"id":"BERTH-TEST-0004","modified":"2026-11-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"Alpine:v3.18","name":"busybox"},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.99.0-r0"}]}]}]}`,
	"pypi/jinja2.json": `{"id":"BERTH-TEST-0005","modified":"2026-11-01T00:00:00Z",
		"severity":[{"type":"CVSS_V2","score":"AV:N/AC:L/Au:N/C:P/I:N/A:N"}],
		"affected":[{"package":{"ecosystem":"PyPI","name":"jinja2"},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.1.3"}]}]}]}`,
	"pypi/zope.json": `{"id":"BERTH-TEST-0006","modified":"2026-11-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"PyPI","name":"zope.interface"},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"5.0"},{"fixed":"5.4.1"},{"introduced":"6.0"},{"fixed":"6.0.1"}]}]}]}`,
	"npm/lodash-last-affected.json": `{"id":"BERTH-TEST-0007","modified":"2026-11-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"npm","name":"lodash"},
			"database_specific":{"severity":"LOW"},
			"ranges":[{"type":"SEMVER","events":[{"introduced":"4.0.0"},{"last_affected":"4.17.20"}]}]}]}`,
	"npm/lodash-older.json": `{"id":"BERTH-TEST-0008","modified":"2026-11-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"npm","name":"lodash"},
			"ranges":[{"type":"SEMVER","events":[{"introduced":"4.0.0"},{"last_affected":"4.17.19"}]}]}]}`,
}

func TestAlpineScan(t *testing.T) {
	apkdb := "" +
		"P:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\n\n" +
		"P:busybox\nV:1.36.1-r15\nA:x86_64\no:busybox\n\n" +
		"P:libcrypto3\nV:3.1.4-r0\nA:x86_64\no:openssl\n\n" +
		"P:libssl3\nV:3.1.4-r0\nA:x86_64\no:openssl\n\n"
	c := newContent()
	layer := gzipped(t, tarLayer(t,
		tarFile{name: "etc/os-release", body: []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n")},
		tarFile{name: "lib/apk/db/installed", body: []byte(apkdb)},
		tarFile{name: "usr/lib/python3.11/site-packages/Jinja2-3.1.2.dist-info/METADATA", body: []byte("Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\n")},
		tarFile{name: "usr/lib/python3.11/site-packages/zope.interface-5.4.0.dist-info/METADATA", body: []byte("Metadata-Version: 2.1\nName: zope.interface\nVersion: 5.4.0\n")},
		tarFile{name: "usr/lib/node_modules/lodash/package.json", body: []byte(`{"name":"lodash","version":"4.17.20"}`)},
	))
	req := pushImage(t, c, layer)
	s := newScanner(t, loadDB(t, writeRecords(t, alpineRecords)))
	rep, err := s.Scan(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != scan.StatusComplete {
		t.Fatalf("Status = %s (%s)", rep.Status, rep.Description)
	}
	if n := len(rep.Inventory.Packages); n != 7 {
		t.Errorf("packages = %d, want 7: %+v", n, rep.Inventory.Packages)
	}
	// Sorted by severity (UNDEFINED last), then id.
	want := []string{
		"BERTH-TEST-0001 libcrypto3 3.1.4-r0 3.1.4-r1",
		"BERTH-TEST-0001 libssl3 3.1.4-r0 3.1.4-r1",
		"BERTH-TEST-0003 busybox 1.36.1-r15 ",
		"BERTH-TEST-0005 Jinja2 3.1.2 3.1.3",
		"BERTH-TEST-0007 lodash 4.17.20 ",
		"BERTH-TEST-0006 zope.interface 5.4.0 5.4.1",
	}
	if got := findingKeys(rep.Findings); !slices.Equal(got, want) {
		t.Fatalf("findings =\n%q\nwant\n%q", got, want)
	}
	sev := map[string]string{}
	for _, f := range rep.Findings {
		sev[f.ID] = f.Severity
	}
	wantSev := map[string]string{
		"BERTH-TEST-0001": scan.SeverityCritical, // CVSS 3.1 base 9.8
		"BERTH-TEST-0003": scan.SeverityMedium,   // database_specific MODERATE
		"BERTH-TEST-0005": scan.SeverityMedium,   // CVSS 2.0 base 5.0
		"BERTH-TEST-0006": scan.SeverityUndefined,
		"BERTH-TEST-0007": scan.SeverityLow, // affected[].database_specific
	}
	for id, w := range wantSev {
		if sev[id] != w {
			t.Errorf("%s severity = %s, want %s", id, sev[id], w)
		}
	}
	f := rep.Findings[0]
	if f.CVSS == nil || f.CVSS.Version != "3.1" || f.CVSS.Score != 9.8 || f.SourcePackage != "openssl" ||
		f.PackageManager != "apk" || f.Ecosystem != "Alpine:v3.19" || f.Path != "lib/apk/db/installed" ||
		f.URI != "https://example.org/openssl" || f.Description != "openssl: crafted certificate\n\nSynthetic record for Berth's tests." {
		t.Errorf("openssl finding = %+v (cvss %+v)", f, f.CVSS)
	}
	if f := rep.Findings[3]; f.CVSS == nil || f.CVSS.Version != "2.0" || f.CVSS.Score != 5.0 || f.PackageManager != "python" || f.Ecosystem != "PyPI" {
		t.Errorf("jinja2 finding = %+v", f)
	}
	if f := rep.Findings[2]; f.URI != "https://osv.dev/vulnerability/BERTH-TEST-0003" {
		t.Errorf("busybox URI = %q", f.URI)
	}
	wantCounts := map[string]int{scan.SeverityCritical: 2, scan.SeverityMedium: 2, scan.SeverityLow: 1, scan.SeverityUndefined: 1}
	if !maps.Equal(rep.SeverityCounts, wantCounts) {
		t.Errorf("SeverityCounts = %v, want %v", rep.SeverityCounts, wantCounts)
	}
}
