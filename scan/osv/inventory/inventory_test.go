package inventory_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/scan/osv/inventory"
)

func TestDebianFixture(t *testing.T) {
	status := readFixture(t, "dpkg-status")
	osRelease := readFixture(t, "os-release")
	wantInstalled := strings.Count("\n"+string(status), "\nStatus: install ok installed\n")
	if wantInstalled == 0 {
		t.Fatal("fixture has no installed packages")
	}
	for _, compression := range []string{"none", "gzip", "zstd"} {
		t.Run(compression, func(t *testing.T) {
			s := newBlobs()
			l := layerOf(t, s, compression,
				dir("etc/"), symlink("etc/os-release", "../usr/lib/os-release"),
				dir("usr/"), dir("usr/lib/"), file("usr/lib/os-release", string(osRelease)),
				dir("var/"), dir("var/lib/"), dir("var/lib/dpkg/"), file("var/lib/dpkg/status", string(status)),
				file("var/lib/dpkg/status-old", string(status)),
			)
			img, err := inventory.Read(context.Background(), []inventory.Layer{l}, inventory.Options{})
			if err != nil {
				t.Fatalf("Read() error = %v", err)
			}
			if img.OS == nil {
				t.Fatal("Read().OS = nil, want debian")
			}
			if got, want := *img.OS, (inventory.OS{ID: "debian", VersionID: "12", VersionCodename: "bookworm", PrettyName: "Debian GNU/Linux 12 (bookworm)", Version: "12 (bookworm)", Path: "usr/lib/os-release", Layer: l.Digest}); got != want {
				t.Errorf("OS = %+v, want %+v", got, want)
			}
			if got := countKind(img, inventory.KindDpkg); got != wantInstalled {
				t.Errorf("dpkg packages = %d, want %d", got, wantInstalled)
			}
			if len(img.Packages) != wantInstalled {
				t.Errorf("packages = %d, want %d", len(img.Packages), wantInstalled)
			}
			for _, tc := range []struct{ name, version, arch, src, srcVersion string }{
				{"apt", "2.6.1", "amd64", "apt", "2.6.1"},
				{"liblzma5", "5.4.1-1+deb12u1", "amd64", "xz-utils", "5.4.1-1+deb12u1"},
				{"libpcre2-8-0", "10.42-1", "amd64", "pcre2", "10.42-1"},
				{"perl-base", "5.36.0-7+deb12u3", "amd64", "perl", "5.36.0-7+deb12u3"},
				{"tzdata", "2026b-0+deb12u1", "all", "tzdata", "2026b-0+deb12u1"},
				{"libc6", "2.36-9+deb12u14", "amd64", "glibc", "2.36-9+deb12u14"},
				{"zlib1g", "1:1.2.13.dfsg-1", "amd64", "zlib", "1:1.2.13.dfsg-1"},
				{"bash", "5.2.15-2+b13", "amd64", "bash", "5.2.15-2"},
			} {
				got := find(img, tc.name)
				if len(got) != 1 {
					t.Errorf("packages named %q = %d, want 1", tc.name, len(got))
					continue
				}
				p := got[0]
				want := inventory.Package{Name: tc.name, Version: tc.version, Ecosystem: "Debian:12", Kind: inventory.KindDpkg,
					SourceName: tc.src, SourceVersion: tc.srcVersion, Arch: tc.arch, Path: "var/lib/dpkg/status", Layer: l.Digest}
				if p != want {
					t.Errorf("package %s = %+v, want %+v", tc.name, p, want)
				}
			}
			// Sources: every package has one; the fixture names 13 with
			// their own version in parentheses.
			withSrcVersion := 0
			for _, p := range img.Packages {
				if p.SourceName == "" || strings.ContainsAny(p.SourceName, " ()") {
					t.Errorf("package %s: SourceName = %q", p.Name, p.SourceName)
				}
				if p.SourceVersion != p.Version {
					withSrcVersion++
				}
			}
			if want := countParenSources(string(status)); withSrcVersion != want {
				t.Errorf("packages with a distinct source version = %d, want %d", withSrcVersion, want)
			}
		})
	}
}

// countParenSources counts Source fields with a version whose package
// version differs from it.
func countParenSources(status string) int {
	n := 0
	for _, stanza := range strings.Split(status, "\n\n") {
		var version, srcVersion string
		for _, line := range strings.Split(stanza, "\n") {
			if v, ok := strings.CutPrefix(line, "Version: "); ok {
				version = v
			}
			if v, ok := strings.CutPrefix(line, "Source: "); ok {
				if i := strings.Index(v, "("); i >= 0 {
					srcVersion = strings.TrimSuffix(v[i+1:], ")")
				}
			}
		}
		if srcVersion != "" && srcVersion != version {
			n++
		}
	}
	return n
}

const alpineInstalled = `C:Q1deadbeef=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
o:musl
m:Timo Teräs <timo.teras@iki.fi>

C:Q1cafe=
P:busybox-binsh
V:1.36.1-r15
A:x86_64
o:busybox
r:busybox

P:libcrypto3
V:3.1.4-r5
A:x86_64
o:openssl

P:ca-certificates-bundle
V:20240226-r0
A:x86_64
o:ca-certificates
`

const alpineOSRelease = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
`

func TestAlpine(t *testing.T) {
	s := newBlobs()
	l := layerOf(t, s, "gzip", file("etc/os-release", alpineOSRelease), file("lib/apk/db/installed", alpineInstalled))
	img, err := inventory.Read(context.Background(), []inventory.Layer{l}, inventory.Options{})
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	if img.OS == nil || img.OS.Ecosystem() != "Alpine:v3.19" {
		t.Fatalf("OS = %+v, want Alpine 3.19", img.OS)
	}
	want := []inventory.Package{
		{Name: "busybox-binsh", Version: "1.36.1-r15", SourceName: "busybox"},
		{Name: "ca-certificates-bundle", Version: "20240226-r0", SourceName: "ca-certificates"},
		{Name: "libcrypto3", Version: "3.1.4-r5", SourceName: "openssl"},
		{Name: "musl", Version: "1.2.4_git20230717-r4", SourceName: "musl"},
	}
	for i := range want {
		want[i].Ecosystem, want[i].Kind, want[i].Arch = "Alpine:v3.19", inventory.KindApk, "x86_64"
		want[i].SourceVersion, want[i].Path, want[i].Layer = want[i].Version, "lib/apk/db/installed", l.Digest
	}
	if !slices.Equal(img.Packages, want) {
		t.Errorf("Packages =\n%+v\nwant\n%+v", img.Packages, want)
	}
}

func TestGoBinary(t *testing.T) {
	bin := helloBinary(t)
	stdlib := goVersion(t)
	s := newBlobs()
	l := layerOf(t, s, "zstd", exe("usr/local/bin/hello", bin), hardlink("usr/bin/hello-again", "usr/local/bin/hello"),
		file("usr/share/hello.bin", string(bin))) // not executable: not read
	img, err := inventory.Read(context.Background(), []inventory.Layer{l}, inventory.Options{})
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	var got []string
	for _, p := range img.Packages {
		if p.Ecosystem != "Go" || p.GOOS != "linux" || p.Arch != "arm64" || p.Layer != l.Digest {
			t.Errorf("package %+v: want ecosystem Go, linux/arm64, layer %s", p, l.Digest)
		}
		got = append(got, fmt.Sprintf("%s %s %s@%s replaces=%q", p.Path, p.Kind, p.Name, p.Version, p.Replaces))
	}
	v := "v" + strings.TrimPrefix(stdlib, "go")
	if strings.Count(v, ".") == 1 {
		v += ".0"
	}
	var want []string
	for _, path := range []string{"usr/bin/hello-again", "usr/local/bin/hello"} {
		want = append(want,
			path+` go-module ./dep@(devel) replaces="example.com/dep"`,
			path+` go-main example.com/hello@(devel) replaces=""`,
			path+` go-module github.com/opencontainers/go-digest@v1.0.0 replaces=""`,
			path+` go-stdlib stdlib@`+v+` replaces=""`,
		)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Go packages =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLanguagePackages(t *testing.T) {
	s := newBlobs()
	l := layerOf(t, s, "gzip",
		file("usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nSummary: HTTP\n\nName: not-this\n"),
		file("usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO", "Metadata-Version: 1.2\r\nName: six\r\nVersion: 1.16.0\r\n"),
		file("usr/lib/python3/dist-packages/chardet-5.1.0.egg-info", "Name: chardet\nVersion: 5.1.0\n"),
		file("usr/lib/python3/dist-packages/broken.dist-info/METADATA", "Name: broken\n"),
		file("app/node_modules/left-pad/package.json", `{"name":"left-pad","version":"1.3.0"}`),
		file("app/node_modules/@babel/core/package.json", `{"name":"@babel/core","version":"7.24.0"}`),
		file("app/node_modules/left-pad/node_modules/minimist/package.json", `{"name":"minimist","version":"0.0.8"}`),
		file("app/node_modules/left-pad/test/package.json", `{"name":"fixture","version":"9.9.9"}`),
		file("app/package.json", `{"name":"my-app","version":"1.0.0"}`),
		file("app/node_modules/huge/package.json", `{"name":"huge","version":"1.0.0","x":"`+strings.Repeat("x", 2<<10)+`"}`),
		file("app/node_modules/bad/package.json", `{"name":1}`),
	)
	img, err := inventory.Read(context.Background(), []inventory.Layer{l}, inventory.Options{MaxManifestSize: 1 << 10})
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	var got []string
	for _, p := range img.Packages {
		got = append(got, fmt.Sprintf("%s %s@%s", p.Ecosystem, p.Name, p.Version))
	}
	want := []string{
		"npm @babel/core@7.24.0",
		"npm minimist@0.0.8",
		"npm left-pad@1.3.0",
		"PyPI chardet@5.1.0",
		"PyPI requests@2.31.0",
		"PyPI six@1.16.0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("packages = %q, want %q", got, want)
	}
	if !slices.ContainsFunc(img.Warnings, func(w string) bool { return strings.Contains(w, "node_modules/huge/package.json") }) {
		t.Errorf("Warnings = %q, want one about the huge package.json", img.Warnings)
	}
}

func TestDpkgStatusD(t *testing.T) {
	s := newBlobs()
	l := layerOf(t, s, "none",
		file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"),
		file("var/lib/dpkg/status.d/base", "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n"),
		file("var/lib/dpkg/status.d/libssl3", "Package: libssl3\nSource: openssl\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\n"),
		file("var/lib/dpkg/status.d/libssl3.md5sums", "d41d8cd98f00b204e9800998ecf8427e  usr/lib/x\n"),
		file("var/lib/dpkg/status.d/removed", "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n"),
	)
	img, err := inventory.Read(context.Background(), []inventory.Layer{l}, inventory.Options{})
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	var got []string
	for _, p := range img.Packages {
		got = append(got, fmt.Sprintf("%s %s@%s src=%s@%s", p.Ecosystem, p.Name, p.Version, p.SourceName, p.SourceVersion))
	}
	want := []string{
		"Debian:12 base-files@12.4+deb12u5 src=base-files@12.4+deb12u5",
		"Debian:12 libssl3@3.0.11-1~deb12u2 src=openssl@3.0.11-1~deb12u2",
	}
	if !slices.Equal(got, want) {
		t.Errorf("packages = %q, want %q", got, want)
	}
}
