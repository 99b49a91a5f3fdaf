package sbom_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/sbom"
)

var (
	debian = &scan.OS{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux 12 (bookworm)"}
	alpine = &scan.OS{ID: "alpine", VersionID: "3.19.1", Name: "Alpine Linux v3.19"}
)

func TestPURL(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    scan.Package
		os   *scan.OS
		want string
	}{
		{"deb", scan.Package{Name: "libssl3", Version: "3.0.11-1~deb12u2", Arch: "amd64", PackageManager: "dpkg"}, debian,
			"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"},
		{"deb epoch and plus", scan.Package{Name: "attr", Version: "1:2.4.47-2+b1", Arch: "amd64", PackageManager: "dpkg"}, debian,
			"pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64&distro=debian-12"},
		{"deb vendor from ecosystem, no distro", scan.Package{Name: "bash", Version: "5.1", PackageManager: "dpkg", Ecosystem: "Ubuntu:22.04"}, nil,
			"pkg:deb/ubuntu/bash@5.1"},
		{"deb unknown os", scan.Package{Name: "bash", Version: "5.1", PackageManager: "dpkg"}, nil,
			"pkg:deb/debian/bash@5.1"},
		{"deb uppercase name", scan.Package{Name: "LibFoo", Version: "1", PackageManager: "dpkg"}, &scan.OS{ID: "Debian"},
			"pkg:deb/debian/libfoo@1"},
		{"apk", scan.Package{Name: "busybox", Version: "1.36.1-r15", Arch: "x86_64", PackageManager: "apk"}, alpine,
			"pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1"},
		{"go module", scan.Package{Name: "github.com/BurntSushi/toml", Version: "v1.3.2", PackageManager: "go", GOOS: "linux", Arch: "amd64"}, debian,
			"pkg:golang/github.com/burntsushi/toml@v1.3.2"},
		{"go pseudo-version", scan.Package{Name: "golang.org/x/net", Version: "v0.0.0-20230101000000-abcdef123456+incompatible", PackageManager: "go"}, nil,
			"pkg:golang/golang.org/x/net@v0.0.0-20230101000000-abcdef123456%2Bincompatible"},
		{"go stdlib", scan.Package{Name: "stdlib", Version: "v1.22.1", PackageManager: "go"}, nil,
			"pkg:golang/stdlib@v1.22.1"},
		{"go devel", scan.Package{Name: "example.com/app", Version: "(devel)", PackageManager: "go"}, nil,
			"pkg:golang/example.com/app@%28devel%29"},
		{"pypi", scan.Package{Name: "Django_Rest.framework", Version: "3.14.0", PackageManager: "python"}, nil,
			"pkg:pypi/django-rest-framework@3.14.0"},
		{"pypi local version", scan.Package{Name: "torch", Version: "2.1.0+cu121", PackageManager: "python"}, nil,
			"pkg:pypi/torch@2.1.0%2Bcu121"},
		{"npm", scan.Package{Name: "lodash", Version: "4.17.21", PackageManager: "npm"}, nil,
			"pkg:npm/lodash@4.17.21"},
		{"npm scoped", scan.Package{Name: "@Angular/animation", Version: "12.3.1", PackageManager: "npm"}, nil,
			"pkg:npm/%40angular/animation@12.3.1"},
		{"no version", scan.Package{Name: "lodash", PackageManager: "npm"}, nil,
			"pkg:npm/lodash"},
		{"hostile", scan.Package{Name: "a b/c?d#e@f&g=h%", Version: "1 2?x#y@z&w=%", Arch: "a&b=c", PackageManager: "dpkg"}, debian,
			"pkg:deb/debian/a%20b%2Fc%3Fd%23e%40f%26g%3Dh%25@1%202%3Fx%23y%40z%26w%3D%25?arch=a%26b%3Dc&distro=debian-12"},
		{"qualifier keeps slashes", scan.Package{Name: "x", Version: "1", Arch: "a/b c", PackageManager: "apk"}, alpine,
			"pkg:apk/alpine/x@1?arch=a/b%20c&distro=alpine-3.19.1"},
		{"non-ASCII", scan.Package{Name: "café", Version: "1", PackageManager: "python"}, nil,
			"pkg:pypi/caf%C3%A9@1"},
		{"unknown manager", scan.Package{Name: "x", Version: "1", PackageManager: "rpm"}, nil, ""},
		{"no name", scan.Package{Version: "1", PackageManager: "npm"}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sbom.PURL(tc.p, tc.os)
			if got != tc.want {
				t.Fatalf("PURL() = %q, want %q", got, tc.want)
			}
			if got == "" {
				return
			}
			// Independently of the table: a parse of the result by the
			// spec's rules gives back the (normalised) name and version.
			name, version := parsePURL(t, got)
			wantName := strings.ToLower(tc.p.Name)
			if tc.p.PackageManager == "python" {
				wantName = name // normalised; checked by the table
			}
			if !strings.HasSuffix(wantName, name) || version != tc.p.Version {
				t.Errorf("parse(%q) = name %q version %q, want a suffix of %q and %q", got, name, version, wantName, tc.p.Version)
			}
		})
	}
}

// parsePURL splits a purl by the specification's parsing rules and
// returns its decoded name and version; it fails the test on a separator
// that should have been encoded.
func parsePURL(t *testing.T, s string) (name, version string) {
	t.Helper()
	rest, ok := strings.CutPrefix(s, "pkg:")
	if !ok {
		t.Fatalf("%q: no pkg: scheme", s)
	}
	if strings.Contains(rest, "#") {
		t.Fatalf("%q: unencoded '#'", s)
	}
	rest, quals, _ := strings.Cut(rest, "?")
	if quals != "" {
		for _, kv := range strings.Split(quals, "&") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" || strings.Contains(v, "=") {
				t.Fatalf("%q: bad qualifier %q", s, kv)
			}
			if _, err := url.PathUnescape(v); err != nil {
				t.Fatalf("%q: qualifier %q: %v", s, kv, err)
			}
		}
	}
	if strings.Count(rest, "@") > 1 {
		t.Fatalf("%q: unencoded '@'", s)
	}
	rest, ver, _ := strings.Cut(rest, "@")
	segs := strings.Split(rest, "/")
	if len(segs) < 2 {
		t.Fatalf("%q: no name", s)
	}
	var err error
	if name, err = url.PathUnescape(segs[len(segs)-1]); err != nil {
		t.Fatalf("%q: name: %v", s, err)
	}
	if version, err = url.PathUnescape(ver); err != nil {
		t.Fatalf("%q: version: %v", s, err)
	}
	return name, version
}
