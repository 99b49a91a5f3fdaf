package inventory

import "testing"

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"etc/os-release", "etc/os-release", true},
		{"./etc/os-release", "etc/os-release", true},
		{"/etc//os-release", "etc/os-release", true},
		{"usr/../etc/os-release", "etc/os-release", true},
		{"usr/lib/", "usr/lib", true},
		{"../etc/os-release", "", false},
		{"a/../../etc", "", false},
		{"..", "", false},
		{"/", "", false},
		{"./", "", false},
		{"", "", false},
	} {
		got, ok := cleanPath(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("cleanPath(%q) = %q, %v, want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestGoTagToSemver(t *testing.T) {
	for in, want := range map[string]string{
		"go1.22.1":                      "v1.22.1",
		"go1.21":                        "v1.21.0",
		"go1.21.0":                      "v1.21.0",
		"go1.21rc2":                     "v1.21.0-rc.2",
		"go1.19beta1":                   "v1.19.0-beta.1",
		"go1.22.1 X:boringcrypto":       "v1.22.1",
		"go1.23.4-bigcorp":              "v1.23.4",
		"devel go1.24-abcdef Tue Jan 1": "",
		"go":                            "",
		"go1":                           "",
		"go1.x":                         "",
		"1.22":                          "",
	} {
		if got := goTagToSemver(in); got != want {
			t.Errorf("goTagToSemver(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsNPMPackageRoot(t *testing.T) {
	for dir, want := range map[string]bool{
		"node_modules/left-pad":                          true,
		"app/node_modules/@babel/core":                   true,
		"app/node_modules/a/node_modules/b":              true,
		"app/node_modules/@babel":                        false,
		"app/node_modules/left-pad/test":                 false,
		"app/node_modules/.bin":                          false,
		"app":                                            false,
		"app/my_node_modules/x":                          false,
		"app/node_modules/@babel/core/node_modules/@x/y": true,
	} {
		if got := isNPMPackageRoot(dir); got != want {
			t.Errorf("isNPMPackageRoot(%q) = %v, want %v", dir, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	view := map[string]entry{
		"etc/os-release":     {link: "../usr/lib/os-release", isLink: true},
		"usr/lib/os-release": {file: &File{}},
		"lib":                {link: "usr/lib", isLink: true},
		"abs":                {link: "/lib/os-release", isLink: true},
		"up":                 {link: "../../../../usr/lib/os-release", isLink: true},
		"loop":               {link: "loop", isLink: true},
		"deep":               {link: "lib/../lib/os-release", isLink: true},
	}
	for in, want := range map[string]string{
		"etc/os-release":     "usr/lib/os-release",
		"lib/os-release":     "usr/lib/os-release",
		"abs":                "usr/lib/os-release",
		"up":                 "usr/lib/os-release",
		"deep":               "usr/lib/os-release",
		"usr/lib/os-release": "usr/lib/os-release",
		"loop":               "",
		"loop/x":             "",
	} {
		got, ok := resolve(view, in)
		if got != want || ok != (want != "") {
			t.Errorf("resolve(%q) = %q, %v, want %q", in, got, ok, want)
		}
	}
}

func TestOSEcosystem(t *testing.T) {
	for _, tc := range []struct {
		os   OS
		want string
	}{
		{OS{ID: "debian", VersionID: "12"}, "Debian:12"},
		{OS{ID: "debian"}, "Debian"},
		{OS{ID: "alpine", VersionID: "3.19.1"}, "Alpine:v3.19"},
		{OS{ID: "alpine", VersionID: "3.20.0_alpha20240329"}, "Alpine:v3.20"},
		{OS{ID: "ubuntu", VersionID: "22.04", Version: "22.04.4 LTS (Jammy Jellyfish)"}, "Ubuntu:22.04:LTS"},
		{OS{ID: "ubuntu", VersionID: "23.10", Version: "23.10 (Mantic Minotaur)"}, "Ubuntu:23.10"},
		{OS{ID: "fedora", VersionID: "40"}, ""},
	} {
		if got := tc.os.Ecosystem(); got != tc.want {
			t.Errorf("%+v.Ecosystem() = %q, want %q", tc.os, got, tc.want)
		}
	}
}
