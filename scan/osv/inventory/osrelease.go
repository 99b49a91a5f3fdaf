package inventory

import (
	"bytes"
	"strconv"
	"strings"
)

// parseOSRelease parses an os-release file
// (https://www.freedesktop.org/software/systemd/man/latest/os-release.html):
// KEY=value lines, values optionally quoted with shell quoting. It returns
// nil when the file has no ID.
func parseOSRelease(b []byte) *OS {
	var os OS
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		v = unquoteOSRelease(strings.TrimSpace(v))
		switch strings.TrimSpace(k) {
		case "ID":
			os.ID = v
		case "VERSION_ID":
			os.VersionID = v
		case "VERSION_CODENAME":
			os.VersionCodename = v
		case "PRETTY_NAME":
			os.PrettyName = v
		case "VERSION":
			os.Version = v
		}
	}
	if os.ID == "" {
		return nil
	}
	return &os
}

func unquoteOSRelease(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		if v[0] == '"' {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
		}
		return v[1 : len(v)-1]
	}
	return v
}
