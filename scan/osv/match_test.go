package osv_test

import (
	"context"
	"slices"
	"testing"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/osv"
)

func mustRecords(t testing.TB, jsons ...string) *osv.Database {
	t.Helper()
	var recs []*osv.Record
	for _, j := range jsons {
		r, err := osv.ParseRecord([]byte(j))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	db, err := osv.NewDatabase(recs)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestMatchRanges(t *testing.T) {
	db := mustRecords(t,
		// Events out of order, two introduced/fixed pairs.
		`{"id":"R-1","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},
			"ranges":[{"type":"SEMVER","events":[{"fixed":"1.2.0"},{"introduced":"1.5.0"},{"introduced":"1.0.0"},{"fixed":"1.6.1"}]}]}]}`,
		// last_affected, and a GIT range that is ignored.
		`{"id":"R-2","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},
			"ranges":[{"type":"GIT","repo":"https://example.com/m","events":[{"introduced":"0"},{"fixed":"abc"}]},
			          {"type":"SEMVER","events":[{"introduced":"0"},{"last_affected":"0.9.0"}]}]}]}`,
		// A version list plus a range giving the fix.
		`{"id":"R-3","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},
			"versions":["2.0.0-rc.1"],
			"ranges":[{"type":"SEMVER","events":[{"introduced":"2.0.0-rc.1"},{"fixed":"2.0.0"}]}]}]}`,
	)
	tests := []struct {
		version string
		want    []string
	}{
		{"v0.1.0", []string{"R-2 example.com/m v0.1.0 "}},
		{"v0.9.0", []string{"R-2 example.com/m v0.9.0 "}},
		{"v0.9.1", nil},
		{"v1.0.0", []string{"R-1 example.com/m v1.0.0 1.2.0"}},
		{"v1.1.9", []string{"R-1 example.com/m v1.1.9 1.2.0"}},
		{"v1.2.0", nil}, // fixed == installed
		{"v1.4.0", nil},
		{"v1.5.0", []string{"R-1 example.com/m v1.5.0 1.6.1"}},
		{"v1.6.1", nil},
		{"v2.0.0-rc.1", []string{"R-3 example.com/m v2.0.0-rc.1 2.0.0"}},
		{"v2.0.0", nil},
		{"(devel)", nil},
	}
	for _, tt := range tests {
		inv := scan.Inventory{Packages: []scan.Package{{Name: "example.com/m", Version: tt.version, PackageManager: "go"}}}
		fs, err := db.Match(context.Background(), inv)
		if err != nil {
			t.Fatal(err)
		}
		if got := findingKeys(fs); !slices.Equal(got, tt.want) {
			t.Errorf("Match(%s) = %q, want %q", tt.version, got, tt.want)
		}
	}
}

func TestMatchGoPlatformsAndStdlib(t *testing.T) {
	db := mustRecords(t,
		`{"id":"GO-W","affected":[{"package":{"ecosystem":"Go","name":"stdlib"},
			"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.20.1"}]}],
			"ecosystem_specific":{"imports":[{"path":"os","goos":["windows"]}]}}]}`,
		`{"id":"GO-ARM","affected":[{"package":{"ecosystem":"Go","name":"stdlib"},
			"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.20.1"}]}],
			"ecosystem_specific":{"imports":[{"path":"crypto/x","goos":["linux"],"goarch":["arm64"]}]}}]}`,
		`{"id":"GO-ALL","affected":[{"package":{"ecosystem":"Go","name":"stdlib"},
			"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.20.1"}]}],
			"ecosystem_specific":{"imports":[{"path":"a","goos":["windows"]},{"path":"net/http"}]}}]}`,
	)
	match := func(goos, goarch, version string) []string {
		inv := scan.Inventory{Packages: []scan.Package{{Name: "stdlib", Version: version, PackageManager: "go", GOOS: goos, Arch: goarch}}}
		fs, err := db.Match(context.Background(), inv)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range fs {
			ids = append(ids, f.ID)
		}
		return ids
	}
	for _, tt := range []struct {
		goos, goarch, version string
		want                  []string
	}{
		{"linux", "amd64", "v1.20.0", []string{"GO-ALL"}},
		{"windows", "amd64", "v1.20.0", []string{"GO-ALL", "GO-W"}},
		{"linux", "arm64", "v1.20.0", []string{"GO-ALL", "GO-ARM"}},
		{"linux", "", "v1.20.0", []string{"GO-ALL", "GO-ARM"}}, // unknown arch: conservative
		{"", "", "v1.20.0", []string{"GO-ALL", "GO-ARM", "GO-W"}},
		{"windows", "amd64", "v1.20.1", nil},
	} {
		if got := match(tt.goos, tt.goarch, tt.version); !slices.Equal(got, tt.want) {
			t.Errorf("Match(%s/%s %s) = %v, want %v", tt.goos, tt.goarch, tt.version, got, tt.want)
		}
	}
}

func TestTarget(t *testing.T) {
	debian := &scan.OS{ID: "debian", VersionID: "12"}
	for _, tt := range []struct {
		os             *scan.OS
		p              scan.Package
		eco, name, ver string
		ok             bool
	}{
		{debian, scan.Package{Name: "libc6", Version: "2.36-9", SourceName: "glibc", SourceVersion: "2.36-9+deb12u1", PackageManager: "dpkg"}, "Debian:12", "glibc", "2.36-9+deb12u1", true},
		{&scan.OS{ID: "alpine", VersionID: "3.20.3"}, scan.Package{Name: "libssl3", Version: "3.3.2-r0", SourceName: "openssl", PackageManager: "apk"}, "Alpine:v3.20", "openssl", "3.3.2-r0", true},
		{nil, scan.Package{Name: "stdlib", Version: "v1.20.1", PackageManager: "go"}, "Go", "stdlib", "1.20.1", true},
		{nil, scan.Package{Name: "example.com/cmd", Version: "(devel)", PackageManager: "go"}, "", "", "", false},
		{nil, scan.Package{Name: "Zope.Interface", Version: "5.0", PackageManager: "python"}, "PyPI", "zope-interface", "5.0", true},
		{nil, scan.Package{Name: "__a..b__", Version: "1", PackageManager: "python"}, "PyPI", "-a-b-", "1", true},
		{nil, scan.Package{Name: "@scope/x", Version: "1.0.0", PackageManager: "npm"}, "npm", "@scope/x", "1.0.0", true},
		{nil, scan.Package{Name: "libc6", Version: "2.36-9", PackageManager: "dpkg"}, "", "", "", false}, // OS unknown
	} {
		eco, name, ver, ok := osv.Target(tt.os, tt.p)
		if eco != tt.eco || name != tt.name || ver != tt.ver || ok != tt.ok {
			t.Errorf("Target(%+v) = %q %q %q %v, want %q %q %q %v", tt.p, eco, name, ver, ok, tt.eco, tt.name, tt.ver, tt.ok)
		}
	}
}

func TestSeverities(t *testing.T) {
	rec := func(sev string) string {
		return `{"id":"S","severity":[` + sev + `],"affected":[{"package":{"ecosystem":"npm","name":"p"},"versions":["1.0.0"]}]}`
	}
	for _, tt := range []struct {
		severity, wantSev, wantVersion string
		wantScore                      float64
	}{
		// Base scores from the examples of the CVSS specifications.
		{`{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}`, scan.SeverityCritical, "3.1", 9.8},
		{`{"type":"CVSS_V3","score":"CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"}`, scan.SeverityMedium, "3.0", 6.1},
		{`{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N"}`, scan.SeverityInformational, "3.1", 0},
		{`{"type":"CVSS_V2","score":"AV:N/AC:L/Au:N/C:C/I:C/A:C"}`, scan.SeverityHigh, "2.0", 10},
		{`{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}`, scan.SeverityCritical, "4.0", 9.3},
		// V4 preferred over V3, whatever the order.
		{`{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},{"type":"CVSS_V4","score":"CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"}`, scan.SeverityMedium, "4.0", 4.8},
		// A broken vector is skipped.
		{`{"type":"CVSS_V3","score":"CVSS:3.1/AV:X"},{"type":"CVSS_V2","score":"AV:N/AC:L/Au:N/C:P/I:P/A:P"}`, scan.SeverityHigh, "2.0", 7.5},
		{`{"type":"Ubuntu","score":"high"}`, scan.SeverityUndefined, "", 0},
	} {
		fs, err := mustRecords(t, rec(tt.severity)).Match(context.Background(), scan.Inventory{Packages: []scan.Package{{Name: "p", Version: "1.0.0", PackageManager: "npm"}}})
		if err != nil || len(fs) != 1 {
			t.Fatalf("Match() = %v, %v", fs, err)
		}
		f := fs[0]
		gotVersion, gotScore := "", 0.0
		if f.CVSS != nil {
			gotVersion, gotScore = f.CVSS.Version, f.CVSS.Score
		}
		if f.Severity != tt.wantSev || gotVersion != tt.wantVersion || gotScore != tt.wantScore {
			t.Errorf("severity %s: got %s %s %v, want %s %s %v", tt.severity, f.Severity, gotVersion, gotScore, tt.wantSev, tt.wantVersion, tt.wantScore)
		}
	}
}
