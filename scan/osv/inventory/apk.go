package inventory

import (
	"bytes"
)

// parseApkInstalled parses an apk database (lib/apk/db/installed): stanzas
// of one-letter fields separated by blank lines. It keeps P (name), V
// (version), A (architecture) and o (origin, the source package).
func parseApkInstalled(b []byte) []Package {
	var pkgs []Package
	var cur Package
	flush := func() {
		if cur.Name != "" && cur.Version != "" {
			cur.Kind = KindApk
			if cur.SourceName == "" {
				cur.SourceName = cur.Name
			}
			cur.SourceVersion = cur.Version
			pkgs = append(pkgs, cur)
		}
		cur = Package{}
	}
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			flush()
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			continue
		}
		v := string(bytes.TrimSpace(line[2:]))
		switch line[0] {
		case 'P':
			cur.Name = v
		case 'V':
			cur.Version = v
		case 'A':
			cur.Arch = v
		case 'o':
			cur.SourceName = v
		}
	}
	flush()
	return pkgs
}
