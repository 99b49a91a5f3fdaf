package inventory

import (
	"bytes"
	"strings"
)

// parseDpkgStatus parses a dpkg status file (var/lib/dpkg/status) or one
// file of var/lib/dpkg/status.d (as distroless images have) and returns
// its installed packages. A stanza whose Status field is present must be
// installed ("install ok installed", "hold ok installed"); stanzas of
// status.d files, which carry no Status field, count as installed when
// statusD is set. Unparseable lines are ignored.
func parseDpkgStatus(b []byte, statusD bool) []Package {
	var pkgs []Package
	forEachStanza(b, func(fields map[string]string) {
		name, version := fields["Package"], fields["Version"]
		if name == "" || version == "" {
			return
		}
		status, hasStatus := fields["Status"]
		if hasStatus || !statusD {
			f := strings.Fields(status)
			if len(f) != 3 || f[2] != "installed" {
				return
			}
		}
		p := Package{
			Name:          name,
			Version:       version,
			Kind:          KindDpkg,
			Arch:          fields["Architecture"],
			SourceName:    name,
			SourceVersion: version,
		}
		if src := fields["Source"]; src != "" {
			// "Source: glibc (2.36-9+deb12u4)" or "Source: zlib".
			n, v, ok := strings.Cut(src, " ")
			p.SourceName = n
			if ok {
				v = strings.TrimSpace(v)
				if strings.HasPrefix(v, "(") && strings.HasSuffix(v, ")") && len(v) > 2 {
					p.SourceVersion = strings.TrimSpace(v[1 : len(v)-1])
				}
			}
		}
		pkgs = append(pkgs, p)
	})
	return pkgs
}

// forEachStanza calls fn with the fields of each RFC 822-style stanza of b
// (dpkg status format: "Key: value" lines, continuation lines starting
// with a space or tab, stanzas separated by blank lines). Continuation
// lines are dropped: no field this package reads spans lines.
func forEachStanza(b []byte, fn func(map[string]string)) {
	fields := make(map[string]string)
	flush := func() {
		if len(fields) > 0 {
			fn(fields)
			fields = make(map[string]string)
		}
	}
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		fields[string(bytes.TrimSpace(k))] = string(bytes.TrimSpace(v))
	}
	flush()
}
