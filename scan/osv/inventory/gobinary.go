package inventory

import (
	"bytes"
	"debug/buildinfo"
	"strings"
)

// parseGoBinary reads the build information of a Go executable (ELF, PE or
// Mach-O) and returns its main module, its dependencies and the standard
// library, each with the binary's GOOS and GOARCH. A replaced dependency is
// reported as its replacement (path and version), with the required path
// in Replaces, as govulncheck does. It returns nil for other files.
func parseGoBinary(b []byte) []Package {
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	mk := func(kind Kind, name, version string) Package {
		return Package{Name: name, Version: version, Kind: kind, Ecosystem: EcosystemGo, GOOS: goos, Arch: goarch}
	}
	var pkgs []Package
	if v := goTagToSemver(bi.GoVersion); v != "" {
		pkgs = append(pkgs, mk(KindGoStdlib, "stdlib", v))
	}
	if bi.Main.Path != "" {
		pkgs = append(pkgs, mk(KindGoMain, bi.Main.Path, bi.Main.Version))
	}
	for _, d := range bi.Deps {
		if d == nil || d.Path == "" {
			continue
		}
		p := mk(KindGoModule, d.Path, d.Version)
		if r := d.Replace; r != nil && r.Path != "" {
			p.Name, p.Version, p.Replaces = r.Path, r.Version, d.Path
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// goTagToSemver turns a Go toolchain version ("go1.22.1", "go1.21",
// "go1.21rc2", possibly followed by " X:…" experiments or a "-suffix") into
// the semantic version the Go vulnerability database uses for the standard
// library ("v1.22.1", "v1.21.0", "v1.21.0-rc.2"). It returns "" for
// development toolchains and other forms it does not know.
func goTagToSemver(tag string) string {
	tag, _, _ = strings.Cut(tag, " ")
	tag, _, _ = strings.Cut(tag, "-")
	v, ok := strings.CutPrefix(tag, "go")
	if !ok || v == "" {
		return ""
	}
	pre := ""
	for _, kw := range []string{"rc", "beta", "alpha"} {
		if i := strings.Index(v, kw); i > 0 {
			n := v[i+len(kw):]
			if !isDigits(n) {
				return ""
			}
			pre = "-" + kw + "." + n
			v = v[:i]
			break
		}
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return ""
	}
	for _, p := range parts {
		if !isDigits(p) {
			return ""
		}
	}
	if len(parts) == 2 {
		parts = append(parts, "0")
	}
	return "v" + strings.Join(parts, ".") + pre
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
