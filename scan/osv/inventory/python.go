package inventory

import (
	"bytes"
	"strings"
)

// isPythonMetadata reports whether dir/base is the metadata of an installed
// Python distribution: *.dist-info/METADATA, *.egg-info/PKG-INFO, or an
// *.egg-info file (the single-file form of the latter).
func isPythonMetadata(dir, base string) bool {
	switch {
	case base == "METADATA":
		return strings.HasSuffix(dir, ".dist-info")
	case base == "PKG-INFO":
		return strings.HasSuffix(dir, ".egg-info")
	}
	return strings.HasSuffix(base, ".egg-info")
}

// parsePythonMetadata reads the Name and Version fields of Python core
// metadata (https://packaging.python.org/en/latest/specifications/core-metadata/):
// an email-style header ended by a blank line. b may be a prefix of the
// file.
func parsePythonMetadata(b []byte) (Package, bool) {
	p := Package{Kind: KindPython, Ecosystem: EcosystemPyPI}
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // end of the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch strings.ToLower(string(bytes.TrimSpace(k))) {
		case "name":
			if p.Name == "" {
				p.Name = string(bytes.TrimSpace(v))
			}
		case "version":
			if p.Version == "" {
				p.Version = string(bytes.TrimSpace(v))
			}
		}
	}
	return p, p.Name != "" && p.Version != ""
}
